-- Kept in lock-step with ../postgres/0003_partial_indexes.sql.
-- The relay only ever looks for unpublished events: a partial index holds just those, so it
-- stays small, and marking events published removes entries instead of rewriting them.
DROP INDEX ix_outbox_unpublished;
CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Only active reservations with an expiry are ever looked up by expiry (the expiry job); order
-- reservations have none, so they no longer enter the index nor move in it when committed.
DROP INDEX ix_reservations_expiry;
CREATE INDEX ix_reservations_expiry ON reservations (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
