//! Pure types and rules of the Bodega domain. Nothing here does I/O: every type validates its
//! input once, at the edge, so the rest of the system only ever holds valid values.

pub mod email;
pub mod error;
pub mod limits;
pub mod order;
pub mod paging;
pub mod permission;
pub mod rut;
pub mod stock;

pub use email::Email;
pub use error::ValidationError;
pub use order::{OrderAction, OrderStatus};
pub use paging::{Page, PageRequest};
pub use permission::{Permission, PermissionSet, BUILTIN_ROLES};
pub use rut::Rut;
pub use stock::MovementKind;
