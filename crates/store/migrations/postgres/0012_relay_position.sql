-- Kept in lock-step with ../sqlite/0012_relay_position.sql.
-- The relay no longer stamps every event it publishes (a rewrite of ≈ 11 rows and their index
-- entries per order on PostgreSQL). Each event records the transaction that wrote it (`tx`, a
-- 64-bit transaction id), and the relay keeps one position (`last_tx`, `last_id`) and reads
-- past it in (tx, id) order, only events of transactions below its fence (`outbox_fence()`).
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

-- A fence for the relay's statement: every transaction with a lower id has ended, so its
-- events, if it committed, are visible to the statement, and no event can later appear below
-- it (a transaction still running has an id at least the fence, and one that starts later gets
-- a higher id). The snapshot's xmin is such a fence, but a long transaction in another
-- database of the server holds it back. This one is the lowest id among the transactions
-- running at the statement's snapshot, leaving out those the server's activity (read after
-- the snapshot) shows still running in another database; the snapshot's xmax when none is
-- left. A transaction that ended before that look is kept in, which only makes the fence
-- lower. Reading the activity costs a fraction of a millisecond, so the relay uses the xmin
-- and turns to this one only when events have waited behind it (crates/events).
CREATE FUNCTION outbox_fence() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x
    WHERE x::text::bigint % 4294967296 NOT IN (
        SELECT a.backend_xid::text::bigint FROM pg_stat_get_activity(NULL) AS a
        WHERE a.backend_xid IS NOT NULL
          AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;
