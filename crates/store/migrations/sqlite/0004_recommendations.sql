-- Kept in lock-step with ../postgres/0004_recommendations.sql.
-- Recommendations (issue 4, seeds 000 and 003).

-- Explicit interactions from the ML contract (views, likes, carts, purchases outside the ERP).
-- Sales are not copied here: training reads them from sales and sale_items. user_ref is the
-- caller's user id as given (the seed's client sends strings); customer_id is set when it
-- names a customer.
CREATE TABLE interactions (
    id          INTEGER PRIMARY KEY,
    user_ref    TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    product_id  BIGINT NOT NULL REFERENCES products (id),
    kind        TEXT NOT NULL CHECK (kind IN ('view', 'like', 'cart', 'purchase')),
    occurred_at TEXT NOT NULL
);
CREATE INDEX ix_interactions_occurred ON interactions (occurred_at);

-- The recommendation made for each sale, as shown at the till (JSON array of ranked items).
CREATE TABLE sale_recommendations (
    sale_id       BIGINT PRIMARY KEY REFERENCES sales (id),
    model_version BIGINT NOT NULL,
    items         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- Every training run: what it was trained on, with which settings, and how it scored. The
-- artifact is the model's neighbour lists (JSON), so a restart serves the same model.
CREATE TABLE recommendation_models (
    id          INTEGER PRIMARY KEY,
    version     BIGINT NOT NULL,
    trained_at  TEXT NOT NULL,
    config      TEXT NOT NULL,
    metrics     TEXT NOT NULL,
    products    BIGINT NOT NULL,
    customers   BIGINT NOT NULL,
    baskets     BIGINT NOT NULL,
    train_ms    BIGINT NOT NULL,
    artifact    TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_recommendation_models_version ON recommendation_models (version);
