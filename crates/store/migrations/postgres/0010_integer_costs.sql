-- Kept in step with ../sqlite/0010_integer_costs.sql, which turns average costs that SQLite
-- stored as REAL after a 64-bit overflow back into integers. PostgreSQL refused the overflow
-- (bigint out of range) instead, so it has nothing to repair.
SELECT 1;
