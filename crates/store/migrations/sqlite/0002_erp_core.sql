-- ERP core: catalogue, stock ledger, reservations, orders, sales, alerts, reorder requests,
-- imports and the event outbox. Kept in lock-step with ../postgres/0002_erp_core.sql.

CREATE TABLE warehouses (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT 'warehouse' CHECK (kind IN ('warehouse', 'store')),
    address    TEXT,
    is_active  BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_warehouses_code ON warehouses (code);

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    parent_id  BIGINT REFERENCES categories (id),
    path       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_categories_path ON categories (path);
CREATE INDEX ix_categories_parent ON categories (parent_id);

CREATE TABLE products (
    id                  INTEGER PRIMARY KEY,
    sku                 TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    category_id         BIGINT REFERENCES categories (id),
    supplier_id         BIGINT REFERENCES suppliers (id),
    price               BIGINT NOT NULL CHECK (price >= 0),
    cost                BIGINT NOT NULL DEFAULT 0 CHECK (cost >= 0),
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'discontinued')),
    keywords            TEXT NOT NULL DEFAULT '',
    image_url           TEXT,
    low_stock_threshold BIGINT NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    attributes          TEXT NOT NULL DEFAULT '{}',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT
);
CREATE UNIQUE INDEX ux_products_sku ON products (sku);
CREATE INDEX ix_products_category ON products (category_id);
CREATE INDEX ix_products_name ON products (name);

-- One row per product and warehouse. on_hand always equals the sum of the movements of that
-- pair; reserved always equals the sum of its active reservations. Both are written only in
-- the transaction that writes the movement or reservation. The CHECKs make overselling
-- impossible even if code were wrong: available = on_hand - reserved never goes below zero.
CREATE TABLE stock_levels (
    product_id   BIGINT NOT NULL REFERENCES products (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    on_hand      BIGINT NOT NULL DEFAULT 0,
    reserved     BIGINT NOT NULL DEFAULT 0,
    avg_cost     BIGINT NOT NULL DEFAULT 0,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (product_id, warehouse_id),
    CONSTRAINT ck_stock_levels_reserved CHECK (reserved >= 0),
    CONSTRAINT ck_stock_levels_available CHECK (on_hand - reserved >= 0)
);
CREATE INDEX ix_stock_levels_warehouse ON stock_levels (warehouse_id);

CREATE TABLE stock_movements (
    id             INTEGER PRIMARY KEY,
    product_id     BIGINT NOT NULL REFERENCES products (id),
    warehouse_id   BIGINT NOT NULL REFERENCES warehouses (id),
    kind           TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'adjustment', 'transfer_out', 'transfer_in', 'return', 'sale', 'opening')),
    quantity       BIGINT NOT NULL CHECK (quantity <> 0),
    unit_cost      BIGINT,
    balance_after  BIGINT NOT NULL,
    reference_type TEXT,
    reference_id   TEXT,
    note           TEXT,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX ix_stock_movements_item ON stock_movements (product_id, warehouse_id, id);
CREATE INDEX ix_stock_movements_created ON stock_movements (created_at);
CREATE INDEX ix_stock_movements_reference ON stock_movements (reference_type, reference_id);

CREATE TABLE reservations (
    id           INTEGER PRIMARY KEY,
    product_id   BIGINT NOT NULL REFERENCES products (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    status       TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
    order_id     BIGINT,
    reference    TEXT,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX ix_reservations_item ON reservations (product_id, warehouse_id, status);
CREATE INDEX ix_reservations_order ON reservations (order_id);
CREATE INDEX ix_reservations_expiry ON reservations (status, expires_at);

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    customer_id      BIGINT REFERENCES customers (id),
    warehouse_id     BIGINT NOT NULL REFERENCES warehouses (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'processing', 'shipped', 'delivered', 'completed', 'cancelled', 'returned')),
    payment_status   TEXT NOT NULL DEFAULT 'unpaid' CHECK (payment_status IN ('unpaid', 'paid', 'refunded')),
    idempotency_key  TEXT,
    request_hash     TEXT,
    customer_name    TEXT,
    customer_email   TEXT,
    subtotal         BIGINT NOT NULL,
    discount         BIGINT NOT NULL DEFAULT 0,
    total            BIGINT NOT NULL,
    notes            TEXT,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    confirmed_at     TEXT,
    shipped_at       TEXT,
    delivered_at     TEXT,
    completed_at     TEXT,
    cancelled_at     TEXT,
    returned_at      TEXT
);
CREATE UNIQUE INDEX ux_orders_idempotency_key ON orders (idempotency_key);
CREATE INDEX ix_orders_status ON orders (status);
CREATE INDEX ix_orders_customer ON orders (customer_id);

