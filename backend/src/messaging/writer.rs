//! The writer: one thread owns all message inserts. It takes whatever sends
//! are queued (up to a batch), commits them in one transaction, and only
//! then hands them to the publisher task, which sends the events out and
//! answers each sender. One fsync covers a whole burst, and seq order equals
//! commit order equals delivery order.
//!
//! The writer is a plain thread on a blocking SQLite connection
//! ([`db::append`]) so that a batch's statements run back to back; the
//! publisher stays async because delivery may have to load a conversation's
//! members. While the publisher delivers one batch, the writer stores the
//! next.

use std::collections::HashMap;

use natter_common::{
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
    ErrorCode,
};
use rusqlite::Connection;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{
        self,
        append::{self, SendRight},
        checkpoint::{self, Checkpointer},
    },
    hub::{ConnId, Hub},
};

/// Sends queued beyond this many wait for the next batch.
const MAX_BATCH: usize = 512;
/// A batch (its statements and commit) this slow is logged.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// Sends waiting for the writer before new ones are refused as busy.
const QUEUE_DEPTH: usize = 8192;
/// Committed batches waiting for the publisher before the writer waits too.
const PUBLISH_DEPTH: usize = 64;

pub struct SendRequest {
    pub sender: UserId,
    /// The connection it came from: it gets the ack, not the event.
    pub conn: Option<ConnId>,
    pub client_msg_id: String,
    pub conversation: ConversationId,
    pub content: MessageContent,
    pub reply_to: Option<EventId>,
}

/// The stored event (new, or the original for a repeated `client_msg_id`),
/// or why it was refused.
pub type SendOutcome = Result<Event, (ErrorCode, String)>;

struct Job {
    request: SendRequest,
    reply: oneshot::Sender<SendOutcome>,
}

#[derive(Clone)]
pub struct Messenger {
    queue: mpsc::Sender<Job>,
}

impl Messenger {
    /// Starts the writer thread (and its checkpointer) and the publisher
    /// task. Their connections are opened here: a database the writer
    /// can't open stops the server at start-up, not at the first message.
    pub fn start(pool: SqlitePool, hub: Hub) -> anyhow::Result<Self> {
        use anyhow::Context;
        let conn = db::open_direct(&pool).context("the message writer cannot open the database")?;
        let checkpointer = Checkpointer::start(&pool).context("cannot start the checkpointer")?;
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let (committed, batches) = mpsc::channel(PUBLISH_DEPTH);
        let writer = Writer {
            pool: pool.clone(),
            conn: Some(conn),
            checkpointer,
        };
        std::thread::Builder::new()
            .name("natter-writer".into())
            .spawn(move || writer.run(jobs, committed))
            .context("cannot start the message writer")?;
        tokio::spawn(publish(hub, batches));
        Ok(Self { queue })
    }

    /// Queues a message for storing, in call order, and returns where its
    /// outcome will arrive once it is committed (or refused).
    pub fn submit(&self, request: SendRequest) -> Pending {
        let (reply, answer) = oneshot::channel();
        let queued = self.queue.try_send(Job { request, reply }).is_ok();
        Pending(queued.then_some(answer))
    }
}

/// A queued send's outcome, to await.
pub struct Pending(Option<oneshot::Receiver<SendOutcome>>);

impl Pending {
    pub async fn outcome(self) -> SendOutcome {
        let busy = || (ErrorCode::Unavailable, "The server is busy; try again.".to_owned());
        self.0.ok_or_else(busy)?.await.map_err(|_| busy())?
    }
}

/// A batch as the writer left it: what each job came to, or why none of
/// them was stored.
struct Committed {
    jobs: Vec<Job>,
    steps: rusqlite::Result<Vec<Step>>,
}

enum Step {
    Stored(Event),
    /// Already stored earlier (a retry): acknowledged, not published again.
    Repeat(Event),
    Refused(ErrorCode, String),
}

struct Writer {
    pool: SqlitePool,
    /// Kept for good: SQLite drops a connection's page cache whenever
    /// another connection has written, so a fresh one per batch would
    /// re-read its pages every time. `None` after an error, until reopened.
    conn: Option<Connection>,
    checkpointer: Checkpointer,
}

impl Writer {
    /// Stores batches until every [`Messenger`] is gone (or the publisher).
    fn run(mut self, mut jobs: mpsc::Receiver<Job>, committed: mpsc::Sender<Committed>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            batch.push(first);
            while batch.len() < MAX_BATCH {
                let Ok(job) = jobs.try_recv() else { break };
                batch.push(job);
            }
            let started = std::time::Instant::now();
            let steps = self.store(&batch);
            self.checkpointer.committed();
            self.finish_checkpoint();
            let (size, took) = (batch.len(), started.elapsed());
            // Every send waits for the batch before it: a slow one shows up as
            // latency for everybody, so say so.
            if took >= SLOW_BATCH {
                tracing::warn!(size, millis = took.as_millis() as u64, "slow message batch");
            } else {
                tracing::trace!(size, micros = took.as_micros() as u64, "message batch");
            }
            if committed.blocking_send(Committed { jobs: batch, steps }).is_err() {
                tracing::error!("the publisher is gone; the message writer stops");
                return;
            }
        }
    }

    fn store(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Step>> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => empty.insert(db::open_direct(&self.pool)?),
        };
        let stored = insert_batch(conn, jobs);
        if stored.is_err() {
            // Start over on a fresh connection next time.
            self.conn = None;
        }
        stored
    }

    /// Copies the last WAL frames when the checkpointer asks, so that the
    /// next transaction starts the WAL over.
    fn finish_checkpoint(&mut self) {
        if let Some(conn) = self.conn.as_ref().filter(|_| self.checkpointer.take_restart()) {
            if let Err(err) = checkpoint::copy_wal(conn) {
                tracing::warn!(%err, "finishing a checkpoint failed");
            }
        }
    }
}

