-- Kept in lock-step with ../postgres/0012_relay_position.sql.
-- On PostgreSQL the relay now reads past a position (tx, id) instead of stamping each event.
-- SQLite's ids are taken in commit order (one writer), so its relay keeps reading past the
-- last id: its events keep tx 0 and the position's index stays empty. The index of unpublished
-- events and `published_at` go: SQLite never stamped them, and the index cost a write per event.
ALTER TABLE outbox ADD COLUMN tx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox_cursor ADD COLUMN last_tx INTEGER NOT NULL DEFAULT 0;
DROP INDEX ix_outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
CREATE INDEX ix_outbox_position ON outbox (tx, id) WHERE tx > 0;
