//! The log writer's transaction, on either database. The writer runs on a
//! thread of its own and its statements run back to back: on SQLite through
//! a blocking rusqlite connection (through sqlx each statement would cost
//! two context switches; docs/benchmarks.md), on PostgreSQL through a sqlx
//! connection, one `block_on` per statement (the network round trip costs
//! far more than that).
//!
//! SQL here uses `$N` placeholders. On SQLite each is bound by its name,
//! so their order of appearance need not follow their numbers. A list of
//! numbers is one parameter ([`Arg::Ints`], read through [`LogTx::ints`]),
//! so that a change touching thousands of rows is still one round trip on
//! PostgreSQL.

use std::cell::RefCell;

use natter_common::ids::ConversationId;
use rusqlite::{
    types::{FromSql, ToSqlOutput},
    CachedStatement, Connection, ToSql, TransactionBehavior,
};
use sqlx::{postgres::PgRow, PgPool, Postgres};
use tokio::runtime::Handle;

/// A failed statement or commit; the whole batch is undone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    #[error("cannot encode an event body: {0}")]
    Json(#[from] serde_json::Error),
    /// Another node stored a message under the same sender's id while a run
    /// of messages was being stored: running the batch again skips it.
    #[error("another node stored the same message meanwhile")]
    Raced,
}

/// The transaction of a [`PgTx`], while it lasts.
type PgConn<'a> = std::cell::RefMut<'a, sqlx::Transaction<'static, Postgres>>;

impl Error {
    /// A deadlock or serialization failure on PostgreSQL: the batch may
    /// succeed if run again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Postgres(sqlx::Error::Database(err)) => matches!(err.code().as_deref(), Some("40P01" | "40001")),
            Self::Raced => true,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A statement's parameter: `$1` is the first.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    /// A list, read as a table through [`LogTx::ints`]: a `bigint[]` on
    /// PostgreSQL, its JSON text on SQLite.
    Ints(&'a [i64]),
    /// A list of texts: a `text[]` on PostgreSQL, its JSON text on SQLite.
    Texts(&'a [String]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a [i64]> for Arg<'a> {
    fn from(v: &'a [i64]) -> Self {
        Self::Ints(v)
    }
}

impl<'a> From<&'a Vec<i64>> for Arg<'a> {
    fn from(v: &'a Vec<i64>) -> Self {
        Self::Ints(v)
    }
}

impl<'a> From<&'a Vec<String>> for Arg<'a> {
    fn from(v: &'a Vec<String>) -> Self {
        Self::Texts(v)
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Self::Int(v) => v.to_sql(),
            Self::Text(v) => v.to_sql(),
            Self::Ints(v) => json(v),
            Self::Texts(v) => json(v),
        }
    }
}

fn json<T: serde::Serialize + ?Sized>(list: &T) -> rusqlite::Result<ToSqlOutput<'static>> {
    serde_json::to_string(list)
        .map(ToSqlOutput::from)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
}

/// `args![a, b]`: the parameters `$1`, `$2` of a statement.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::db::log_tx::Arg::from($arg)),*]
    };
}
pub(crate) use args;

/// A value a column can be read as on both databases.
pub trait Value: FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> {}
impl<T: FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>> Value for T {}

/// A result row.
pub enum Row<'r, 's> {
    Sqlite(&'r rusqlite::Row<'s>),
    Postgres(&'r PgRow),
}

impl Row<'_, '_> {
    /// Column `index`, from 0.
    pub fn get<T: Value>(&self, index: usize) -> Result<T> {
        Ok(match self {
            Self::Sqlite(row) => row.get(index)?,
            Self::Postgres(row) => sqlx::Row::try_get(*row, index)?,
        })
    }
}

/// The writer's write transaction.
pub enum LogTx<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres(PgTx),
}

/// A PostgreSQL transaction driven from the writer's thread.
pub struct PgTx {
    rt: Handle,
    /// `None` once committed.
    tx: RefCell<Option<sqlx::Transaction<'static, Postgres>>>,
}

impl PgTx {
    fn conn(&self) -> PgConn<'_> {
        std::cell::RefMut::map(self.tx.borrow_mut(), |tx| {
            // Committing consumes the `LogTx`: nothing can reach it after.
            tx.as_mut().expect("a transaction that was not committed")
        })
    }
}

/// Rolled back here, on the runtime: sqlx would otherwise roll it back from
/// its own drop, which needs to run on one.
impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.get_mut().take() {
            if let Err(err) = self.rt.block_on(tx.rollback()) {
                tracing::warn!(%err, "rolling back a log transaction failed");
            }
        }
    }
}

