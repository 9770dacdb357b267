-- PostgreSQL only (SQLite keeps its foreign keys: it takes no row locks for them).
-- Reservations and stock movements reference their stock level (product, warehouse) instead of
-- the product and the warehouse. A foreign-key check takes a KEY SHARE lock on the row it
-- finds: on products and warehouses those are hot rows (every order of the warehouse), so
-- concurrent transactions share their locks through MultiXacts. The level row is the one the
-- same transaction has just updated (locked FOR NO KEY UPDATE, which covers KEY SHARE), so the
-- check takes no new lock. Integrity is kept: a level references its product and warehouse.
--
-- Every writer creates the level before its first movement or reservation, so existing rows
-- already have one; a row without one (drift) gets an empty level, which `bodega check` then
-- reports, rather than failing the migration.
INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, avg_cost, updated_at)
SELECT product_id, warehouse_id, 0, 0, 0, now()
FROM (SELECT product_id, warehouse_id FROM stock_movements
      UNION SELECT product_id, warehouse_id FROM reservations) used
ON CONFLICT (product_id, warehouse_id) DO NOTHING;

ALTER TABLE stock_movements
    ADD CONSTRAINT stock_movements_level_fkey FOREIGN KEY (product_id, warehouse_id)
        REFERENCES stock_levels (product_id, warehouse_id),
    DROP CONSTRAINT stock_movements_product_id_fkey,
    DROP CONSTRAINT stock_movements_warehouse_id_fkey;

ALTER TABLE reservations
    ADD CONSTRAINT reservations_level_fkey FOREIGN KEY (product_id, warehouse_id)
        REFERENCES stock_levels (product_id, warehouse_id),
    DROP CONSTRAINT reservations_product_id_fkey,
    DROP CONSTRAINT reservations_warehouse_id_fkey;
