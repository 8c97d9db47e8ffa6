//! The writer: one thread owns every write to the logs. It takes whatever
//! commands are queued (up to a batch), checks and stores them in one
//! transaction, and only then hands the batch to the publisher. One fsync
//! covers a whole burst.
//!
//! A plain thread ([`LogTx`]) so that a batch's statements run back to
//! back; while the publisher delivers one batch, the writer stores the next.

use std::sync::Arc;

use natter_common::ids::{ConversationId, UserId};
use rusqlite::Connection;
use sqlx::{PgPool, SqlitePool};
use tokio::{
    runtime::Handle,
    sync::{mpsc, oneshot, watch},
};

use super::{
    actions,
    audience::Audience,
    groups,
    publisher::{self, Committed, Publish, Step, Stored},
    Command, Done, Outcome, Pending, Refusal, Submission,
};
use crate::{
    db::{
        self,
        checkpoint::{self, Checkpointer},
        log_tx::{self, LogTx},
        read_markers, Db,
    },
    hub::{Hub, MemberIndex},
    media::MediaStore,
    push::Push,
    search::Feed,
};

/// Commands queued beyond this many wait for the next batch. Under a flood
/// of sends each batch fills, so this sets how many share a commit's fsync
/// and WAL pages (`durable`: 512 → 2 048 took ~72 000 to ~81 000 acked/s);
/// a batch of this size stores in tens of milliseconds.
const MAX_BATCH: usize = 2048;
/// A batch (its statements and commit) this slow is logged.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// Commands waiting for the writer before new ones are refused as busy.
const QUEUE_DEPTH: usize = 8192;
/// Committed batches waiting for the publisher before the writer waits too
/// (each up to [`MAX_BATCH`] commands).
const PUBLISH_DEPTH: usize = 16;
/// Times a batch is run before a deadlock with another node's writer
/// (PostgreSQL) fails it.
const ATTEMPTS: usize = 3;

/// A queued command and who waits for its outcome.
pub(super) struct Entry {
    pub submission: Submission,
    pub reply: Option<oneshot::Sender<Outcome>>,
}

enum Job {
    Command(Box<Entry>),
    /// Store what is queued before it, empty the WAL, and stop.
    Stop(oneshot::Sender<()>),
}

/// The handle to the writer: cheap to clone.
#[derive(Clone)]
pub struct Log {
    queue: mpsc::Sender<Job>,
    /// True while the checkpointer's thread runs (the WAL is kept short);
    /// `None` on PostgreSQL, which has none.
    checkpointing: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Closed when the publisher has handed on the last committed batch.
    publishing: watch::Receiver<()>,
}

impl Log {
    /// Starts the writer thread (and its checkpointer) and the publisher
    /// task. Their connections are opened here: a database the writer
    /// can't open stops the server at start-up, not at the first message.
    pub fn start(db: &Db, hub: Hub, media: MediaStore, search: Arc<Feed>, push: Option<Push>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (store, checkpointing) = match db {
            Db::Sqlite(pool) => {
                let conn = db::open_direct(pool).context("the log's writer cannot open the database")?;
                let checkpointer = Checkpointer::start(pool).context("cannot start the checkpointer")?;
                let checkpointing = checkpointer.running();
                let store = Store::Sqlite {
                    pool: pool.clone(),
                    conn: Some(conn),
                    checkpointer,
                };
                (store, Some(checkpointing))
            }
            Db::Postgres(pool) => {
                let store = Store::Postgres {
                    pool: pool.clone(),
                    rt: Handle::current(),
                };
                (store, None)
            }
        };
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let (committed, batches) = mpsc::channel(PUBLISH_DEPTH);
        let writer = Writer {
            store,
            members: hub.member_index(),
            search,
        };
        std::thread::Builder::new()
            .name("natter-writer".into())
            .spawn(move || writer.run(jobs, committed))
            .context("cannot start the log's writer")?;
        let (published, publishing) = watch::channel(());
        tokio::spawn(async move {
            publisher::run(hub, media, push, batches).await;
            drop(published);
        });
        Ok(Self {
            queue,
            checkpointing,
            publishing,
        })
    }

    /// Whether the writer and its checkpointer are still running; when
    /// either has stopped, nothing can be stored (or the WAL grows without
    /// end) and the server is not ready.
    pub fn is_running(&self) -> bool {
        let checkpointing =
            |running: &Arc<std::sync::atomic::AtomicBool>| running.load(std::sync::atomic::Ordering::Acquire);
        !self.queue.is_closed() && self.checkpointing.as_ref().is_none_or(checkpointing)
    }

