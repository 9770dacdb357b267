//! The relay and a subscriber's [`Seen`] on both stores: events published out of seq order
//! (PostgreSQL: a transaction that took a lower id commits later) are new, not repeats, and a
//! subscriber that missed them (`Lagged`) finds them in the outbox.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bodega_events::{Event, EventBus, Seen};
use bodega_store::{outbox, sql, Db};
use tokio::sync::broadcast;

enum Store {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { base: String, name: String },
}

/// A migrated database of each store (PostgreSQL when `BODEGA_TEST_POSTGRES_URL` is set).
async fn stores() -> Vec<(Store, Db)> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let mut all = vec![(Store::Sqlite { _dir: dir }, db)];
    if let Ok(base) = std::env::var("BODEGA_TEST_POSTGRES_URL") {
        let name = format!("bodega_relay_{}", uuid::Uuid::new_v4().simple());
        let admin = Db::connect(&base).await.unwrap();
        sql::query(format!("CREATE DATABASE {name}"))
            .once()
            .execute(&mut admin.read().await.unwrap().conn())
            .await
            .unwrap();
        admin.close().await;
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        all.push((Store::Postgres { base, name }, db));
    } else {
        eprintln!("PostgreSQL skipped: BODEGA_TEST_POSTGRES_URL is not set");
    }
    all
}

async fn drop_store(store: Store, db: Db) {
    db.close().await;
    if let Store::Postgres { base, name } = store {
        let admin = Db::connect(&base).await.unwrap();
        sql::query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .once()
            .execute(&mut admin.read().await.unwrap().conn())
            .await
            .unwrap();
        admin.close().await;
    }
}

/// Writes one event in `tx`; its id.
async fn write(tx: &mut bodega_store::Tx, key: i64) -> i64 {
    outbox::emit(&mut tx.conn(), outbox::topics::SALES, "sale.recorded", key, &key)
        .await
        .unwrap();
    sql::query_scalar("SELECT MAX(id) FROM outbox")
        .fetch_one(&mut tx.conn())
        .await
        .unwrap()
}

async fn commit_one(db: &Db, key: i64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let id = write(&mut tx, key).await;
    tx.commit().await.unwrap();
    id
}

fn received(rx: &mut broadcast::Receiver<Arc<Event>>) -> Vec<Arc<Event>> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commits_are_new_events_and_found_when_missed() {
    for (store, db) in stores().await {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        let mut seen = Seen::new();
        let postgres = matches!(store, Store::Postgres { .. });

        // Two transactions: the one with the lower id commits last (PostgreSQL only: SQLite
        // has one writer, ids come in commit order). `first` is published, then `second`.
        let (first_id, second_id) = if postgres {
            let mut late = db.begin().await.unwrap();
            let low = write(&mut late, 1).await;
            let high = commit_one(&db, 2).await;
            assert!(low < high);
            assert_eq!(bus.publish_pending(&db, 100).await.unwrap(), 1);
            late.commit().await.unwrap();
            (high, low)
        } else {
            let low = commit_one(&db, 1).await;
            let high = commit_one(&db, 2).await;
            assert_eq!(bus.publish_pending(&db, 1).await.unwrap(), 1);
            (low, high)
        };
        let first = received(&mut rx);
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [first_id]);
        assert!(first[0].published_at.is_some());
        assert!(seen.first_time(&first[0]));
        assert!(!seen.first_time(&first[0]), "a repeat");

        // The other one is published next: a subscriber that missed it (the bus dropped it)
        // finds it in the outbox, and nothing it has seen.
        assert_eq!(bus.publish_pending(&db, 100).await.unwrap(), 1);
        let missed = seen.missed(&db).await.unwrap();
        assert_eq!(missed, [second_id]);
        let read = bodega_events::read(&db, &missed).await.unwrap();
        assert_eq!(read.len(), 1);
        assert!(seen.first_time(&read[0]), "new, although its seq is below one seen");
        // The bus still held it: it comes again, a repeat.
        let second = received(&mut rx);
        assert_eq!(second.iter().map(|e| e.seq).collect::<Vec<_>>(), missed);
        assert!(!seen.first_time(&second[0]));
        assert!(seen.missed(&db).await.unwrap().is_empty());
        assert_eq!(bus.publish_pending(&db, 100).await.unwrap(), 0);
        drop_store(store, db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_by_id_list() {
    for (store, db) in stores().await {
        let ids = [
            commit_one(&db, 1).await,
            commit_one(&db, 2).await,
            commit_one(&db, 3).await,
        ];
        let mut tx = db.begin().await.unwrap();
        outbox::mark_published(&mut tx.conn(), &ids[..2], bodega_store::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let left: Vec<i64> = {
            let mut r = db.read().await.unwrap();
            outbox::unpublished(&mut r.conn(), 10)
                .await
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect()
        };
        assert_eq!(left, [ids[2]]);
        let read = bodega_events::read(&db, &[ids[2], ids[0]]).await.unwrap();
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [ids[0], ids[2]]);
        drop_store(store, db).await;
    }
}
