-- Kept in lock-step with ../sqlite/0015_sale_payment_method.sql (0015 on both: sqlite/0014 is
-- SQLite's only, postgres has no 0014).
-- How a sale was paid (seed 003's "método de pago"): set by the till, imported from a sales
-- CSV, reconciled against the cash drawer. NULL is "not recorded": imported history without
-- the column, sales of shipped orders (an order carries a payment status, not a method), and
-- every sale written before this migration. The values are store::sales::PAYMENT_METHODS.
ALTER TABLE sales ADD COLUMN payment_method TEXT
    CHECK (payment_method IN ('cash', 'card', 'transfer', 'credit', 'voucher', 'other'));
