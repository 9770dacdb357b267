-- SQLite only: PostgreSQL keeps ix_reservations_item (see below).
-- Reservations are looked up by product and warehouse only while active (the ledger check sums
-- them against each level's `reserved`). Indexing every reservation by product put each
-- confirm's and each ship's lines on as many scattered index pages, each written again to the
-- WAL by every commit that touched it: a quarter of the WAL pages of the order benchmark
-- (docs/BENCHMARKS.md, session 18). Indexed while active only, the index holds the open
-- reservations: a few pages.
-- PostgreSQL logs changed rows, not pages, so it has nothing of the kind to gain; and there a
-- committed reservation's old row version stays in a partial index until a vacuum, and with
-- no statistics (autovacuum off) the planner picks the partial index over ix_reservations_order
-- for the ship's `order_id = ANY(…) AND status = 'active'`, reading every entry left behind.
CREATE INDEX ix_reservations_active ON reservations (product_id, warehouse_id) WHERE status = 'active';
DROP INDEX ix_reservations_item;
