#![allow(clippy::unwrap_used)]
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

// HTTP tests of the ERP core (catalogue, stock ledger, reservations, orders saga, POS, alerts,
// reorders, sales statistics, outbox, audit), each on SQLite and on PostgreSQL. Every
// expectation is computed by hand in the test; every test ends by checking that the stock
// ledger has no drift (`bodega_store::stock::drift`).

mod alerts;
mod analytics;
mod audit;
mod catalog;
mod common;
mod events;
mod forecasting;
mod limits;
mod orders;
mod outbox;
mod recommendations;
mod reorders;
mod reservations;
mod returns;
mod sales;
mod stock;
