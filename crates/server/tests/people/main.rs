//! HTTP tests of the people endpoints (`/api/customers`, `/api/employees`, `/api/suppliers`):
//! life cycle and audit, search and paging, Chilean RUT handling, validation, and bad input of
//! every kind. Every test runs on SQLite and on PostgreSQL.
//!
//! A test binary of its own, sharing the harness of `tests/api`.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod common;

mod bad_input;
mod crud;
mod rut;
mod search;
mod validation;
