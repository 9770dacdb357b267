//! Group commit for the single SQLite writer.
//!
//! Every write transaction of the process runs on one connection, one after the other. A
//! COMMIT writes every page the transaction touched to the WAL, and consecutive transactions
//! touch the same pages (the right edge of each table and index, the stock rows of popular
//! products): committing each one alone writes those pages again and again, and that I/O was
//! half of the writer's time under load. So transactions that queue behind each other share
//! one COMMIT: each runs inside a SAVEPOINT of a shared outer transaction (its own rollback
//! undoes only its work), and the last of the queue, or the one that finds the batch full or
//! old, commits them all.
//!
//! Durability is unchanged: [`WriteTx::commit`] returns only once the batch's COMMIT has
//! succeeded, and fails if it failed, so nothing is acknowledged before it is on disk. A batch
//! is closed after [`MAX_BATCH`] transactions or [`MAX_BATCH_AGE`], whichever comes first; a
//! member waiting longer than that closes it itself (the queue may have emptied by
//! cancellation).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use crate::{StoreError, StoreResult};

const MAX_BATCH: usize = 64;
/// Under load the writer is always wanted (creates, confirms and ships take turns), so batches
/// close by age, and a member waits for the work of those after it: 1 ms rather than 4 ms
/// cut that wait by a third and made ≈ 5 % more orders a second (docs/BENCHMARKS.md, session 19).
const MAX_BATCH_AGE: Duration = Duration::from_millis(1);

/// The writer connection and the batch open on it.
pub struct Writer {
    pub(crate) conn: rusqlite::Connection,
    batch: Option<Batch>,
    restart_wal: Arc<AtomicBool>,
}

struct Batch {
    started: Instant,
    members: usize,
    outcome: Arc<watch::Sender<Option<Result<(), String>>>>,
}

/// The writer connection behind a fair queue.
pub struct GroupWriter {
    writer: Arc<Mutex<Writer>>,
    /// Transactions queued for the writer; when none is, a committing transaction closes the
    /// batch at once.
    queued: AtomicUsize,
    /// Set by the checkpoint thread: restart the WAL after the next batch.
    restart_wal: Arc<AtomicBool>,
}

impl GroupWriter {
    pub fn new(conn: rusqlite::Connection) -> Self {
        let restart_wal = Arc::new(AtomicBool::new(false));
        Self {
            writer: Arc::new(Mutex::new(Writer {
                conn,
                batch: None,
                restart_wal: Arc::clone(&restart_wal),
            })),
            queued: AtomicUsize::new(0),
            restart_wal,
        }
    }

    pub fn request_wal_restart(&self) {
        self.restart_wal.store(true, Ordering::SeqCst);
    }

    /// The connection outside any transaction (migrations, shutdown); an open batch is
    /// committed first.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, Writer> {
        let mut writer = self.writer.lock().await;
        let _ = writer.close_batch();
        writer
    }

    pub async fn begin(self: &Arc<Self>) -> StoreResult<WriteTx> {
        let mut writer = {
            let _queued = Queued::enter(&self.queued);
            Arc::clone(&self.writer).lock_owned().await
        };
        if writer.batch.is_none() {
            run(&writer.conn, "BEGIN IMMEDIATE")?;
            writer.batch = Some(Batch {
                started: Instant::now(),
                members: 0,
                outcome: Arc::new(watch::channel(None).0),
            });
        }
        if let Err(e) = run(&writer.conn, "SAVEPOINT tx") {
            writer.abandon_if_gone();
            return Err(e.into());
        }
        Ok(WriteTx {
            writer: Some(writer),
            group: Arc::clone(self),
        })
    }
}