impl<'c> LogTx<'c> {
    /// Starts a transaction holding SQLite's write lock from the start (as
    /// [`super::Db::begin_write`] does for the pool).
    pub fn sqlite(conn: &'c mut Connection) -> Result<Self> {
        Ok(Self::Sqlite(
            conn.transaction_with_behavior(TransactionBehavior::Immediate)?,
        ))
    }

    /// Starts a transaction on PostgreSQL; `rt` drives it from a thread
    /// outside the runtime.
    pub fn postgres(pool: &PgPool, rt: Handle) -> Result<Self> {
        let tx = rt.block_on(pool.begin())?;
        Ok(Self::Postgres(PgTx {
            rt,
            tx: RefCell::new(Some(tx)),
        }))
    }

    /// Whether other processes (nodes) write to this database too: true on
    /// PostgreSQL. On SQLite the data directory's lock keeps them out.
    pub fn shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The numbers bound to `param` (an [`Arg::Ints`]) as a table `alias`
    /// with one row each, in column `value`, for `FROM` or `JOIN`.
    pub fn ints(&self, param: &str, alias: &str) -> String {
        match self {
            Self::Sqlite(_) => format!("json_each({param}) AS {alias}"),
            Self::Postgres(_) => format!("unnest({param}::bigint[]) AS {alias}(value)"),
        }
    }

    /// Runs a statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64> {
        self.repeat(sql)?.execute(args)
    }

    /// A statement to run many times in this transaction (an insert per
    /// message of a run), found in the statement cache once: the look-up
    /// hashes the SQL twice, ~5 % of the writer's time per message.
    pub fn repeat<'t>(&'t self, sql: &'t str) -> Result<Repeat<'t>> {
        Ok(match self {
            Self::Sqlite(tx) => Repeat::Sqlite {
                stmt: tx.prepare_cached(sql)?,
                sql,
            },
            Self::Postgres(pg) => Repeat::Postgres { pg, sql },
        })
    }

    /// The first row a query returns, read by `read`; `None` when there is none.
    pub fn row<T>(&self, sql: &str, args: &[Arg], read: impl FnOnce(&Row) -> Result<T>) -> Result<Option<T>> {
        match self {
            Self::Sqlite(tx) => {
                let mut stmt = bind(tx, sql, args)?;
                let mut rows = stmt.raw_query();
                match rows.next()? {
                    Some(row) => read(&Row::Sqlite(row)).map(Some),
                    None => Ok(None),
                }
            }
            Self::Postgres(pg) => {
                let mut tx = pg.conn();
                match pg.rt.block_on(query(sql, args).fetch_optional(&mut **tx))? {
                    Some(row) => read(&Row::Postgres(&row)).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// The one column of the first row a query returns.
    pub fn value<T: Value>(&self, sql: &str, args: &[Arg]) -> Result<Option<T>> {
        self.row(sql, args, |row| row.get(0))
    }

    /// Every row a query returns, each read by `read`.
    pub fn rows<T>(&self, sql: &str, args: &[Arg], mut read: impl FnMut(&Row) -> Result<T>) -> Result<Vec<T>> {
        let mut found = Vec::new();
        match self {
            Self::Sqlite(tx) => {
                let mut stmt = bind(tx, sql, args)?;
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next()? {
                    found.push(read(&Row::Sqlite(row))?);
                }
            }
            Self::Postgres(pg) => {
                let mut tx = pg.conn();
                for row in pg.rt.block_on(query(sql, args).fetch_all(&mut **tx))? {
                    found.push(read(&Row::Postgres(&row))?);
                }
            }
        }
        Ok(found)
    }

    /// Makes writers on other nodes wait for this transaction before they
    /// append to these conversations, so that each event takes the seq
    /// after the newest committed one. Rows are locked in id order, so two
    /// batches can't deadlock on them. SQLite's write lock does this for the
    /// whole database already.
    pub fn lock_conversations(&self, ids: &mut Vec<ConversationId>) -> Result<()> {
        let Self::Postgres(pg) = self else {
            return Ok(());
        };
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let mut tx = pg.conn();
        pg.rt.block_on(
            sqlx::query("SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
                .bind(ids)
                .fetch_all(&mut **tx),
        )?;
        Ok(())
    }

    pub fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => Ok(tx.commit()?),
            Self::Postgres(pg) => {
                let tx = pg.tx.borrow_mut().take();
                match tx {
                    Some(tx) => Ok(pg.rt.block_on(tx.commit())?),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A statement of [`LogTx::repeat`].
pub enum Repeat<'t> {
    Sqlite {
        stmt: CachedStatement<'t>,
        sql: &'t str,
    },
    /// sqlx keeps each connection's statements prepared already.
    Postgres {
        pg: &'t PgTx,
        sql: &'t str,
    },
}

impl Repeat<'_> {
    /// Runs it with `args`; how many rows it changed.
    pub fn execute(&mut self, args: &[Arg]) -> Result<u64> {
        match self {
            Self::Sqlite { stmt, sql } => {
                bind_args(stmt, sql, args)?;
                Ok(stmt.raw_execute()? as u64)
            }
            Self::Postgres { pg, sql } => {
                let mut tx = pg.conn();
                Ok(pg.rt.block_on(query(sql, args).execute(&mut **tx))?.rows_affected())
            }
        }
    }
}

/// A thread's own way into the database, for work outside the runtime (the
/// search indexer, bulk writes of admin tasks): a blocking connection, or
/// the pool and a runtime handle.
pub enum LogConn {
    Sqlite(Connection),
    Postgres { pool: PgPool, rt: Handle },
}

impl LogConn {
    /// Opens one on `db`; called on the runtime, whose handle it keeps.
    pub fn open(db: &super::Db) -> Result<Self> {
        Ok(match db {
            super::Db::Sqlite(pool) => Self::Sqlite(super::open_direct(pool)?),
            super::Db::Postgres(pool) => Self::Postgres {
                pool: pool.clone(),
                rt: Handle::current(),
            },
        })
    }

    /// A write transaction ([`LogTx::sqlite`], [`LogTx::postgres`]).
    pub fn write(&mut self) -> Result<LogTx<'_>> {
        match self {
            Self::Sqlite(conn) => LogTx::sqlite(conn),
            Self::Postgres { pool, rt } => LogTx::postgres(pool, rt.clone()),
        }
    }

    /// A transaction to read in: one snapshot, no write lock.
    pub fn read(&mut self) -> Result<LogTx<'_>> {
        match self {
            Self::Sqlite(conn) => Ok(LogTx::Sqlite(
                conn.transaction_with_behavior(TransactionBehavior::Deferred)?,
            )),
            Self::Postgres { pool, rt } => LogTx::postgres(pool, rt.clone()),
        }
    }
}

/// A cached statement with `args` bound to `$1`, `$2`, ….
fn bind<'c>(conn: &'c Connection, sql: &str, args: &[Arg]) -> rusqlite::Result<CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_args(&mut stmt, sql, args)?;
    Ok(stmt)
}

/// Binds `args` to `$1`, `$2`, … SQLite numbers a statement's parameters
/// in the order they first appear and keeps each one's name, so each
/// position is bound to the argument its name says.
fn bind_args(stmt: &mut rusqlite::Statement, sql: &str, args: &[Arg]) -> rusqlite::Result<()> {
    debug_assert_eq!(stmt.parameter_count(), args.len(), "parameters of {sql}");
    for index in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(index).unwrap_or_default();
        let arg = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?));
        match arg {
            Some(arg) => stmt.raw_bind_parameter(index, arg)?,
            None => {
                let what = format!("{name:?} (parameter {index}, {} given) in {sql}", args.len());
                return Err(rusqlite::Error::InvalidParameterName(what));
            }
        }
    }
    Ok(())
}