CREATE TABLE order_items (
    id           INTEGER PRIMARY KEY,
    order_id     BIGINT NOT NULL REFERENCES orders (id),
    product_id   BIGINT NOT NULL REFERENCES products (id),
    sku          TEXT NOT NULL,
    product_name TEXT NOT NULL,
    unit_price   BIGINT NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    line_total   BIGINT NOT NULL
);
CREATE INDEX ix_order_items_order ON order_items (order_id);

CREATE TABLE sales (
    id           INTEGER PRIMARY KEY,
    order_id     BIGINT REFERENCES orders (id),
    warehouse_id BIGINT REFERENCES warehouses (id),
    customer_id  BIGINT REFERENCES customers (id),
    channel      TEXT NOT NULL CHECK (channel IN ('pos', 'order', 'import')),
    external_ref TEXT,
    historical   BOOLEAN NOT NULL DEFAULT FALSE,
    discount     BIGINT NOT NULL DEFAULT 0,
    total        BIGINT NOT NULL,
    items_count  BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    sold_at      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX ix_sales_sold_at ON sales (sold_at);
CREATE INDEX ix_sales_customer ON sales (customer_id);
CREATE INDEX ix_sales_order ON sales (order_id);
CREATE UNIQUE INDEX ux_sales_external_ref ON sales (external_ref);

CREATE TABLE sale_items (
    id           INTEGER PRIMARY KEY,
    sale_id      BIGINT NOT NULL REFERENCES sales (id),
    product_id   BIGINT NOT NULL REFERENCES products (id),
    sku          TEXT NOT NULL,
    product_name TEXT NOT NULL,
    unit_price   BIGINT NOT NULL,
    unit_cost    BIGINT NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    line_total   BIGINT NOT NULL
);
CREATE INDEX ix_sale_items_sale ON sale_items (sale_id);
CREATE INDEX ix_sale_items_product ON sale_items (product_id);

CREATE TABLE stock_alerts (
    id              INTEGER PRIMARY KEY,
    product_id      BIGINT NOT NULL REFERENCES products (id),
    warehouse_id    BIGINT NOT NULL REFERENCES warehouses (id),
    product_name    TEXT NOT NULL,
    current_stock   BIGINT NOT NULL,
    threshold       BIGINT NOT NULL,
    alert_message   TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at      TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at     TEXT
);
CREATE UNIQUE INDEX ux_stock_alerts_open ON stock_alerts (product_id, warehouse_id) WHERE status = 'open';
CREATE INDEX ix_stock_alerts_status ON stock_alerts (status, created_at);
CREATE INDEX ix_stock_alerts_item ON stock_alerts (product_id, warehouse_id);

CREATE TABLE reorder_requests (
    id           INTEGER PRIMARY KEY,
    product_id   BIGINT NOT NULL REFERENCES products (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    supplier_id  BIGINT REFERENCES suppliers (id),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    unit_cost    BIGINT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'ordered', 'received', 'cancelled')),
    note         TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    ordered_at   TEXT,
    received_at  TEXT,
    cancelled_at TEXT
);
CREATE INDEX ix_reorder_requests_status ON reorder_requests (status);

-- Domain events, written in the transaction of the change (transactional outbox) and
-- published afterwards by the relay; nothing is lost if the process dies in between.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    event_key    TEXT,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT
);
CREATE UNIQUE INDEX ux_outbox_event_id ON outbox (event_id);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, id);

-- The id a customer has in an outside system (an imported CSV), for idempotent re-imports.
ALTER TABLE customers ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX ux_customers_external_ref ON customers (external_ref);
