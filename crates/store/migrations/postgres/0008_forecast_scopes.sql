-- Kept in lock-step with ../sqlite/0008_forecast_scopes.sql.
-- Forecasts of a category (with its subcategories) and of a whole store or business, beside the
-- per-product ones (issue 5): product_id becomes optional and category_id names a category
-- forecast; with neither, the forecast is of every product (in one store when warehouse_id is
-- set). Accuracy records keep the store too.
ALTER TABLE forecasts
    ALTER COLUMN product_id DROP NOT NULL,
    ADD COLUMN category_id BIGINT REFERENCES categories (id),
    ADD CONSTRAINT forecasts_one_scope CHECK (product_id IS NULL OR category_id IS NULL);
CREATE INDEX ix_forecasts_category ON forecasts (category_id, id);

ALTER TABLE forecast_accuracy
    ALTER COLUMN product_id DROP NOT NULL,
    ADD COLUMN warehouse_id BIGINT REFERENCES warehouses (id);
UPDATE forecast_accuracy a SET warehouse_id = f.warehouse_id FROM forecasts f WHERE f.id = a.forecast_id;