/// Counts a transaction as queued while it waits for the writer (also when the wait is
/// cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// Commits the open batch, if any, and tells its members how it went.
    fn close_batch(&mut self) -> Result<(), String> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        let result = run(&self.conn, "COMMIT").map_err(|e| e.to_string());
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        batch.outcome.send_replace(Some(result.clone()));
        if result.is_ok() && self.restart_wal.swap(false, Ordering::SeqCst) {
            // Between batches: no transaction is open, so the WAL can start over.
            if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL restart failed");
            }
        }
        result
    }

    /// When SQLite rolled the whole outer transaction back by itself (it does on some I/O
    /// errors), the batch is lost: its members are told so.
    fn abandon_if_gone(&mut self) {
        if self.batch.is_some() && self.conn.is_autocommit() {
            if let Some(batch) = self.batch.take() {
                batch
                    .outcome
                    .send_replace(Some(Err("the database rolled the transaction back".into())));
            }
        }
    }

    fn batch_is_due(&self, queued: usize) -> bool {
        self.batch
            .as_ref()
            .is_none_or(|b| queued == 0 || b.members >= MAX_BATCH || b.started.elapsed() >= MAX_BATCH_AGE)
    }
}

/// A write transaction on SQLite: a savepoint in the writer's current batch. Dropped without
/// [`WriteTx::commit`], its work is rolled back.
pub struct WriteTx {
    writer: Option<OwnedMutexGuard<Writer>>,
    group: Arc<GroupWriter>,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut rusqlite::Connection {
        match self.writer.as_mut() {
            Some(w) => &mut w.conn,
            None => unreachable!("a transaction holds the writer until commit or drop"),
        }
    }

    /// Returns once the transaction is durably committed (with its batch).
    pub async fn commit(mut self) -> StoreResult<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(StoreError::State("transaction already finished".into()));
        };
        if let Err(e) = run(&writer.conn, "RELEASE tx") {
            rollback_savepoint(&mut writer);
            return Err(e.into());
        }
        writer.abandon_if_gone();
        let Some(batch) = writer.batch.as_mut() else {
            return Err(StoreError::Database("the database rolled the transaction back".into()));
        };
        batch.members += 1;
        let outcome = Arc::clone(&batch.outcome);
        if writer.batch_is_due(self.group.queued.load(Ordering::SeqCst)) {
            return writer.close_batch().map_err(|e| StoreError::Database(e.into()));
        }
        let mut outcome = outcome.subscribe();
        drop(writer);
        loop {
            match tokio::time::timeout(MAX_BATCH_AGE, outcome.wait_for(Option::is_some)).await {
                Ok(Ok(done)) => {
                    return match done.as_ref() {
                        Some(Ok(())) => Ok(()),
                        Some(Err(e)) => Err(StoreError::Database(e.clone().into())),
                        None => unreachable!("waited for an outcome"),
                    };
                }
                Ok(Err(_)) => return Err(StoreError::Database("the batch was dropped uncommitted".into())),
                Err(_elapsed) => {}
            }
            // Nobody closed the batch in time: close it ourselves if it is still open (batches
            // follow one another, so an open batch while ours has no outcome is ours).
            let mut writer = self.group.writer.lock().await;
            if outcome.borrow().is_none() && writer.batch.is_some() {
                let _ = writer.close_batch();
            }
        }
    }
}

/// Runs one of the transaction control statements, kept prepared: each transaction runs two or
/// three, and parsing them again each time (`execute_batch`) was work done holding the writer.
fn run(conn: &rusqlite::Connection, control: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(control)?.execute([]).map(drop)
}

/// Undoes one transaction's work inside the batch.
fn rollback_savepoint(writer: &mut Writer) {
    if let Err(e) = writer.conn.execute_batch("ROLLBACK TO tx; RELEASE tx") {
        tracing::error!(error = %e, "rollback to savepoint failed");
    }
    writer.abandon_if_gone();
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            rollback_savepoint(&mut writer);
            if writer.batch_is_due(self.group.queued.load(Ordering::SeqCst)) {
                let _ = writer.close_batch();
            }
        }
    }
}
