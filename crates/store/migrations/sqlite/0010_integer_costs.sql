-- An average cost whose product with the units on hand passed 64 bits was computed in floating
-- point by SQLite and stored as REAL, which the store cannot read back as an integer. The
-- average is now computed without overflow (store::stock); this turns any such value back into
-- an integer, where the sale items and movements that copied it too. Kept in step with
-- ../postgres/0010_integer_costs.sql (PostgreSQL refused the overflow instead).
UPDATE stock_levels SET avg_cost = CAST(avg_cost AS INTEGER) WHERE typeof(avg_cost) = 'real';
UPDATE sale_items SET unit_cost = CAST(unit_cost AS INTEGER) WHERE typeof(unit_cost) = 'real';
UPDATE stock_movements SET unit_cost = CAST(unit_cost AS INTEGER) WHERE typeof(unit_cost) = 'real';
