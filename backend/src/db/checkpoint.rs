//! WAL checkpoints off the message writer's path.
//!
//! Left to itself, SQLite checkpoints inside the commit that crosses
//! `wal_autocheckpoint` pages: the writer copies a thousand pages into the
//! database file and syncs it before its `COMMIT` returns, and every send
//! queued behind that commit waits several milliseconds (docs/benchmarks.md).
//! Instead the writer's connection never checkpoints; this task copies the
//! WAL in the background on a connection of its own, and when the WAL has
//! grown past [`RESTART_FRAMES`] asks the writer to finish the few frames
//! left between two batches, so that the writer's next transaction starts
//! the WAL over from the beginning instead of growing the file.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::Notify;

/// Copy at most this often while messages are committed: each run ends with
/// an fsync of the database file, so a run per commit would double them.
const BUSY_INTERVAL: Duration = Duration::from_millis(20);
/// And at least this often, for writes that don't go through the writer.
const IDLE_INTERVAL: Duration = Duration::from_secs(1);
/// A WAL this long (in 4 KiB pages) is started over: ~16 MiB.
const RESTART_FRAMES: i64 = 4096;

/// The handle the writer holds; the task ends when it is dropped.
pub struct Checkpointer {
    shared: Arc<Shared>,
}

struct Shared {
    committed: Notify,
    restart_wanted: AtomicBool,
}

/// What a checkpoint saw: frames in the WAL and how many of them are now in
/// the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalState {
    pub frames: i64,
    pub copied: i64,
}

impl Checkpointer {
    /// Starts the background task on a connection taken out of `pool`.
    pub fn start(pool: SqlitePool) -> Self {
        let shared = Arc::new(Shared {
            committed: Notify::new(),
            restart_wanted: AtomicBool::new(false),
        });
        tokio::spawn(run(pool, shared.clone()));
        Self { shared }
    }

    /// The writer committed something: copy it soon.
    pub fn committed(&self) {
        self.shared.committed.notify_one();
    }

    /// True (once) when the WAL is long and nearly all copied: the writer
    /// should call [`copy_wal`] between two transactions.
    pub fn take_restart(&self) -> bool {
        self.shared.restart_wanted.swap(false, Ordering::AcqRel)
    }
}

/// Makes `conn` leave checkpoints to the [`Checkpointer`].
pub async fn hand_over(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(conn)
        .await
        .map(drop)
}

/// Copies whatever of the WAL it can into the database without waiting for
/// anyone (a passive checkpoint). Run by the writer between transactions,
/// after the background task has copied the bulk, it leaves nothing
/// uncopied, and SQLite then starts the WAL over at the writer's next
/// transaction.
pub async fn copy_wal(conn: &mut SqliteConnection) -> sqlx::Result<WalState> {
    let (_busy, frames, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    Ok(WalState { frames, copied })
}

async fn run(pool: SqlitePool, shared: Arc<Shared>) {
    // Its own connection, for good (not one an HTTP handler waits for),
    // opened up front so that its cost shows at start-up.
    let mut conn = loop {
        match pool.acquire().await {
            Ok(conn) => break conn.detach(),
            Err(err) => {
                tracing::warn!(%err, "checkpointer has no connection");
                tokio::time::sleep(IDLE_INTERVAL).await;
            }
        }
    };
    loop {
        let _ = tokio::time::timeout(IDLE_INTERVAL, shared.committed.notified()).await;
        if Arc::strong_count(&shared) == 1 {
            // The writer is gone; closing the last connection checkpoints the rest.
            return;
        }
        match copy_wal(&mut conn).await {
            Ok(wal) => {
                tracing::trace!(frames = wal.frames, copied = wal.copied, "checkpoint");
                if wal.frames >= RESTART_FRAMES {
                    shared.restart_wanted.store(true, Ordering::Release);
                }
            }
            // Busy (another checkpoint is running) or I/O trouble: try again
            // on the next round; the WAL only grows meanwhile.
            Err(err) => tracing::warn!(%err, "checkpoint failed"),
        }
        tokio::time::sleep(BUSY_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::temp_pool;

    /// A database with a table to fill, and a writer connection that leaves
    /// checkpoints to others.
    async fn handed_over_writer() -> (SqlitePool, tempfile::TempDir, SqliteConnection) {
        let (pool, dir) = temp_pool().await;
        sqlx::query("CREATE TABLE filler (data BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        let mut writer = pool.acquire().await.unwrap().detach();
        hand_over(&mut writer).await.unwrap();
        (pool, dir, writer)
    }

    async fn write_rows(conn: &mut SqliteConnection, rows: usize) {
        let mut tx = crate::db::begin_write_on(conn).await.unwrap();
        for _ in 0..rows {
            // A 4 KiB row: about one WAL frame each.
            sqlx::query("INSERT INTO filler (data) VALUES (zeroblob(4000))")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// With the writer's own checkpoints off, the WAL is copied in the
    /// background and started over once long, so the file stays bounded.
    #[tokio::test]
    async fn the_wal_is_copied_and_restarted_without_the_writer_checkpointing() {
        let (pool, dir, mut writer) = handed_over_writer().await;
        let checkpointer = Checkpointer::start(pool.clone());
        let wal = dir.path().join("test.db-wal");
        let mut restarts = 0;
        // Eight times the restart length, a frame per row.
        for _ in 0..(8 * RESTART_FRAMES as usize / 64) {
            write_rows(&mut writer, 64).await;
            checkpointer.committed();
            if checkpointer.take_restart() {
                copy_wal(&mut writer).await.unwrap();
                restarts += 1;
            }
            tokio::task::yield_now().await;
        }
        let size = std::fs::metadata(&wal).unwrap().len();
        assert!(restarts > 0, "the writer was never asked to finish a checkpoint");
        // Without restarts the WAL would hold all 32 768 frames (~130 MiB).
        assert!(size < 4 * 4096 * RESTART_FRAMES as u64, "WAL grew to {size} bytes");
    }

    #[tokio::test]
    async fn a_handed_over_connection_does_not_checkpoint_by_itself() {
        let (_pool, _dir, mut writer) = handed_over_writer().await;
        // Past SQLite's default autocheckpoint of 1 000 pages.
        for _ in 0..40 {
            write_rows(&mut writer, 64).await;
        }
        let state = copy_wal(&mut writer).await.unwrap();
        assert!(
            state.frames >= 2560,
            "{state:?}: the WAL was started over by an automatic checkpoint"
        );
    }
}
