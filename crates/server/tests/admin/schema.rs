//! Schema parity: after migrations, SQLite and PostgreSQL have the same tables, columns and
//! index names, each on the same table (runs only when `BODEGA_TEST_POSTGRES_URL` is set).

use std::collections::BTreeSet;

use bodega_store::{sql, Db};

use crate::helpers::{spawn, Store};

/// (table, column) pairs.
type Columns = BTreeSet<(String, String)>;
/// (index, table) pairs.
type Indexes = BTreeSet<(String, String)>;

async fn sqlite_schema(db: &Db) -> (Columns, Indexes) {
    assert!(matches!(db, Db::Sqlite(_)), "expected SQLite");
    let mut read = db.read().await.expect("reader");
    let c = &mut read.conn();
    let columns: Vec<(String, String)> = sql::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(c)
    .await
    .expect("sqlite columns");
    let indexes: Vec<(String, String)> = sql::query_as(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'
         AND tbl_name <> '_sqlx_migrations'",
    )
    .fetch_all(c)
    .await
    .expect("sqlite indexes");
    (columns.into_iter().collect(), indexes.into_iter().collect())
}

async fn postgres_schema(db: &Db) -> (Columns, Indexes) {
    let Db::Postgres(pool) = db else {
        panic!("expected PostgreSQL")
    };
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("postgres columns");
    // Primary keys are implicit indexes on both sides (named `*_pkey` here, `sqlite_autoindex_*`
    // or none there); every other index is named by the migrations.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.relname::text, t.relname::text FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND NOT x.indisprimary AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("postgres indexes");
    (columns.into_iter().collect(), indexes.into_iter().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let Some(pg) = spawn(Store::Postgres).await else {
        eprintln!("skipped: BODEGA_TEST_POSTGRES_URL is not set");
        return;
    };
    let lite = spawn(Store::Sqlite).await.expect("sqlite app");
    let (lite_columns, lite_indexes) = sqlite_schema(&lite.state.db).await;
    let (pg_columns, pg_indexes) = postgres_schema(&pg.state.db).await;

    assert!(!lite_columns.is_empty() && !lite_indexes.is_empty());
    let tables: BTreeSet<&str> = lite_columns.iter().map(|(t, _)| t.as_str()).collect();
    for table in [
        "settings",
        "roles",
        "users",
        "sessions",
        "api_keys",
        "audit_log",
        "customers",
    ] {
        assert!(tables.contains(table), "{table} missing from SQLite");
    }
    assert!(lite_columns.contains(&("users".to_string(), "password_hash".to_string())));

    let only_sqlite: Vec<_> = lite_columns.difference(&pg_columns).collect();
    let only_postgres: Vec<_> = pg_columns.difference(&lite_columns).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "columns differ; only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
    let only_sqlite: Vec<_> = lite_indexes.difference(&pg_indexes).collect();
    let only_postgres: Vec<_> = pg_indexes.difference(&lite_indexes).collect();
    let index = |name: &str| (name.to_string(), "reservations".to_string());
    // The one difference by design: SQLite indexes reservations by product only while active
    // (migration sqlite/0014 says why PostgreSQL keeps indexing them all).
    assert!(
        only_sqlite == [&index("ix_reservations_active")] && only_postgres == [&index("ix_reservations_item")],
        "indexes differ; only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
    assert!(
        lite_indexes.contains(&("ux_users_email".to_string(), "users".to_string())),
        "{lite_indexes:?}"
    );
}
