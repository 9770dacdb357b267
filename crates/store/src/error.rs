/// What can go wrong in storage, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; `field` names the column when it can be told.
    #[error("{field} is already taken")]
    Conflict { field: String },
    /// A rule of the data was broken (a referenced row is missing, a row is still in use).
    #[error("{message}")]
    Rule { field: Option<String>, message: String },
    /// The database refused a value as out of its range (a character it cannot store, a number
    /// past 64 bits): the request's input, so a 422.
    #[error("{0}")]
    OutOfRange(String),
    /// Not enough available stock for one or more lines; nothing was changed.
    #[error("insufficient stock")]
    Insufficient(Vec<Shortage>),
    /// The record is not in a state that allows the operation (an illegal order transition,
    /// a reservation already committed).
    #[error("{0}")]
    State(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration: {0}")]
    Migrate(String),
    #[error(transparent)]
    Database(Box<dyn std::error::Error + Send + Sync>),
}

/// One line that cannot be served from stock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Shortage {
    pub product_id: i64,
    /// The product's sku and name, so that a till or a client can name the short line.
    pub sku: String,
    pub product_name: String,
    pub warehouse_id: i64,
    pub requested: i64,
    pub available: i64,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                field: unique_field(db.constraint(), db.table(), db.message()),
            },
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Rule {
                field: None,
                message: "a referenced record does not exist or the record is still referenced".into(),
            },
            // Safety nets: the API's checks keep these out, so one means a check is missing.
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
                out_of_range("text holds a character the database cannot store")
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22003") => {
                out_of_range("a number is out of the range the database stores")
            }
            _ => StoreError::Database(Box::new(err)),
        }
    }
}

/// A value the database refused as out of its range (see the safety nets above), logged
/// because it means an edge check is missing.
fn out_of_range(message: &str) -> StoreError {
    tracing::warn!(message, "a value reached the database past the edge's checks");
    StoreError::OutOfRange(message.into())
}

/// A domain rule the data broke, named by its field: a 422.
impl From<bodega_domain::ValidationError> for StoreError {
    fn from(e: bodega_domain::ValidationError) -> Self {
        StoreError::Rule {
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(e, message)
                if e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict {
                    field: unique_field(None, None, message.as_deref().unwrap_or_default()),
                }
            }
            rusqlite::Error::SqliteFailure(e, _) if e.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                StoreError::Rule {
                    field: None,
                    message: "a referenced record does not exist or the record is still referenced".into(),
                }
            }
            rusqlite::Error::SqliteFailure(_, Some(message)) if message == "integer overflow" => {
                out_of_range("a number is out of the range the database stores")
            }
            _ => StoreError::Database(Box::new(err)),
        }
    }
}

/// The column behind a unique violation. PostgreSQL names the index (`ux_<table>_<column>`)
/// and the table; SQLite names the columns in its message (`UNIQUE constraint failed:
/// customers.email`).
fn unique_field(constraint: Option<&str>, table: Option<&str>, message: &str) -> String {
    if let Some(name) = constraint {
        let prefix = format!("ux_{}_", table.unwrap_or_default());
        if let Some(field) = name.strip_prefix(&prefix) {
            return field.to_string();
        }
        return name.strip_prefix("ux_").unwrap_or(name).to_string();
    }
    message
        .rsplit_once(": ")
        .and_then(|(_, cols)| cols.split(',').next())
        .and_then(|col| col.trim().rsplit_once('.'))
        .map(|(_, field)| field.to_string())
        .unwrap_or_else(|| "value".into())
}

#[cfg(test)]
mod tests {
    use super::unique_field;

    #[test]
    fn names_the_field_on_both_backends() {
        assert_eq!(unique_field(Some("ux_customers_email"), Some("customers"), ""), "email");
        assert_eq!(
            unique_field(Some("ux_api_keys_key_hash"), Some("api_keys"), ""),
            "key_hash"
        );
        assert_eq!(
            unique_field(None, None, "UNIQUE constraint failed: customers.rut"),
            "rut"
        );
        assert_eq!(
            unique_field(None, None, "UNIQUE constraint failed: users.email"),
            "email"
        );
    }
}
