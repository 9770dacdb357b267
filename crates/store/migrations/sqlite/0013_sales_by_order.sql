-- Kept in lock-step with ../postgres/0013_sales_by_order.sql.
-- An order's sale is read by `order_id`, first by id. SQLite's index on `order_id` already
-- ends with the rowid (the id), so this only keeps both schemas alike.
CREATE INDEX ix_sales_order_id ON sales (order_id, id);
DROP INDEX ix_sales_order;