    /// Queues a command, in call order; its answers go to its connection.
    /// Refused at once when the writer is too far behind.
    pub fn submit(&self, submission: Submission) -> Result<(), Refusal> {
        let entry = Entry {
            submission,
            reply: None,
        };
        self.queue
            .try_send(Job::Command(Box::new(entry)))
            .map_err(|_| Refusal::busy())
    }

    /// Queues a command and returns where its outcome arrives once it is
    /// committed and published (or refused).
    pub fn request(&self, submission: Submission) -> Pending {
        let (reply, answer) = oneshot::channel();
        let entry = Entry {
            submission,
            reply: Some(reply),
        };
        let queued = self.queue.try_send(Job::Command(Box::new(entry))).is_ok();
        Pending(queued.then_some(answer))
    }

    /// Stores what is queued, empties the WAL into the database, stops the
    /// writer, and returns once the publisher has handed on what it
    /// committed (at shutdown).
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Job::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
        // The writer gone, the publisher ends after its last batch (and
        // drops the sender: the wait ends in an error, as it should).
        let _ = self.publishing.clone().wait_for(|_| false).await;
    }
}

struct Writer {
    store: Store,
    members: Arc<MemberIndex>,
    /// Told which conversations' text changed, after each commit.
    search: Arc<Feed>,
}

impl Writer {
    /// Stores batches until every [`Log`] is gone, the publisher is, or it is
    /// told to stop.
    fn run(mut self, mut jobs: mpsc::Receiver<Job>, committed: mpsc::Sender<Committed>) {
        let mut stop = None;
        while let Some(first) = jobs.blocking_recv() {
            // Room for what is queued now: most batches are a few commands.
            let mut batch = Vec::with_capacity((jobs.len() + 1).min(MAX_BATCH));
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Command(entry) => batch.push(*entry),
                    Job::Stop(done) => {
                        stop = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = jobs.try_recv().ok();
                }
            }
            if !batch.is_empty() && !self.commit(batch, &committed) {
                tracing::error!("the publisher is gone; the log's writer stops");
                return;
            }
            if let Some(done) = stop {
                // Closed before the answer, so whoever asked for the stop
                // already sees the log as not running.
                jobs.close();
                self.close();
                let _ = done.send(());
                return;
            }
        }
    }

    /// Stores a batch and hands it to the publisher; false when there is no
    /// publisher any more.
    fn commit(&mut self, entries: Vec<Entry>, committed: &mpsc::Sender<Committed>) -> bool {
        let started = std::time::Instant::now();
        let stored = self.store(&entries);
        if stored.is_ok() {
            self.search
                .touched(entries.iter().filter_map(|e| e.submission.command.changes_text()));
        }
        self.finish_checkpoint();
        let (size, took) = (entries.len(), started.elapsed());
        crate::metrics::log_batch(size, took);
        // Every command waits for the batch before it: a slow one shows up
        // as latency for everybody, so say so.
        if took >= SLOW_BATCH {
            tracing::warn!(size, millis = took.as_millis() as u64, "slow log batch");
        } else {
            tracing::trace!(size, micros = took.as_micros() as u64, "log batch");
        }
        let at = std::time::Instant::now();
        committed.blocking_send(Committed { entries, stored, at }).is_ok()
    }

    fn store(&mut self, entries: &[Entry]) -> log_tx::Result<Stored> {
        match &mut self.store {
            Store::Sqlite { pool, conn, .. } => {
                let open = match conn.take() {
                    Some(open) => open,
                    None => db::open_direct(pool)?,
                };
                let open = conn.insert(open);
                let stored = store_batch(LogTx::sqlite(open)?, &self.members, entries);
                if stored.is_err() {
                    // Start over on a fresh connection next time.
                    *conn = None;
                }
                stored
            }
            Store::Postgres { pool, rt } => {
                let mut attempt = 1;
                loop {
                    match store_batch(LogTx::postgres(pool, rt.clone())?, &self.members, entries) {
                        Err(err) if err.is_retryable() && attempt < ATTEMPTS => {
                            tracing::debug!(%err, attempt, "log batch retried");
                            attempt += 1;
                        }
                        stored => return stored,
                    }
                }
            }
        }
    }

    /// Copies the last WAL frames when the checkpointer asks, so that the
    /// next transaction starts the WAL over.
    fn finish_checkpoint(&mut self) {
        let Store::Sqlite { conn, checkpointer, .. } = &mut self.store else {
            return;
        };
        checkpointer.committed();
        if let Some(conn) = conn.as_ref().filter(|_| checkpointer.take_restart()) {
            if let Err(err) = checkpoint::copy_wal(conn) {
                tracing::warn!(%err, "finishing a checkpoint failed");
            }
        }
    }

    fn close(&mut self) {
        let Store::Sqlite { conn, checkpointer, .. } = &mut self.store else {
            return;
        };
        checkpointer.stop();
        if let Some(conn) = conn.take() {
            match checkpoint::empty_wal(&conn) {
                Ok(true) => {}
                Ok(false) => tracing::warn!("readers kept the WAL from being emptied at shutdown"),
                Err(err) => tracing::warn!(%err, "emptying the WAL at shutdown failed"),
            }
        }
    }
}

