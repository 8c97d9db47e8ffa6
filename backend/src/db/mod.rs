//! Storage: the SQLite pool, migrations, and one module of queries per aggregate.

pub mod append;
pub mod checkpoint;
pub mod contacts;
pub mod conversations;
pub mod events;
pub mod group_changes;
pub mod leaving;
pub mod maintenance;
pub mod media;
pub mod members;
pub mod mentions;
pub mod message_changes;
pub mod notify;
pub mod push;
pub mod read_markers;
pub mod sessions;
pub mod users;

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) the database and brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL {url}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before we acknowledge it, even on power loss.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // A deleted message's text is overwritten, not left in free space.
        .pragma("secure_delete", "ON")
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open database {url}"))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("database migration failed")?;
    Ok(pool)
}

/// A blocking connection to the database behind `pool`, for a thread of its
/// own (the message writer, the checkpointer), with the pool's settings but
/// no automatic checkpoints: [`checkpoint`] takes care of those.
pub fn open_direct(pool: &SqlitePool) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    // Migrated already by `connect`: an empty new file would be a mistake.
    let options = pool.connect_options();
    let conn = rusqlite::Connection::open_with_flags(
        options.get_filename(),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Starts a write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock
/// up front (waiting up to the busy timeout), so a transaction that reads
/// before it writes can't fail half-way with SQLITE_BUSY in WAL mode.
pub async fn begin_write(pool: &SqlitePool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Current Unix time in milliseconds, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Throwaway databases and rows for the query modules' tests.
#[cfg(test)]
pub(crate) mod testing {
    use natter_common::{
        api::Role,
        ids::{ConversationId, UserId},
    };
    use sqlx::SqlitePool;

    /// A migrated database in a temporary directory (kept alive by the guard).
    pub async fn temp_pool() -> (SqlitePool, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (super::connect(&url).await.expect("database"), dir)
    }

    pub async fn user(pool: &SqlitePool, name: &str) -> UserId {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, created_at, updated_at)
             VALUES ($1, $1, 'unused', 0, 0) RETURNING id",
        )
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("user");
        UserId(id)
    }

    pub async fn group(pool: &SqlitePool, members: &[UserId]) -> ConversationId {
        let mut conn = pool.acquire().await.expect("connection");
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (kind, name, created_at) VALUES ('group', 'g', 0) RETURNING id",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("group");
        for member in members {
            super::members::add(&mut conn, ConversationId(id), *member, Role::Member, 0)
                .await
                .expect("member");
        }
        ConversationId(id)
    }
}
