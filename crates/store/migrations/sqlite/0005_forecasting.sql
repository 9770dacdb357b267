-- Kept in lock-step with ../postgres/0005_forecasting.sql.
-- Demand forecasts (issue 5): every forecast served is stored with its model and intervals, so
-- that its accuracy can be measured when the actuals arrive.
CREATE TABLE forecasts (
    id              INTEGER PRIMARY KEY,
    product_id      BIGINT NOT NULL REFERENCES products (id),
    -- NULL: every store together.
    warehouse_id    BIGINT REFERENCES warehouses (id),
    granularity     TEXT NOT NULL CHECK (granularity IN ('daily', 'weekly')),
    horizon         BIGINT NOT NULL CHECK (horizon > 0),
    model           TEXT NOT NULL,
    -- First day of the first forecast period, and of the history used.
    first_period    TEXT NOT NULL,
    history_from    TEXT NOT NULL,
    -- JSON: [{"period", "mean", "lower80", "upper80", "lower95", "upper95"}, …]
    points          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX ix_forecasts_product ON forecasts (product_id, id);

-- Accuracy of a stored forecast once all its periods have passed (JSON metrics: mape, smape,
-- mase, wape, bias, relative_bias), kept per product and category over time.
CREATE TABLE forecast_accuracy (
    forecast_id  BIGINT PRIMARY KEY REFERENCES forecasts (id),
    product_id   BIGINT NOT NULL REFERENCES products (id),
    category_id  BIGINT REFERENCES categories (id),
    granularity  TEXT NOT NULL,
    periods      BIGINT NOT NULL,
    metrics      TEXT NOT NULL,
    computed_at  TEXT NOT NULL
);
CREATE INDEX ix_forecast_accuracy_product ON forecast_accuracy (product_id, computed_at);
CREATE INDEX ix_forecast_accuracy_category ON forecast_accuracy (category_id, computed_at);

-- Replenishment settings per product for reorder advice (defaults apply without a row).
CREATE TABLE replenishment_settings (
    product_id      BIGINT PRIMARY KEY REFERENCES products (id),
    lead_time_days  BIGINT NOT NULL CHECK (lead_time_days >= 0),
    review_days     BIGINT NOT NULL CHECK (review_days >= 0),
    min_order_qty   BIGINT NOT NULL CHECK (min_order_qty >= 0),
    pack_size       BIGINT NOT NULL CHECK (pack_size >= 1),
    updated_at      TEXT NOT NULL
);
