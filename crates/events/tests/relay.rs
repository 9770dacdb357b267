//! The relay and a subscriber's [`Seen`] on both stores: events published out of seq order
//! (PostgreSQL: an older transaction took the higher id) are new, not repeats, a subscriber
//! that missed them (`Lagged`) finds them in the outbox, and the relay's position only moves
//! forward.
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

        // Two events, published in position order (the writing transaction, then the id). On
        // PostgreSQL the transaction that began writing first comes first even though its
        // event took the higher id, and nothing after it is published while it is open. On
        // SQLite (one writer) ids come in commit order. `first` is published, then `second`.
        let (first_id, second_id) = if postgres {
            let mut late = db.begin().await.unwrap();
            let _: String = sql::query_scalar("SELECT pg_current_xact_id()::text")
                .fetch_one(&mut late.conn())
                .await
                .unwrap();
            let low = commit_one(&db, 1).await;
            assert_eq!(
                bus.publish_pending(&db, 100).await.unwrap(),
                0,
                "an older transaction is open"
            );
            let high = write(&mut late, 2).await;
            assert!(low < high);
            late.commit().await.unwrap();
            assert_eq!(bus.publish_pending(&db, 1).await.unwrap(), 1);
            (high, low)
        } else {
            let low = commit_one(&db, 1).await;
            let high = commit_one(&db, 2).await;
            assert_eq!(bus.publish_pending(&db, 1).await.unwrap(), 1);
            (low, high)
        };
        let first = received(&mut rx);
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [first_id]);
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
async fn the_relay_position_moves_forward_only() {
    for (store, db) in stores().await {
        let ids = [
            commit_one(&db, 1).await,
            commit_one(&db, 2).await,
            commit_one(&db, 3).await,
        ];
        let pending = |db: Db| async move {
            let mut r = db.read().await.unwrap();
            outbox::unpublished(&mut r.conn(), 10).await.unwrap()
        };
        let all = pending(db.clone()).await;
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
        assert!(all.windows(2).all(|w| w[0].position() < w[1].position()));
        let mark = |to: outbox::Position| {
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                outbox::mark_published(&mut tx.conn(), to).await.unwrap();
                tx.commit().await.unwrap();
            }
        };
        mark(all[1].position()).await;
        let left: Vec<i64> = pending(db.clone()).await.iter().map(|e| e.id).collect();
        assert_eq!(left, [ids[2]]);
        mark(all[0].position()).await;
        let left: Vec<i64> = pending(db.clone()).await.iter().map(|e| e.id).collect();
        assert_eq!(left, [ids[2]], "a position never goes back");
        let read = bodega_events::read(&db, &[ids[2], ids[0]]).await.unwrap();
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [ids[0], ids[2]]);
        drop_store(store, db).await;
    }
}

/// PostgreSQL: a transaction left open in another database of the server holds back the
/// server-wide fence (the snapshot's xmin), not the one that leaves other databases out, which
/// `publish_pending` uses (and the relay's loop turns to when events wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_in_another_database_holds_nothing_back() {
    for (store, db) in stores().await {
        let Store::Postgres { base, .. } = &store else {
            drop_store(store, db).await;
            continue;
        };
        let elsewhere = Db::connect(base).await.unwrap();
        let mut open = elsewhere.begin().await.unwrap();
        let _: String = sql::query_scalar("SELECT pg_current_xact_id()::text")
            .fetch_one(&mut open.conn())
            .await
            .unwrap();
        let id = commit_one(&db, 1).await;
        let claim = |fence| {
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                let claimed = outbox::claim_unpublished(&mut tx.conn(), 100, fence).await.unwrap();
                tx.commit().await.unwrap();
                claimed.iter().map(|e| e.id).collect::<Vec<_>>()
            }
        };
        assert!(
            claim(outbox::Fence::Server).await.is_empty(),
            "held back by the other database"
        );
        assert_eq!(claim(outbox::Fence::Database).await, [id]);
        open.commit().await.unwrap();
        elsewhere.close().await;
        drop_store(store, db).await;
    }
}
