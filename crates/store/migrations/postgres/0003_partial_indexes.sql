-- Kept in lock-step with ../sqlite/0003_partial_indexes.sql.
-- The relay only ever looks for unpublished events: a partial index holds just those, so it
-- stays small, and marking events published removes entries instead of rewriting them.
DROP INDEX ix_outbox_unpublished;
CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Only active reservations with an expiry are ever looked up by expiry (the expiry job); order
-- reservations have none, so they no longer enter the index nor move in it when committed.
DROP INDEX ix_reservations_expiry;
CREATE INDEX ix_reservations_expiry ON reservations (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

-- Keys that most rows do not have (an order's Idempotency-Key, an imported sale's source
-- document) are indexed only where present. Event ids are v7 UUIDs made by the writer and
-- never looked up in the database (consumers deduplicate on them), so they need no index.
DROP INDEX ux_orders_idempotency_key;
CREATE UNIQUE INDEX ux_orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX ux_sales_external_ref;
CREATE UNIQUE INDEX ux_sales_external_ref ON sales (external_ref) WHERE external_ref IS NOT NULL;
DROP INDEX ux_outbox_event_id;
