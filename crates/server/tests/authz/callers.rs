//! The callers: the columns of the matrix, and what each one holds.

use bodega_domain::BUILTIN_ROLES;

/// Who makes a request: the columns of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Anonymous,
    Admin,
    Manager,
    Employee,
    /// A user holding the custom role [`CUSTOM_ROLE`] (`customers:read`).
    Custom,
    /// An API key with `customers:read`.
    KeyCustomersRead,
    /// An API key with `suppliers:*`.
    KeySuppliersAll,
}

pub const CALLERS: [Who; 7] = [
    Who::Anonymous,
    Who::Admin,
    Who::Manager,
    Who::Employee,
    Who::Custom,
    Who::KeyCustomersRead,
    Who::KeySuppliersAll,
];

pub const CUSTOM_ROLE: &str = "customer-viewer";
pub const CUSTOM_ROLE_PERMISSIONS: &[&str] = &["customers:read"];
pub const KEY_CUSTOMERS_READ: &[&str] = &["customers:read"];
pub const KEY_SUPPLIERS_ALL: &[&str] = &["suppliers:*"];

impl Who {
    pub fn name(self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::Admin => "admin",
            Who::Manager => "manager",
            Who::Employee => "employee",
            Who::Custom => "custom role",
            Who::KeyCustomersRead => "key customers:read",
            Who::KeySuppliersAll => "key suppliers:*",
        }
    }

    /// A short column heading.
    pub fn column(self) -> &'static str {
        match self {
            Who::Anonymous => "anon",
            Who::Admin => "admin",
            Who::Manager => "mgr",
            Who::Employee => "empl",
            Who::Custom => "custom",
            Who::KeyCustomersRead => "key:c:r",
            Who::KeySuppliersAll => "key:s:*",
        }
    }

    /// The role of a signed-in caller.
    pub fn role(self) -> Option<&'static str> {
        match self {
            Who::Admin => Some("admin"),
            Who::Manager => Some("manager"),
            Who::Employee => Some("employee"),
            Who::Custom => Some(CUSTOM_ROLE),
            Who::Anonymous | Who::KeyCustomersRead | Who::KeySuppliersAll => None,
        }
    }

    pub fn is_api_key(self) -> bool {
        matches!(self, Who::KeyCustomersRead | Who::KeySuppliersAll)
    }

    /// What the caller holds, read from the role definitions.
    pub fn permissions(self) -> Vec<&'static str> {
        match self {
            Who::Anonymous => vec![],
            Who::Admin | Who::Manager | Who::Employee => {
                let name = self.role().expect("built-in role");
                BUILTIN_ROLES
                    .iter()
                    .find(|r| r.name == name)
                    .unwrap_or_else(|| panic!("no built-in role {name}"))
                    .permissions
                    .to_vec()
            }
            Who::Custom => CUSTOM_ROLE_PERMISSIONS.to_vec(),
            Who::KeyCustomersRead => KEY_CUSTOMERS_READ.to_vec(),
            Who::KeySuppliersAll => KEY_SUPPLIERS_ALL.to_vec(),
        }
    }
}
