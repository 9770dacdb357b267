-- Kept in lock-step with ../postgres/0008_forecast_scopes.sql.
-- Forecasts of a category (with its subcategories) and of a whole store or business, beside the
-- per-product ones (issue 5): product_id becomes optional and category_id names a category
-- forecast; with neither, the forecast is of every product (in one store when warehouse_id is
-- set). Accuracy records keep the store too.
-- SQLite cannot drop a NOT NULL constraint, so both tables are rebuilt. The child table is
-- dropped before its parent and the renames carry the foreign key along, so this runs with
-- foreign keys enforced.
CREATE TABLE forecasts_scoped (
    id              INTEGER PRIMARY KEY,
    product_id      BIGINT REFERENCES products (id),
    warehouse_id    BIGINT REFERENCES warehouses (id),
    granularity     TEXT NOT NULL CHECK (granularity IN ('daily', 'weekly')),
    horizon         BIGINT NOT NULL CHECK (horizon > 0),
    model           TEXT NOT NULL,
    first_period    TEXT NOT NULL,
    history_from    TEXT NOT NULL,
    points          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    category_id     BIGINT REFERENCES categories (id),
    CONSTRAINT forecasts_one_scope CHECK (product_id IS NULL OR category_id IS NULL)
);
INSERT INTO forecasts_scoped (id, product_id, warehouse_id, granularity, horizon, model, first_period, history_from, points, created_at)
SELECT id, product_id, warehouse_id, granularity, horizon, model, first_period, history_from, points, created_at FROM forecasts;

CREATE TABLE forecast_accuracy_scoped (
    forecast_id  BIGINT PRIMARY KEY REFERENCES forecasts_scoped (id),
    product_id   BIGINT REFERENCES products (id),
    category_id  BIGINT REFERENCES categories (id),
    granularity  TEXT NOT NULL,
    periods      BIGINT NOT NULL,
    metrics      TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    warehouse_id BIGINT REFERENCES warehouses (id)
);
INSERT INTO forecast_accuracy_scoped (forecast_id, product_id, category_id, granularity, periods, metrics, computed_at, warehouse_id)
SELECT a.forecast_id, a.product_id, a.category_id, a.granularity, a.periods, a.metrics, a.computed_at, f.warehouse_id
FROM forecast_accuracy a JOIN forecasts f ON f.id = a.forecast_id;

DROP TABLE forecast_accuracy;
DROP TABLE forecasts;
ALTER TABLE forecasts_scoped RENAME TO forecasts;
ALTER TABLE forecast_accuracy_scoped RENAME TO forecast_accuracy;
CREATE INDEX ix_forecasts_product ON forecasts (product_id, id);
CREATE INDEX ix_forecasts_category ON forecasts (category_id, id);
CREATE INDEX ix_forecast_accuracy_product ON forecast_accuracy (product_id, computed_at);
CREATE INDEX ix_forecast_accuracy_category ON forecast_accuracy (category_id, computed_at);
