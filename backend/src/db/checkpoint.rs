//! WAL checkpoints off the message writer's path.
//!
//! Left to itself, SQLite checkpoints inside the commit that crosses
//! `wal_autocheckpoint` pages: the writer copies a thousand pages into the
//! database file and syncs it before its `COMMIT` returns, and every send
//! queued behind that commit waits several milliseconds (docs/benchmarks.md).
//! Instead the writer's connection never checkpoints; a thread of its own
//! copies the WAL in the background on another connection, and when the WAL
//! has grown past [`RESTART_FRAMES`] asks the writer to finish the few
//! frames left between two batches, so that the writer's next transaction
//! starts the WAL over from the beginning instead of growing the file.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, RecvTimeoutError},
        Arc,
    },
    time::Duration,
};

use rusqlite::Connection;
use sqlx::SqlitePool;

/// Copy at most this often while messages are committed: each run ends with
/// an fsync of the database file, so a run per commit would double them.
/// A page written again within the interval is copied once: 10 → 100 ms
/// took the checkpointer from ~13 to ~5 µs per `dm` message and from ~22
/// to ~7.5 per `chat` message, with commits no slower (docs/benchmarks.md).
const BUSY_INTERVAL: Duration = Duration::from_millis(100);
/// And at least this often, for writes that don't go through the writer.
const IDLE_INTERVAL: Duration = Duration::from_secs(1);
/// A WAL this long (in 4 KiB pages, ~16 MiB) is started over, at the
/// writer's first batch after the next copy notices.
const RESTART_FRAMES: i64 = 4096;

/// The handle the writer holds; the checkpointer stops when it is dropped
/// or [`Checkpointer::stop`]ped.
pub struct Checkpointer {
    committed: Option<mpsc::SyncSender<()>>,
    restart_wanted: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Cleared when the thread ends, however it ends.
    running: Arc<AtomicBool>,
}

/// Held by a thread: clears its flag when the thread ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What a checkpoint saw: frames in the WAL and how many of them are now in
/// the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalState {
    pub frames: i64,
    pub copied: i64,
}

impl Checkpointer {
    /// Starts the checkpointer on a thread and a connection of its own, both
    /// opened here so that their cost shows at start-up.
    pub fn start(pool: &SqlitePool) -> std::io::Result<Self> {
        let conn = super::open_direct(pool).map_err(std::io::Error::other)?;
        // One pending wake-up is all it needs: commits meanwhile are copied too.
        let (committed, wakes) = mpsc::sync_channel(1);
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let flag = restart_wanted.clone();
        let running = Arc::new(AtomicBool::new(true));
        let alive = Running(running.clone());
        let thread = std::thread::Builder::new()
            .name("natter-checkpoint".into())
            .spawn(move || {
                let _alive = alive;
                yield_to_the_hot_path();
                run(&conn, &wakes, &flag);
            })?;
        Ok(Self {
            committed: Some(committed),
            restart_wanted,
            thread: Some(thread),
            running,
        })
    }

    /// A flag that is true while the checkpointer's thread runs.
    pub fn running(&self) -> Arc<AtomicBool> {
        self.running.clone()
    }

    /// The writer committed something: copy it soon.
    pub fn committed(&self) {
        if let Some(committed) = &self.committed {
            let _ = committed.try_send(());
        }
    }

