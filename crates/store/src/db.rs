use std::str::FromStr;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use rusqlite::OpenFlags;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::group_commit::{GroupWriter, WriteTx};

use crate::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A handle on the database, cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Arc<SqliteDb>),
    Postgres(PgPool),
}

/// An embedded SQLite file: one writer connection, so writers queue in the process (fairly,
/// first come first served, committing in groups: see `group_commit.rs`) instead of failing
/// with `SQLITE_BUSY`, and a pool of read-only connections that WAL lets run beside the writer.
pub struct SqliteDb {
    path: String,
    writer: Arc<GroupWriter>,
    idle_readers: SyncMutex<Vec<rusqlite::Connection>>,
    reader_permits: Arc<Semaphore>,
    /// Dropping (or sending on) this stops the checkpoint thread.
    checkpointer: SyncMutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const SQLITE_READERS: usize = 8;
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Distinct statements kept prepared per connection (rusqlite's default of 16 is far fewer
/// than the queries of one request path).
const SQLITE_STATEMENT_CACHE: usize = 512;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL length (in 4 KiB frames) past which the WAL is restarted from its beginning; below
/// `journal_size_limit`, so the file is reused rather than truncated and grown again.
const WAL_RESTART_FRAMES: i64 = 8192;

impl SqliteDb {
    fn open(path: &str) -> StoreResult<Self> {
        let writer = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        writer.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "SQLite refused WAL mode for {path} ({mode})"
            )));
        }
        // NORMAL in WAL mode: a commit survives a crash of the process; a power cut may lose the
        // last commits but never corrupts the file.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoints (one per transaction, see group_commit.rs) keep their undo pages in memory.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // 8 MiB of page cache: the pages every write touches stay (table and index edges, stock
        // rows); the rest is one read from the OS's cache away. Larger costs more than it saves:
        // each COMMIT walks the whole cache (B-tree balancing renumbers a page through a
        // number past the end of the file, so SQLite's truncation of the cache at the end of
        // the transaction cannot take its short path), ≈ 1 ms a COMMIT at 64 MiB, ≈ 5 % of the
        // server's CPU in the order benchmark (docs/BENCHMARKS.md, session 17).
        writer.pragma_update(None, "cache_size", -8192)?;
        // Checkpoints (copying the WAL into the database file, with an fsync) run on their own
        // thread instead of inside whichever commit crosses the threshold: the writer is the
        // bottleneck of every write, and an fsync in it stalls the whole queue.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        writer.set_prepared_statement_cache_capacity(SQLITE_STATEMENT_CACHE);
        let db = Self {
            path: path.to_string(),
            writer: Arc::new(GroupWriter::new(writer)),
            idle_readers: SyncMutex::new(Vec::new()),
            reader_permits: Arc::new(Semaphore::new(SQLITE_READERS)),
            checkpointer: SyncMutex::new(None),
        };
        Ok(db)
    }

    /// Starts the checkpoint thread; it stops when the database is dropped or closed.
    fn start_checkpointer(self: &Arc<Self>) -> StoreResult<()> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        let db = Arc::downgrade(self);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(CHECKPOINT_EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) if db.strong_count() > 0 => {}
                    _ => {
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        return;
                    }
                }
                // PASSIVE never blocks the writer or readers; what it cannot copy now it copies
                // on a later round. It cannot restart the WAL while the writer keeps appending,
                // so when the WAL is long and nearly all copied, the writer is asked to restart
                // it between two batches (a short stop: only the last frames are left to copy).
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                }) {
                    Ok((frames, copied)) if frames >= WAL_RESTART_FRAMES && frames - copied <= frames / 4 => {
                        if let Some(db) = db.upgrade() {
                            db.writer.request_wal_restart();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                }
            })
            .map_err(|e| StoreError::Config(format!("cannot start the checkpoint thread: {e}")))?;
        if let Ok(mut slot) = self.checkpointer.lock() {
            *slot = Some(stop);
        }
        Ok(())
    }

    fn open_reader(&self) -> StoreResult<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(SQLITE_STATEMENT_CACHE);
        Ok(conn)
    }

    async fn reader(self: &Arc<Self>) -> StoreResult<PooledReader> {
        let permit = self
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Config("the database is closed".into()))?;
        let idle = self.idle_readers.lock().map(|mut idle| idle.pop()).unwrap_or_default();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        Ok(PooledReader {
            conn: Some(conn),
            db: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Applies the migrations sqlx embedded, recording them in sqlx's own table so that the
    /// history reads the same on both backends.
    fn migrate(conn: &mut rusqlite::Connection, migrator: &sqlx::migrate::Migrator) -> StoreResult<()> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                 version BIGINT PRIMARY KEY, description TEXT NOT NULL,
                 installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
                 checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
        )?;
        for m in migrator.iter() {
            let applied: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT checksum FROM _sqlx_migrations WHERE version = ?1 AND success",
                    [m.version],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })?;
            match applied {
                Some(sum) if sum == *m.checksum => continue,
                Some(_) => {
                    return Err(StoreError::Migrate(format!(
                        "migration {} was changed after it was applied",
                        m.version
                    )))
                }
                None => {}
            }
            let started = std::time::Instant::now();
            let tx = conn.transaction()?;
            tx.execute_batch(&m.sql)
                .map_err(|e| StoreError::Migrate(format!("migration {} ({}): {e}", m.version, m.description)))?;
            tx.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES (?1, ?2, TRUE, ?3, ?4)",
                rusqlite::params![
                    m.version,
                    m.description.as_ref(),
                    m.checksum.as_ref(),
                    i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
                ],
            )?;
            tx.commit()?;
        }
        Ok(())
    }
}

