//! The audit log: who changed what, when, from which request, with a before/after summary.
//! Entries are written in the transaction of the change they describe, so a change and its
//! audit entry are committed or rolled back together.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{now, outbox, sql, Backend, Conn, FromRow, StoreResult};
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
    let entry = entry(actor, action, resource, resource_id, before, after);
    entry.bind(INSERT.query(1)).execute(c).await?;
    Ok(())
}

/// Records one change (an [`entry`]) and writes its events: in one statement on PostgreSQL (a
/// writable CTE: one round trip), in two on SQLite (in-process, nothing to save).
pub async fn record_with_events(c: &mut Conn<'_>, entry: NewEntry, events: Vec<outbox::NewEvent>) -> StoreResult<()> {
    record_all_with_events(c, vec![entry], events).await
}

/// [`record_with_events`] of several changes (saga steps of several orders run together): their
/// entries and events in one statement on PostgreSQL.
pub async fn record_all_with_events(
    c: &mut Conn<'_>,
    entries: Vec<NewEntry>,
    events: Vec<outbox::NewEvent>,
) -> StoreResult<()> {
    if entries.is_empty() {
        return outbox::emit_all(c, events).await;
    }
    if c.backend() == Backend::Postgres {
        // Entries and events bound as a column each: one text for any number of them,
        // prepared once per connection.
        let columns = entry_columns(&entries);
        let entries = format!(
            "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label, action, resource, resource_id,
                 request_id, ip, before, after)
             SELECT at, actor_kind, actor_id, actor_label, action, resource, resource_id, request_id, ip, before,
                    after
             FROM {} WITH ORDINALITY AS e (at, actor_kind, actor_id, actor_label, action, resource, resource_id,
                  request_id, ip, before, after, n)
             ORDER BY n",
            sql::unnest(1, &columns)
        );
        let insert = if events.is_empty() {
            sql::query(entries).bind_all(columns)
        } else {
            let (events, event_columns) = outbox::insert_columns(events, columns.len() + 1);
            sql::query(format!("WITH audit AS ({entries}) {events}"))
                .bind_all(columns)
                .bind_all(event_columns)
        };
        return insert.execute(c).await.map(drop);
    }
    let mut insert = INSERT.query(entries.len());
    for entry in entries {
        insert = entry.bind(insert);
    }
    insert.execute(c).await?;
    outbox::emit_all(c, events).await
}

/// The entries of a PostgreSQL insert, a column each.
fn entry_columns(entries: &[NewEntry]) -> Vec<sql::Value> {
    vec![
        sql::column(entries.iter().map(|e| e.at)),
        sql::column(entries.iter().map(|e| e.actor_kind)),
        sql::column(entries.iter().map(|e| e.actor_id)),
        sql::column(entries.iter().map(|e| e.actor_label.as_str())),
        sql::column(entries.iter().map(|e| e.action.as_str())),
        sql::column(entries.iter().map(|e| e.resource.as_str())),
        sql::column(entries.iter().map(|e| e.resource_id.as_str())),
        sql::column(entries.iter().map(|e| e.request_id.as_deref())),
        sql::column(entries.iter().map(|e| e.ip.as_deref())),
        sql::column(entries.iter().map(|e| e.before.as_deref())),
        sql::column(entries.iter().map(|e| e.after.as_deref())),
    ]
}

/// An audit entry ready to be written.
pub struct NewEntry {
    at: DateTime<Utc>,
    actor_kind: &'static str,
    actor_id: Option<i64>,
    actor_label: String,
    action: String,
    resource: String,
    resource_id: String,
    request_id: Option<String>,
    ip: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

/// The entry of one change, stamped now; see [`record`].
pub fn entry<B: Serialize, A: Serialize>(
    actor: &Actor,
    action: &str,
    resource: &str,
    resource_id: impl ToString,
    before: Option<&B>,
    after: Option<&A>,
) -> NewEntry {
    NewEntry {
        at: now(),
        actor_kind: actor.kind,
        actor_id: actor.id,
        actor_label: actor.label.clone(),
        action: action.to_string(),
        resource: resource.to_string(),
        resource_id: resource_id.to_string(),
        request_id: actor.request_id.clone(),
        ip: actor.ip.clone(),
        before: before.and_then(|b| serde_json::to_string(b).ok()),
        after: after.and_then(|a| serde_json::to_string(a).ok()),
    }
}

const COLUMNS: &str =
    "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label, action, resource, resource_id, request_id, ip, before, after)";

/// [`insert_sql`] by the number of entries.
static INSERT: sql::ByCount = sql::ByCount::new(insert_sql);

/// The insert of `entries` audit entries, their parameters numbered from 1 on.
fn insert_sql(entries: usize) -> String {
    format!("{COLUMNS} VALUES {}", sql::value_rows(entries, INSERT_PARAMS, 1))
}
/// The parameters of one entry in [`insert_sql`].
const INSERT_PARAMS: usize = 11;

impl NewEntry {
    /// Binds the parameters of one entry of [`insert_sql`], after those already bound to `q`.
    fn bind(self, q: sql::Query<'_>) -> sql::Query<'_> {
        q.bind(self.at)
            .bind(self.actor_kind)
            .bind(self.actor_id)
            .bind(self.actor_label)
            .bind(self.action)
            .bind(self.resource)
            .bind(self.resource_id)
            .bind(self.request_id)
            .bind(self.ip)
            .bind(self.before)
            .bind(self.after)
    }
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
