//! Permissions are `resource:action` strings. A role holds a set of them; `resource:*` grants
//! every action on a resource and `*` grants everything. The catalogue below is the single list
//! of what exists, so a custom role cannot name a permission that nothing checks.

use std::collections::BTreeSet;
use std::fmt;

use crate::ValidationError;

/// Every resource that an endpoint guards, with the actions that apply to it.
pub const CATALOGUE: &[(&str, &[&str])] = &[
    ("users", &["read", "create", "update", "delete"]),
    ("roles", &["read", "create", "update", "delete"]),
    ("api_keys", &["read", "create", "delete"]),
    ("audit", &["read"]),
    ("customers", &["read", "create", "update", "delete"]),
    ("employees", &["read", "create", "update", "delete"]),
    ("suppliers", &["read", "create", "update", "delete"]),
    ("products", &["read", "create", "update", "delete"]),
    ("categories", &["read", "create", "update", "delete"]),
    ("warehouses", &["read", "create", "update", "delete"]),
    ("stock", &["read", "create"]),
    ("orders", &["read", "create", "update"]),
    ("sales", &["read", "create"]),
    ("alerts", &["read", "update"]),
    ("reorders", &["read", "create", "update"]),
    ("imports", &["create"]),
    ("analytics", &["read"]),
    ("forecasts", &["read", "create"]),
    ("ml", &["read", "create", "update"]),
    ("chatbot", &["create"]),
    ("jobs", &["read", "create"]),
];

/// One granted permission: a resource (or `*`) and an action (or `*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    resource: String,
    action: String,
}

impl Permission {
    /// Parses `customers:read`, `customers:*` or `*`, rejecting anything not in the catalogue.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "permissions";
        let raw = raw.trim();
        if raw == "*" {
            return Ok(Self {
                resource: "*".into(),
                action: "*".into(),
            });
        }
        let (resource, action) = raw
            .split_once(':')
            .ok_or_else(|| ValidationError::new(field, format!("'{raw}' is not of the form resource:action")))?;
        let actions = CATALOGUE
            .iter()
            .find(|(r, _)| *r == resource)
            .map(|(_, a)| *a)
            .ok_or_else(|| ValidationError::new(field, format!("unknown resource '{resource}'")))?;
        if action != "*" && !actions.contains(&action) {
            return Err(ValidationError::new(
                field,
                format!("unknown action '{action}' for resource '{resource}'"),
            ));
        }
        Ok(Self {
            resource: resource.into(),
            action: action.into(),
        })
    }

    /// A permission named in code (`"customers:read"`); the name must be in the catalogue.
    pub fn named(resource: &str, action: &str) -> Self {
        Self {
            resource: resource.into(),
            action: action.into(),
        }
    }

    pub fn grants(&self, resource: &str, action: &str) -> bool {
        (self.resource == "*" || self.resource == resource) && (self.action == "*" || self.action == action)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resource == "*" {
            f.write_str("*")
        } else {
            write!(f, "{}:{}", self.resource, self.action)
        }
    }
}

/// The permissions held by a role or an API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub fn parse_all<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        raw.iter()
            .map(|p| Permission::parse(p.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Reads the stored form (space-separated) written by [`PermissionSet::to_storage`]. Entries
    /// that no longer parse (a permission retired from the catalogue) are dropped, not fatal.
    pub fn from_storage(stored: &str) -> Self {
        Self(
            stored
                .split_whitespace()
                .filter_map(|p| Permission::parse(p).ok())
                .collect(),
        )
    }

    pub fn to_storage(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.0.iter().any(|p| p.grants(resource, action))
    }

    /// True when every permission in `other` is granted by `self`: a user can only hand out
    /// (to an API key or a custom role) what they hold themselves.
    pub fn covers(&self, other: &PermissionSet) -> bool {
        other.0.iter().all(|p| {
            if p.resource == "*" {
                return self.allows("*", "*") && self.0.iter().any(|q| q.resource == "*" && q.action == "*");
            }
            if p.action == "*" {
                let actions = CATALOGUE
                    .iter()
                    .find(|(r, _)| *r == p.resource)
                    .map(|(_, a)| *a)
                    .unwrap_or(&[]);
                return actions.iter().all(|a| self.allows(&p.resource, a));
            }
            self.allows(&p.resource, &p.action)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A role that exists from the first migration on and cannot be edited or deleted.
pub struct BuiltinRole {
    pub name: &'static str,
    pub description: &'static str,
    pub permissions: &'static [&'static str],
}

pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "admin",
        description: "Everything, including users, roles, API keys and the audit log",
        permissions: &["*"],
    },
    BuiltinRole {
        name: "manager",
        description: "Runs the shop: people, catalogue, stock, sales, analytics; no user administration",
        permissions: &[
            "customers:*",
            "employees:*",
            "suppliers:*",
            "products:*",
            "categories:*",
            "warehouses:*",
            "stock:*",
            "orders:*",
            "sales:*",
            "alerts:*",
            "reorders:*",
            "imports:*",
            "analytics:*",
            "forecasts:*",
            "ml:*",
            "chatbot:*",
            "jobs:read",
        ],
    },
    BuiltinRole {
        name: "employee",
        description: "Serves customers at the till: customers, sales and stock look-ups",
        permissions: &[
            "customers:read",
            "customers:create",
            "customers:update",
            "suppliers:read",
            "products:read",
            "categories:read",
            "warehouses:read",
            "stock:read",
            "orders:read",
            "orders:create",
            "orders:update",
            "sales:read",
            "sales:create",
            "alerts:read",
            "ml:read",
            "chatbot:create",
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_only_name_catalogue_permissions() {
        for role in BUILTIN_ROLES {
            PermissionSet::parse_all(role.permissions).unwrap();
        }
    }

    #[test]
    fn wildcards_grant() {
        let set = PermissionSet::parse_all(&["customers:*", "audit:read"]).unwrap();
        assert!(set.allows("customers", "delete"));
        assert!(set.allows("audit", "read"));
        assert!(!set.allows("users", "read"));
        assert!(PermissionSet::parse_all(&["*"]).unwrap().allows("users", "delete"));
    }

    #[test]
    fn unknown_permissions_are_rejected() {
        assert!(Permission::parse("customers").is_err());
        assert!(Permission::parse("nothing:read").is_err());
        assert!(Permission::parse("audit:delete").is_err());
    }

    #[test]
    fn storage_round_trips() {
        let set = PermissionSet::parse_all(&["suppliers:read", "customers:*"]).unwrap();
        assert_eq!(PermissionSet::from_storage(&set.to_storage()), set);
    }

    #[test]
    fn covers_checks_delegation() {
        let manager = PermissionSet::parse_all(&["customers:*", "suppliers:read"]).unwrap();
        assert!(manager.covers(&PermissionSet::parse_all(&["customers:read", "customers:*"]).unwrap()));
        assert!(!manager.covers(&PermissionSet::parse_all(&["suppliers:*"]).unwrap()));
        assert!(!manager.covers(&PermissionSet::parse_all(&["*"]).unwrap()));
        let admin = PermissionSet::parse_all(&["*"]).unwrap();
        assert!(admin.covers(&PermissionSet::parse_all(&["*", "users:delete"]).unwrap()));
    }
}
