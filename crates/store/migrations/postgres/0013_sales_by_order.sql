-- Kept in lock-step with ../sqlite/0013_sales_by_order.sql.
-- An order's sale is read as `… WHERE order_id = $1 ORDER BY id LIMIT 1` (every read of a
-- shipped order). With the index on `order_id` alone the planner may instead walk the primary
-- key in id order, filtering on the order: every sale older than the one sought is read, and
-- it does so whenever the table has no statistics yet (a new database, autovacuum off). With
-- the id in the index, one index probe answers in either case.
CREATE INDEX ix_sales_order_id ON sales (order_id, id);
DROP INDEX ix_sales_order;
