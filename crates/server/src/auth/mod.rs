//! Authentication (who is calling: a bearer access token or an `x-api-key`) and authorization
//! (what they may do: `resource:action` permissions checked by every handler).

pub mod caller;
pub mod known;
pub mod limiter;
pub mod password;
pub mod tokens;

pub use caller::Caller;