    /// Stops the thread and waits for it (its copy in progress finishes),
    /// so that nothing else checkpoints while the writer empties the WAL.
    pub fn stop(&mut self) {
        self.committed = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// True (once) when the WAL is long and nearly all copied: the writer
    /// should call [`copy_wal`] between two transactions.
    pub fn take_restart(&self) -> bool {
        self.restart_wanted.swap(false, Ordering::AcqRel)
    }
}

/// Copies whatever of the WAL it can into the database without waiting for
/// anyone (a passive checkpoint). Run by the writer between transactions,
/// after the checkpointer has copied the bulk, it leaves nothing
/// uncopied, and SQLite then starts the WAL over at the writer's next
/// transaction.
pub fn copy_wal(conn: &Connection) -> rusqlite::Result<WalState> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(WalState {
            frames: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Copies all of the WAL into the database and empties it, waiting for
/// readers (a reader still in a transaction makes SQLite answer "busy" and
/// leave frames behind, so it tries again for up to a second): for
/// shutdown, so that no old page image — a deleted message's text, say —
/// outlives the process in the WAL. Returns whether the WAL is empty.
pub fn empty_wal(conn: &Connection) -> rusqlite::Result<bool> {
    for _ in 0..100 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(false)
}

/// Lowers this thread's priority (nice +10): a run copies up to
/// [`BUSY_INTERVAL`]'s pages in one go, and on a busy core the connections'
/// and the writer's threads should not wait behind it. At 100 ms without
/// this, `dm`'s p99 came out above the 10 ms interval's in five runs of
/// six; with it, at or below in four of five (docs/benchmarks.md). Not
/// SCHED_IDLE as the search indexer: on a saturated core this thread must
/// still run, or the WAL grows without end.
fn yield_to_the_hot_path() {
    // SAFETY: nice only changes the caller's priority, 10 above where it
    // was; on Linux that is the calling thread's own.
    let failed = unsafe { libc::nice(10) } == -1;
    if failed {
        tracing::debug!(err = %std::io::Error::last_os_error(), "checkpointer priority unchanged");
    }
}

fn run(conn: &Connection, wakes: &mpsc::Receiver<()>, restart_wanted: &AtomicBool) {
    loop {
        match wakes.recv_timeout(IDLE_INTERVAL) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // The writer is gone; closing the last connection checkpoints the rest.
            Err(RecvTimeoutError::Disconnected) => return,
        }
        match copy_wal(conn) {
            Ok(wal) => {
                tracing::trace!(frames = wal.frames, copied = wal.copied, "checkpoint");
                if wal.frames >= RESTART_FRAMES {
                    restart_wanted.store(true, Ordering::Release);
                }
            }
            // Busy (another checkpoint is running) or I/O trouble: try again
            // on the next round; the WAL only grows meanwhile.
            Err(err) => tracing::warn!(%err, "checkpoint failed"),
        }
        std::thread::sleep(BUSY_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{open_direct, testing::temp_db};

    /// A database with a table to fill, and a writer's connection.
    async fn writer() -> (SqlitePool, tempfile::TempDir, Connection) {
        let (db, dir) = temp_db().await;
        let pool = db.sqlite().unwrap().clone();
        sqlx::query("CREATE TABLE filler (data BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        let writer = open_direct(&pool).unwrap();
        (pool, dir, writer)
    }

    fn write_rows(conn: &mut Connection, rows: usize) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        for _ in 0..rows {
            // A 4 KiB row: about one WAL frame each.
            tx.execute("INSERT INTO filler (data) VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    /// With the writer's own checkpoints off, the WAL is copied in the
    /// background and started over once long, so the file stays bounded.
    #[tokio::test]
    async fn the_wal_is_copied_and_restarted_without_the_writer_checkpointing() {
        let (pool, dir, mut writer) = writer().await;
        let checkpointer = Checkpointer::start(&pool).unwrap();
        let wal = dir.path().join("test.db-wal");
        let mut restarts = 0;
        // Frames written since the WAL was last asked to start over.
        let mut written = 0;
        // Eight times the restart length, a frame per row.
        for _ in 0..(8 * RESTART_FRAMES as usize / 64) {
            write_rows(&mut writer, 64);
            written += 64;
            checkpointer.committed();
            let mut asked = checkpointer.take_restart();
            // Past twice the restart length it must have asked: wait for
            // its copy (it runs at a lower priority, every 100 ms) rather
            // than race it.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !asked && written >= 2 * RESTART_FRAMES && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                asked = checkpointer.take_restart();
            }
            if asked {
                copy_wal(&writer).unwrap();
                restarts += 1;
                written = 0;
            }
        }
        let size = std::fs::metadata(&wal).unwrap().len();
        assert!(restarts > 0, "the writer was never asked to finish a checkpoint");
        // Without restarts the WAL would hold all 32 768 frames (~130 MiB).
        assert!(size < 4 * 4096 * RESTART_FRAMES as u64, "WAL grew to {size} bytes");
    }

    #[tokio::test]
    async fn a_direct_connection_does_not_checkpoint_by_itself() {
        let (_pool, _dir, mut writer) = writer().await;
        // Past SQLite's default autocheckpoint of 1 000 pages.
        for _ in 0..40 {
            write_rows(&mut writer, 64);
        }
        let state = copy_wal(&writer).unwrap();
        assert!(
            state.frames >= 2560,
            "{state:?}: the WAL was started over by an automatic checkpoint"
        );
    }
}
