//! Storage: the SQLite pool, migrations, and one module of queries per aggregate.

pub mod append;
#[cfg(test)]
mod both;
pub mod checkpoint;
pub mod contacts;
pub mod conversations;
pub mod events;
pub mod group_changes;
pub mod leaving;
pub mod log_tx;
pub mod maintenance;
pub mod media;
pub mod members;
pub mod mentions;
pub mod message_changes;
pub mod notify;
pub mod push;
pub mod read_markers;
pub mod send_pace;
pub mod sessions;
pub mod users;

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, Postgres, Sqlite, SqlitePool,
};

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database every query runs against: SQLite (the default, one file in
/// the data directory) or PostgreSQL (`--database-url postgres://…`, which
/// several nodes can share). Query functions take it, or a [`Tx`], and run
/// one SQL text on either driver through [`on!`]; where the dialects differ
/// they match on it.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A write transaction on either database ([`Db::begin_write`]).
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Where a query that runs both alone and inside a transaction runs.
pub enum On<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> Self {
        Self::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Self::Tx(tx)
    }
}

/// Runs `$body` with `$c` bound to the pool of whichever database `$db` (a
/// `&Db`) is: the body is compiled once per driver, so one SQL text serves
/// both.
macro_rules! on {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($c) => $body,
            $crate::db::Db::Postgres($c) => $body,
        }
    };
}

/// [`on!`] for a `&mut Tx`: `$c` is the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $c = &mut **tx;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}

/// [`on!`] for an [`On`]: the pool or the transaction's connection.
macro_rules! on_any {
    ($on:expr, |$c:ident| $body:expr) => {
        match $on {
            $crate::db::On::Db($crate::db::Db::Sqlite($c)) => $body,
            $crate::db::On::Db($crate::db::Db::Postgres($c)) => $body,
            $crate::db::On::Tx($crate::db::Tx::Sqlite(tx)) => {
                let $c = &mut **tx;
                $body
            }
            $crate::db::On::Tx($crate::db::Tx::Postgres(tx)) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}

pub(crate) use {on, on_any, on_tx};

impl Db {
    /// Opens (creating if needed) the database `url` names and brings its
    /// schema up to date: `sqlite://…` or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            connect_postgres(url).await.map(Self::Postgres)
        } else {
            connect_sqlite(url).await.map(Self::Sqlite)
        }
    }

    /// The SQLite pool, for the parts that run on SQLite only (the log's
    /// writer, checkpoints, backups).
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Self::Sqlite(pool) => Some(pool),
            Self::Postgres(_) => None,
        }
    }

    /// Starts a write transaction. On SQLite, `BEGIN IMMEDIATE` takes the
    /// write lock up front (waiting up to the busy timeout), so a
    /// transaction that reads before it writes can't fail half-way with
    /// SQLITE_BUSY in WAL mode.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Connections the pool holds open, and how many of them are idle.
    pub fn connections(&self) -> (u32, usize) {
        on!(self, |pool| (pool.size(), pool.num_idle()))
    }

    pub async fn close(&self) {
        on!(self, |pool| pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}

async fn connect_sqlite(url: &str) -> anyhow::Result<SqlitePool> {
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
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .context("database migration failed")?;
    Ok(pool)
}

async fn connect_postgres(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url).with_context(|| format!("invalid database URL {url}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")?;
    sqlx::migrate!("./migrations/postgres")
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

    use super::Db;

    /// A migrated SQLite database in a temporary directory (kept alive by
    /// the guard).
    pub async fn temp_db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (Db::connect(&url).await.expect("database"), dir)
    }

    /// The same test's database on each backend: SQLite in a temporary
    /// directory, and a fresh database on the test process's PostgreSQL.
    pub async fn each_db() -> Vec<(Db, Option<tempfile::TempDir>)> {
        let (sqlite, dir) = temp_db().await;
        let url = tokio::task::spawn_blocking(natter_tests::postgres::fresh_database)
            .await
            .expect("postgres starter")
            .expect("a PostgreSQL database");
        let postgres = Db::connect(&url).await.expect("PostgreSQL");
        vec![(sqlite, Some(dir)), (postgres, None)]
    }

    /// Runs `f` in a writer's transaction ([`super::log_tx::LogTx`]) on
    /// `db`, on a thread of its own as the writer does, and commits.
    pub async fn in_log_tx<T: Send + 'static>(
        db: &Db,
        f: impl FnOnce(&super::log_tx::LogTx) -> T + Send + 'static,
    ) -> T {
        use super::log_tx::LogTx;
        let (db, rt) = (db.clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || match &db {
            Db::Sqlite(pool) => {
                let mut conn = super::open_direct(pool).expect("writer's connection");
                let tx = LogTx::sqlite(&mut conn).expect("transaction");
                let out = f(&tx);
                tx.commit().expect("commit");
                out
            }
            Db::Postgres(pool) => {
                let tx = LogTx::postgres(pool, rt).expect("transaction");
                let out = f(&tx);
                tx.commit().expect("commit");
                out
            }
        })
        .await
        .expect("writer's thread")
    }

    /// Which backend, for assertion messages.
    pub fn kind(db: &Db) -> &'static str {
        match db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn user(db: &Db, name: &str) -> UserId {
        let id: i64 = on!(db, |c| sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, created_at, updated_at)
             VALUES ($1, $1, 'unused', 0, 0) RETURNING id",
        )
        .bind(name)
        .fetch_one(c)
        .await)
        .expect("user");
        UserId(id)
    }

    pub async fn group(db: &Db, members: &[UserId]) -> ConversationId {
        let mut tx = db.begin_write().await.expect("transaction");
        let id = super::conversations::create_group(
            &mut tx,
            &natter_common::validate::GroupName::parse("g").expect("name"),
            0,
        )
        .await
        .expect("group");
        for member in members {
            super::members::add(&mut tx, id, *member, Role::Member, 0)
                .await
                .expect("member");
        }
        tx.commit().await.expect("commit");
        id
    }
}

#[cfg(test)]
mod tests {
    /// SQLite is built with `.cargo/config.toml`'s `LIBSQLITE3_FLAGS`; this
    /// fails when they stop reaching its build.
    #[test]
    fn sqlite_is_built_with_the_workspace_flags() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    }
}
