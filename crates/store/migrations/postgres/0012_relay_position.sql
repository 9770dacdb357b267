-- Kept in lock-step with ../sqlite/0012_relay_position.sql.
-- The relay no longer stamps every event it publishes (a rewrite of ≈ 11 rows and their index
-- entries per order on PostgreSQL). Each event records the transaction that wrote it (`tx`, a
-- 64-bit transaction id), and the relay keeps one position (`last_tx`, `last_id`) and reads
-- past it in (tx, id) order, only events of transactions older than every transaction still
-- running (the snapshot's xmin). No event can later appear behind that position: a running
-- transaction's id is at least the xmin, and one that starts later gets a higher id.
-- Existing events: the published keep tx 0, behind the position; the rest get tx 1, ahead of it.
-- `published_at` goes: nothing stamps it any more.
ALTER TABLE outbox ADD COLUMN tx BIGINT;
UPDATE outbox SET tx = CASE WHEN published_at IS NULL THEN 1 ELSE 0 END;
ALTER TABLE outbox ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint),
                   ALTER COLUMN tx SET NOT NULL;
ALTER TABLE outbox_cursor ADD COLUMN last_tx BIGINT NOT NULL DEFAULT 0;
INSERT INTO outbox_cursor (name, last_tx, last_id)
    SELECT 'relay', 0, COALESCE(MAX(id), 0) FROM outbox WHERE published_at IS NOT NULL
    ON CONFLICT (name) DO NOTHING;
DROP INDEX ix_outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
CREATE INDEX ix_outbox_position ON outbox (tx, id) WHERE tx > 0;
