//! One module per area of the API; each owns its `router()`, merged in [`crate::app`].

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod people;
pub mod roles;
pub mod system;
pub mod users;
