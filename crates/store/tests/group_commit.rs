//! SQLite group commit: transactions that share a batch commit or roll back independently,
//! and a commit returns only once its work is durable (visible to a fresh connection).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bodega_store::{sql, Db, StoreError};

async fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    sql::query("CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT NOT NULL)")
        .execute(&mut tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (dir, db)
}

async fn ids(db: &Db) -> Vec<i64> {
    let mut r = db.read().await.unwrap();
    sql::query_scalar("SELECT id FROM t ORDER BY id")
        .fetch_all(&mut r.conn())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_of_a_batch_commit_and_roll_back_on_their_own() {
    let (_dir, db) = open().await;
    let db = Arc::new(db);
    let mut tasks = Vec::new();
    for i in 0..300i64 {
        let db = Arc::clone(&db);
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            sql::query("INSERT INTO t (id, note) VALUES ($1, 'x')")
                .bind(i)
                .execute(&mut tx.conn())
                .await
                .unwrap();
            match i % 3 {
                // Dropped: rolled back.
                0 => false,
                // A failing statement (duplicate key) after a good one, then dropped.
                1 => {
                    let dup = sql::query("INSERT INTO t (id, note) VALUES ($1, 'y')")
                        .bind(i)
                        .execute(&mut tx.conn())
                        .await;
                    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
                    false
                }
                _ => {
                    tx.commit().await.unwrap();
                    true
                }
            }
        }));
    }
    let mut expected = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap() {
            expected.push(i as i64);
        }
    }
    assert_eq!(ids(&db).await, expected);
}

#[tokio::test]
async fn a_commit_is_visible_to_a_new_connection_when_it_returns() {
    let (dir, db) = open().await;
    let mut tx = db.begin().await.unwrap();
    sql::query("INSERT INTO t (id, note) VALUES (7, 'x')")
        .execute(&mut tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let other = Db::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    assert_eq!(ids(&other).await, vec![7]);
}