/// Publishes committed batches in commit order, then answers their senders.
async fn publish(hub: Hub, mut batches: mpsc::Receiver<Committed>) {
    while let Some(Committed { jobs, steps }) = batches.recv().await {
        let steps = match steps {
            Ok(steps) => steps,
            Err(err) => {
                // Nothing was committed, so nothing is acknowledged; clients
                // retry with the same client_msg_id.
                tracing::error!(%err, sends = jobs.len(), "message batch failed");
                for job in jobs {
                    let _ = job.reply.send(Err((
                        ErrorCode::Internal,
                        "The message could not be stored; retry.".into(),
                    )));
                }
                continue;
            }
        };
        for (job, step) in jobs.into_iter().zip(steps) {
            let outcome = match step {
                Step::Stored(event) => {
                    hub.publish(std::slice::from_ref(&event), job.request.conn).await;
                    Ok(event)
                }
                Step::Repeat(event) => Ok(event),
                Step::Refused(code, message) => Err((code, message)),
            };
            let _ = job.reply.send(outcome);
        }
    }
}

/// Checks and inserts every job in one transaction. A plain message costs
/// one statement: the insert checks the sender's right and the unique index
/// catches a repeated `client_msg_id`; the reasons are looked up only when
/// it stores nothing.
fn insert_batch(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<Vec<Step>> {
    let now = db::now_ms();
    let tx = append::begin(conn)?;
    let mut in_batch: HashMap<(UserId, &str), Event> = HashMap::new();
    let mut steps = Vec::with_capacity(jobs.len());
    for Job { request: r, .. } in jobs {
        let key = (r.sender, r.client_msg_id.as_str());
        if let Some(event) = in_batch.get(&key) {
            steps.push(Step::Repeat(event.clone()));
            continue;
        }
        if r.reply_to.is_some() || matches!(r.content, MessageContent::Image { .. }) {
            if let Some(step) = check_references(&tx, r)? {
                steps.push(step);
                continue;
            }
        }
        let body = EventBody::Message {
            content: r.content.clone(),
            reply_to: r.reply_to.clone(),
        };
        let step = match append::message(&tx, r.conversation, r.sender, &r.client_msg_id, body, now) {
            Ok(Some(event)) => {
                in_batch.insert(key, event.clone());
                Step::Stored(event)
            }
            Ok(None) => refusal(&tx, r)?,
            Err(err) if append::is_repeat(&err) => repeat(&tx, r)?,
            Err(err) => return Err(err),
        };
        steps.push(step);
    }
    tx.commit()?;
    Ok(steps)
}

/// The original of a repeated send.
fn repeat(tx: &Connection, r: &SendRequest) -> rusqlite::Result<Step> {
    let original = append::by_client_msg_id(tx, r.sender, &r.client_msg_id)?;
    Ok(original.map_or_else(
        || Step::Refused(ErrorCode::Internal, "The message could not be stored; retry.".into()),
        Step::Repeat,
    ))
}

/// Why a send stored nothing: a repeat (acknowledged even if the sender has
/// since lost the right to post) or no right to post.
fn refusal(tx: &Connection, r: &SendRequest) -> rusqlite::Result<Step> {
    if let Some(event) = append::by_client_msg_id(tx, r.sender, &r.client_msg_id)? {
        return Ok(Step::Repeat(event));
    }
    Ok(match append::send_right(tx, r.conversation, r.sender)? {
        SendRight::NotContacts => Step::Refused(ErrorCode::NotContacts, "You can only message your contacts.".into()),
        SendRight::NotMember | SendRight::Allowed => Step::Refused(ErrorCode::NotFound, "No such conversation.".into()),
    })
}

/// For messages that point at something (an image, a replied-to event): a
/// repeat, or a refusal when the reference is not the sender's to use;
/// `None` to go on.
fn check_references(tx: &Connection, r: &SendRequest) -> rusqlite::Result<Option<Step>> {
    if let Some(event) = append::by_client_msg_id(tx, r.sender, &r.client_msg_id)? {
        return Ok(Some(Step::Repeat(event)));
    }
    if append::send_right(tx, r.conversation, r.sender)? != SendRight::Allowed {
        return refusal(tx, r).map(Some);
    }
    if let MessageContent::Image { media_id } = &r.content {
        // Posting an image shares it; only images you may see can be shared.
        if !append::media_visible_to(tx, media_id, r.sender)? {
            return Ok(Some(Step::Refused(
                ErrorCode::InvalidInput {
                    field: "media_id".into(),
                },
                "Unknown image: upload it first.".into(),
            )));
        }
    }
    if let Some(target) = &r.reply_to {
        if !append::exists_in(tx, r.conversation, target)? {
            return Ok(Some(Step::Refused(
                ErrorCode::InvalidInput {
                    field: "reply_to".into(),
                },
                "The message you reply to is not in this conversation.".into(),
            )));
        }
    }
    Ok(None)
}
