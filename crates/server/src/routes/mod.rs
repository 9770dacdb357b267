//! One module per area of the API; each owns its `router()`, merged in [`crate::app`].

pub mod alerts;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod forecasting;
pub mod imports;
pub mod jobs;
pub mod orders;
pub mod people;
pub mod recommendations;
pub mod roles;
pub mod sales;
pub mod stock;
pub mod system;
pub mod users;