/// A borrowed connection of either backend, on which [`crate::sql`] queries run.
pub enum Conn<'c> {
    Sqlite(&'c mut rusqlite::Connection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// An open transaction; dropped without [`Tx::commit`] it rolls back.
pub enum Tx {
    Sqlite(WriteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// A pooled connection for reads outside a transaction.
pub enum ReadConn {
    Sqlite(PooledReader),
    Postgres(PoolConnection<Postgres>),
}

/// A read-only SQLite connection, back to the pool when dropped.
pub struct PooledReader {
    conn: Option<rusqlite::Connection>,
    db: Arc<SqliteDb>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for PooledReader {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.db.idle_readers.lock()) {
            idle.push(conn);
        }
    }
}

impl Db {
    /// Opens `sqlite://path` (created when missing) or `postgres://…` (with up to
    /// [`Db::POSTGRES_POOL`] connections).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, Self::POSTGRES_POOL).await
    }

    /// The default size of the PostgreSQL connection pool.
    pub const POSTGRES_POOL: u32 = 32;

    /// [`Db::connect`] with at most `postgres_pool` PostgreSQL connections (SQLite ignores it).
    pub async fn connect_with(url: &str, postgres_pool: u32) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(postgres_pool.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            return Ok(Db::Postgres(pool));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path.is_empty() || path.contains(":memory:") {
                return Err(StoreError::Config(
                    "SQLite needs a file (sqlite://FILE): readers and the writer share it".into(),
                ));
            }
            let db = Arc::new(SqliteDb::open(path)?);
            db.start_checkpointer()?;
            return Ok(Db::Sqlite(db));
        }
        Err(crate::StoreError::Config(format!(
            "unsupported database URL '{}': use sqlite://FILE or postgres://…",
            redact(url)
        )))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Db::Sqlite(db) => {
                let mut writer = db.writer.exclusive().await;
                SqliteDb::migrate(&mut writer.conn, &sqlx::migrate!("./migrations/sqlite"))?;
            }
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite(db) => Tx::Sqlite(db.writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn read(&self) -> StoreResult<ReadConn> {
        Ok(match self {
            Db::Sqlite(db) => ReadConn::Sqlite(db.reader().await?),
            Db::Postgres(pool) => ReadConn::Postgres(pool.acquire().await?),
        })
    }

    /// A cheap round trip for `/health`.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.read().await?;
        crate::sql::query("SELECT 1").execute(&mut conn.conn()).await?;
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(db) => {
                db.reader_permits.close();
                if let Ok(mut stop) = db.checkpointer.lock() {
                    stop.take();
                }
                if let Ok(mut idle) = db.idle_readers.lock() {
                    idle.clear();
                }
                let writer = db.writer.exclusive().await;
                if let Err(e) = writer.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "checkpoint on close failed");
                }
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t.conn()),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

impl ReadConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            ReadConn::Sqlite(r) => match r.conn.as_mut() {
                Some(c) => Conn::Sqlite(c),
                None => unreachable!("a pooled reader holds its connection until dropped"),
            },
            ReadConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://bob:secret@db/x"), "postgres://bob:***@db/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("sqlite://bodega.db"), "sqlite://bodega.db");
    }
}