/// Where the writer stores batches.
enum Store {
    Sqlite {
        pool: SqlitePool,
        /// Kept for good: SQLite drops a connection's page cache whenever
        /// another connection has written, so a fresh one per batch would
        /// re-read its pages every time. `None` after an error, until reopened.
        conn: Option<Connection>,
        checkpointer: Checkpointer,
    },
    Postgres {
        pool: PgPool,
        /// Drives the pool's connections from the writer's thread.
        rt: Handle,
    },
}

/// What commands of one transaction share.
pub(super) struct Batch<'t> {
    pub tx: &'t LogTx<'t>,
    pub now: i64,
    /// Who receives each conversation's events, as of each point in the batch.
    pub audience: Audience<'t>,
    /// Images that no message shows any more, whose files go after the commit.
    pub dropped_media: Vec<String>,
}

/// Checks and stores every command in one transaction. A check that refuses
/// a command comes before any of its writes, so a refusal leaves nothing.
fn store_batch(tx: LogTx, members: &MemberIndex, entries: &[Entry]) -> log_tx::Result<Stored> {
    let mut touched: Vec<ConversationId> = entries
        .iter()
        .filter_map(|e| e.submission.command.conversation())
        .collect();
    tx.lock_conversations(&mut touched)?;
    let mut batch = Batch {
        tx: &tx,
        now: db::now_ms(),
        audience: Audience::new(members, tx.shared()),
        dropped_media: Vec::new(),
    };
    let mut steps = Vec::with_capacity(entries.len());
    let mut sends = actions::Sends::default();
    for (n, entry) in entries.iter().enumerate() {
        let by = entry.submission.by;
        if let Command::Send {
            client_msg_id,
            conversation,
            content,
            reply_to,
        } = &entry.submission.command
        {
            if actions::Sends::takes(content, reply_to.as_ref()) {
                sends.push(&batch, n, by, client_msg_id, *conversation, content)?;
                // Its step comes when the run is stored.
                steps.push(Step::answer(Ok(Done::Nothing)));
                continue;
            }
        }
        // Whatever else comes sees the messages before it stored.
        sends.flush(&mut batch, &mut steps)?;
        let step = match &entry.submission.command {
            Command::Read { conversation, seq } => {
                // A later marker of the same reader in this batch covers this one.
                let superseded = entries[n + 1..].iter().any(|later| {
                    later.submission.by == by
                        && matches!(later.submission.command, Command::Read { conversation: c, seq: s } if c == *conversation && s >= *seq)
                });
                if superseded {
                    Step::answer(Ok(Done::Nothing))
                } else {
                    read(&mut batch, by, *conversation, *seq)?
                }
            }
            Command::Group(change) => groups::apply(&mut batch, by, change)?,
            Command::Send {
                client_msg_id,
                conversation,
                content,
                reply_to,
            } => actions::send(&mut batch, by, client_msg_id, *conversation, content, reply_to.as_ref())?,
            Command::Edit {
                client_msg_id,
                conversation,
                target,
                text,
            } => actions::edit(&mut batch, by, client_msg_id, *conversation, target, text)?,
            Command::Delete {
                client_msg_id,
                conversation,
                target,
            } => actions::delete(&mut batch, by, client_msg_id, *conversation, target)?,
            Command::React {
                client_msg_id,
                conversation,
                target,
                emoji,
                on,
            } => actions::react(&mut batch, by, client_msg_id, *conversation, target, emoji, *on)?,
        };
        steps.push(step);
    }
    sends.flush(&mut batch, &mut steps)?;
    let Batch {
        audience,
        dropped_media,
        ..
    } = batch;
    let (audiences, members_changed) = audience.into_lists();
    tx.commit()?;
    members.replace(audiences);
    Ok(Stored {
        steps,
        dropped_media,
        members_changed,
    })
}

/// Moves a reader's marker; members only.
fn read(batch: &mut Batch, user: UserId, conversation: ConversationId, seq: i64) -> log_tx::Result<Step> {
    let to = batch.audience.of(batch.tx, conversation)?;
    if !to.contains(&user) {
        return Ok(Step::answer(Err(Refusal::not_found("No such conversation."))));
    }
    let position = read_markers::advance(batch.tx, user, conversation, seq)?;
    Ok(Step {
        answer: Ok(Done::Nothing),
        publish: Publish::Read {
            conversation,
            position,
            to,
        },
    })
}