fn query<'q>(sql: &'q str, args: &'q [Arg<'q>]) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    args.iter().fold(sqlx::query(sql), |query, arg| match *arg {
        Arg::Int(v) => query.bind(v),
        Arg::Text(v) => query.bind(v),
        Arg::Ints(v) => query.bind(v),
        Arg::Texts(v) => query.bind(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$N` takes the Nth argument wherever it stands and however often; a
    /// placeholder with no argument is an error, not a NULL.
    #[test]
    fn parameters_are_bound_by_their_number() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT)").unwrap();
        let tx = LogTx::sqlite(&mut conn).unwrap();
        let sum: Option<i64> = tx.value("SELECT $2 * 10 + $1 + $2", args![1, 2]).unwrap();
        assert_eq!(sum, Some(23));
        let mut insert = tx.repeat("INSERT INTO t (b, a) VALUES ($2, $1)").unwrap();
        for (a, b) in [(1, "one"), (2, "two")] {
            assert_eq!(insert.execute(args![a, b]).unwrap(), 1);
        }
        drop(insert);
        let rows = tx
            .rows("SELECT a, b FROM t ORDER BY a", &[], |row| {
                Ok((row.get::<i64>(0)?, row.get::<String>(1)?))
            })
            .unwrap();
        assert_eq!(rows, vec![(1, "one".to_owned()), (2, "two".to_owned())]);
        for sql in ["SELECT $2", "SELECT :x", "SELECT ?"] {
            let err = tx.value::<i64>(sql, args![1]).unwrap_err();
            assert!(
                matches!(err, Error::Sqlite(rusqlite::Error::InvalidParameterName(_))),
                "{sql}: {err}"
            );
        }
    }
}
