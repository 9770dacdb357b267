-- Kept in lock-step with ../sqlite/0003_outbox_unpublished_index.sql.
-- The relay only ever looks for unpublished events: a partial index holds just those, so it
-- stays small, and marking events published removes entries instead of rewriting them.
DROP INDEX ix_outbox_unpublished;
CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
