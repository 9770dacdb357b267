-- Kept in lock-step with ../postgres/0011_order_revisions.sql.
-- A pending order can be changed (PUT /api/orders/{id}): its items are replaced. `revision`
-- counts the changes, and each item carries the revision it was written for. A saga step on
-- PostgreSQL locks the order row (the latest version) but reads its items as of its statement's
-- snapshot; an item of another revision than its order's tells the step that a change committed
-- in between, and it reads the items again.
ALTER TABLE orders ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_items ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
