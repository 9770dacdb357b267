//! Customers, employees and suppliers. The three share their life cycle (create, read,
//! replace, soft delete, list, search by name / e-mail / RUT), written once here over the
//! [`Person`] trait; each kind only states its table and columns.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::{now, sql, Conn, FromRow, StoreResult};
use bodega_domain::{Page, PageRequest};

/// A stored kind of person.
pub trait Person: Serialize + Send + Unpin + sql::FromRow + 'static {
    const TABLE: &'static str;
    /// The resource name used in permissions and the audit log.
    const RESOURCE: &'static str;
    /// The SQL expression searched by `?q=` besides e-mail and RUT.
    const NAME_SQL: &'static str;
    /// The outbox topic of its life cycle (`<resource>.created`, `.updated`, `.deleted`, the
    /// record as payload), for kinds whose changes other systems follow.
    const TOPIC: Option<&'static str> = None;
}

/// A column value of a validated input, bound the same way on both backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Text(Option<String>),
    Int(Option<i64>),
    Date(Option<NaiveDate>),
}

/// A validated create/replace body: the columns it writes, in order.
pub trait PersonInput {
    fn fields(&self) -> Vec<(&'static str, Field)>;
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Canonical form `12345678-5`.
    pub rut: Option<String>,
    pub notes: Option<String>,
    /// The customer's id in an outside system, set by imports.
    pub external_ref: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Person for Customer {
    const TABLE: &'static str = "customers";
    const RESOURCE: &'static str = "customer";
    const NAME_SQL: &'static str = "first_name || ' ' || last_name";
    // Seed 003's `erp.customers` stream.
    const TOPIC: Option<&'static str> = Some(topics::CUSTOMERS);
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Employee {
    pub id: i64,
    /// The sign-in account of this employee, when they have one.
    pub user_id: Option<i64>,
    pub employee_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub rut: Option<String>,
    pub department: Option<String>,
    pub position: Option<String>,
    pub hire_date: Option<NaiveDate>,
    /// Monthly salary in minor currency units.
    pub salary: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Person for Employee {
    const TABLE: &'static str = "employees";
    const RESOURCE: &'static str = "employee";
    const NAME_SQL: &'static str = "first_name || ' ' || last_name || ' ' || employee_code";
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Supplier {
    pub id: i64,
    pub name: String,
    pub contact_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub rut: Option<String>,
    /// Days from order to delivery; reorder advice plans with it.
    pub lead_time_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Person for Supplier {
    const TABLE: &'static str = "suppliers";
    const RESOURCE: &'static str = "supplier";
    const NAME_SQL: &'static str = "name || ' ' || COALESCE(contact_name, '')";
}

/// Search filters of a listing; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    /// Substring of the name, e-mail or RUT, case-insensitive.
    pub q: Option<String>,
    /// Exact e-mail (already normalised).
    pub email: Option<String>,
    /// Exact RUT (already normalised).
    pub rut: Option<String>,
}

pub async fn get<P: Person>(c: &mut Conn<'_>, id: i64) -> StoreResult<P> {
    let sql = format!("SELECT * FROM {} WHERE id = $1 AND deleted_at IS NULL", P::TABLE);
    sql::query_as::<P>(&sql).bind(id).fetch_one(c).await
}

pub async fn list<P: Person>(c: &mut Conn<'_>, filter: &PersonFilter, page: PageRequest) -> StoreResult<Page<P>> {
    let pattern = filter
        .q
        .as_ref()
        .map(|q| crate::contains_pattern(&q.trim().to_lowercase()));
    // A RUT typed with dots or a hyphen still matches its canonical stored form.
    let rut_pattern = filter
        .q
        .as_ref()
        .map(|q| crate::contains_pattern(&q.trim().to_uppercase().replace('.', "")));
    let condition = format!(
        "deleted_at IS NULL
         AND ($1 IS NULL OR LOWER({name}) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $1 ESCAPE '\\' OR COALESCE(rut, '') LIKE $2 ESCAPE '\\')
         AND ($3 IS NULL OR email = $3) AND ($4 IS NULL OR rut = $4)",
        name = P::NAME_SQL
    );
    let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", P::TABLE);
    let list_sql = format!(
        "SELECT * FROM {} WHERE {condition} ORDER BY id LIMIT $5 OFFSET $6",
        P::TABLE
    );
    let total: i64 = sql::query_scalar(&count_sql)
        .bind(&pattern)
        .bind(&rut_pattern)
        .bind(&filter.email)
        .bind(&filter.rut)
        .fetch_one(c)
        .await?;
    let items: Vec<P> = sql::query_as::<P>(&list_sql)
        .bind(&pattern)
        .bind(&rut_pattern)
        .bind(&filter.email)
        .bind(&filter.rut)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(c)
        .await?;
    Ok(Page::new(items, total, page))
}

pub async fn create<P: Person>(c: &mut Conn<'_>, actor: &Actor, input: &impl PersonInput) -> StoreResult<P> {
    let fields = input.fields();
    let columns: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let placeholders: Vec<String> = (1..=fields.len()).map(|i| format!("${i}")).collect();
    let stamp = fields.len() + 1;
    let sql = format!(
        "INSERT INTO {} ({}, created_at, updated_at) VALUES ({}, ${stamp}, ${stamp}) RETURNING id",
        P::TABLE,
        columns.join(", "),
        placeholders.join(", ")
    );
    let at = now();
    let id: i64 = {
        let mut query = sql::query_scalar(&sql);
        for (_, field) in &fields {
            query = match field {
                Field::Text(v) => query.bind(v.clone()),
                Field::Int(v) => query.bind(*v),
                Field::Date(v) => query.bind(*v),
            };
        }
        query.bind(at).fetch_one(c).await
    }?;
    let created: P = get(c, id).await?;
    audit::record(c, actor, "create", P::RESOURCE, id, None::<&P>, Some(&created)).await?;
    announce(c, "created", id, &created).await?;
    Ok(created)
}

/// Replaces every writable column of a live record.
pub async fn replace<P: Person>(c: &mut Conn<'_>, actor: &Actor, id: i64, input: &impl PersonInput) -> StoreResult<P> {
    let before: P = get(c, id).await?;
    let fields = input.fields();
    let sets: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{name} = ${}", i + 1))
        .collect();
    let n = fields.len();
    let sql = format!(
        "UPDATE {} SET {}, updated_at = ${} WHERE id = ${} AND deleted_at IS NULL",
        P::TABLE,
        sets.join(", "),
        n + 1,
        n + 2
    );
    let at = now();
    {
        let mut query = sql::query(&sql);
        for (_, field) in &fields {
            query = match field {
                Field::Text(v) => query.bind(v.clone()),
                Field::Int(v) => query.bind(*v),
                Field::Date(v) => query.bind(*v),
            };
        }
        query.bind(at).bind(id).execute(c).await
    }?;
    let after: P = get(c, id).await?;
    audit::record(c, actor, "update", P::RESOURCE, id, Some(&before), Some(&after)).await?;
    announce(c, "updated", id, &after).await?;
    Ok(after)
}

/// Soft delete: the row stays for history (sales keep pointing at it) but leaves listings,
/// and its e-mail and RUT become free for a new record.
pub async fn delete<P: Person>(c: &mut Conn<'_>, actor: &Actor, id: i64) -> StoreResult<()> {
    let before: P = get(c, id).await?;
    let sql = format!(
        "UPDATE {} SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        P::TABLE
    );
    sql::query(&sql).bind(now()).bind(id).execute(c).await?;
    audit::record(c, actor, "delete", P::RESOURCE, id, Some(&before), None::<&P>).await?;
    // The record as it was when deleted: a consumer learns who left without a second look-up.
    announce(c, "deleted", id, &before).await
}

/// Writes the `<resource>.<what>` event of a change to `record`, when its kind has a topic.
async fn announce<P: Person>(c: &mut Conn<'_>, what: &str, id: i64, record: &P) -> StoreResult<()> {
    match P::TOPIC {
        Some(topic) => outbox::emit(c, topic, &format!("{}.{what}", P::RESOURCE), id, record).await,
        None => Ok(()),
    }
}
