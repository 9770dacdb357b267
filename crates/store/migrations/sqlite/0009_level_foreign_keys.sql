-- Kept in step with ../postgres/0009_level_foreign_keys.sql, which has reservations and stock
-- movements reference their stock level instead of the product and the warehouse, so that
-- PostgreSQL's foreign-key checks stop locking the hot product and warehouse rows. SQLite takes
-- no row locks for foreign keys (one writer): its tables keep their foreign keys as they are.
SELECT 1;
