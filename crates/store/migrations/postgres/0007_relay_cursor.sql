-- Kept in lock-step with ../sqlite/0007_relay_cursor.sql.
-- How far the event relay has published, by relay name. On SQLite (one process, one writer,
-- ids assigned in commit order) the relay advances this cursor instead of stamping every
-- published row: one small update per batch instead of a rewrite of each event row on the
-- single writer. PostgreSQL keeps per-row published_at, which replicas claim with SKIP LOCKED.
CREATE TABLE outbox_cursor (
    name    TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL
);
