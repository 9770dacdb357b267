//! The audit log: who changed what, when, from which request, with a before/after summary.
//! Entries are written in the transaction of the change they describe, so a change and its
//! audit entry are committed or rolled back together.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{now, sql, Conn, FromRow, StoreResult};
use bodega_domain::{Page, PageRequest};

/// Who is acting and on behalf of which request; carried from the HTTP edge to every write.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user`, `api_key` or `system`.
    pub kind: &'static str,
    pub id: Option<i64>,
    pub label: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// The process itself (CLI commands, background jobs).
    pub fn system(label: &str) -> Self {
        Self {
            kind: "system",
            id: None,
            label: label.to_string(),
            request_id: None,
            ip: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    action: String,
    resource: String,
    resource_id: Option<String>,
    request_id: Option<String>,
    ip: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Self {
            id: r.id,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_label: r.actor_label,
            action: r.action,
            resource: r.resource,
            resource_id: r.resource_id,
            request_id: r.request_id,
            ip: r.ip,
            before: parse(r.before),
            after: parse(r.after),
        }
    }
}

/// Records one change. `before`/`after` are summaries of the record (never secrets).
pub async fn record<B: Serialize, A: Serialize>(
    c: &mut Conn<'_>,
    actor: &Actor,
    action: &str,
    resource: &str,
    resource_id: impl ToString,
    before: Option<&B>,
    after: Option<&A>,
) -> StoreResult<()> {
    let before = before.and_then(|b| serde_json::to_string(b).ok());
    let after = after.and_then(|a| serde_json::to_string(a).ok());
    let resource_id = resource_id.to_string();
    sql::query(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label, action, resource, resource_id, request_id, ip, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(now())
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(action)
    .bind(resource)
    .bind(&resource_id)
    .bind(&actor.request_id)
    .bind(&actor.ip)
    .bind(&before)
    .bind(&after)
    .execute(c)
    .await?;
    Ok(())
}

/// Filters of the audit listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn list(c: &mut Conn<'_>, filter: &AuditFilter, page: PageRequest) -> StoreResult<Page<AuditEntry>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR resource = $1) AND ($2 IS NULL OR resource_id = $2)
        AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR action = $4)
        AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM audit_log {WHERE}"))
        .bind(&filter.resource)
        .bind(&filter.resource_id)
        .bind(filter.actor_id)
        .bind(&filter.action)
        .bind(filter.from)
        .bind(filter.to)
        .fetch_one(c)
        .await?;
    let rows: Vec<AuditRow> = sql::query_as(format!(
        "SELECT * FROM audit_log {WHERE} ORDER BY id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(&filter.resource)
    .bind(&filter.resource_id)
    .bind(filter.actor_id)
    .bind(&filter.action)
    .bind(filter.from)
    .bind(filter.to)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(rows.into_iter().map(Into::into).collect(), total, page))
}
