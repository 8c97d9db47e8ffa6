//! The writer: one task owns all message inserts. It takes whatever sends
//! are queued (up to a batch), commits them in one transaction, and only
//! then answers each sender and publishes the events. One fsync covers a
//! whole burst, and seq order equals commit order equals delivery order.

use std::collections::HashMap;

use natter_common::{
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
    ErrorCode,
};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{self, checkpoint::Checkpointer, events::SendRight},
    hub::{ConnId, Hub},
};

/// Sends queued beyond this many wait for the next batch.
const MAX_BATCH: usize = 512;
/// A batch (its statements, commit and publishing) this slow is logged.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// Sends waiting for the writer before new ones are refused as busy.
const QUEUE_DEPTH: usize = 8192;

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
    /// Starts the writer task.
    pub fn start(pool: SqlitePool, hub: Hub) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(pool, hub, jobs));
        Self { queue }
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

async fn run(pool: SqlitePool, hub: Hub, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // One connection, kept: SQLite drops a connection's page cache whenever
    // another connection has written, so a writer taking any pooled
    // connection per batch would re-read its pages every time.
    let mut conn = None;
    let checkpointer = Checkpointer::start(pool.clone());
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (size, started) = (batch.len(), std::time::Instant::now());
        commit_batch(&pool, &mut conn, &hub, std::mem::take(&mut batch)).await;
        checkpointer.committed();
        if let Some(conn) = conn.as_mut().filter(|_| checkpointer.take_restart()) {
            if let Err(err) = db::checkpoint::copy_wal(conn).await {
                tracing::warn!(%err, "finishing a checkpoint failed");
            }
        }
        let took = started.elapsed();
        // Every send waits for the batch before it: a slow one shows up as
        // latency for everybody, so say so.
        if took >= SLOW_BATCH {
            tracing::warn!(size, millis = took.as_millis() as u64, "slow message batch");
        } else {
            tracing::trace!(size, micros = took.as_micros() as u64, "message batch");
        }
    }
}

enum Step {
    Stored(Event),
    /// Already stored earlier (a retry): acknowledged, not published again.
    Repeat(Event),
    Refused(ErrorCode, String),
}

async fn commit_batch(pool: &SqlitePool, conn: &mut Option<SqliteConnection>, hub: &Hub, jobs: Vec<Job>) {
    let stored = match conn {
        Some(conn) => store(conn, &jobs).await,
        None => match own_connection(pool).await {
            Ok(fresh) => store(conn.insert(fresh), &jobs).await,
            Err(err) => Err(err),
        },
    };
    let steps = match stored {
        Ok(steps) => steps,
        Err(err) => {
            // Start over on a fresh connection next time.
            *conn = None;
            // Nothing was committed, so nothing is acknowledged; clients retry
            // with the same client_msg_id.
            tracing::error!(%err, sends = jobs.len(), "message batch failed");
            for job in jobs {
                let _ = job.reply.send(Err((
                    ErrorCode::Internal,
                    "The message could not be stored; retry.".into(),
                )));
            }
            return;
        }
    };
    for (job, step) in jobs.into_iter().zip(steps) {
        match step {
            Step::Stored(event) => {
                hub.publish(std::slice::from_ref(&event), job.request.conn).await;
                let _ = job.reply.send(Ok(event));
            }
            Step::Repeat(event) => {
                let _ = job.reply.send(Ok(event));
            }
            Step::Refused(code, message) => {
                let _ = job.reply.send(Err((code, message)));
            }
        }
    }
}

/// A connection of the writer's own, out of the pool for good, that leaves
/// checkpoints to the [`Checkpointer`].
async fn own_connection(pool: &SqlitePool) -> sqlx::Result<SqliteConnection> {
    let mut conn = pool.acquire().await?.detach();
    db::checkpoint::hand_over(&mut conn).await?;
    Ok(conn)
}

/// Checks and inserts every job in one transaction. A plain message costs
/// one statement: the insert checks the sender's right and the unique index
/// catches a repeated `client_msg_id`; the reasons are looked up only when
/// it stores nothing.
async fn store(conn: &mut SqliteConnection, jobs: &[Job]) -> sqlx::Result<Vec<Step>> {
    let now = db::now_ms();
    let mut tx = db::begin_write_on(conn).await?;
    let mut in_batch: HashMap<(UserId, &str), Event> = HashMap::new();
    let mut steps = Vec::with_capacity(jobs.len());
    for Job { request: r, .. } in jobs {
        let key = (r.sender, r.client_msg_id.as_str());
        if let Some(event) = in_batch.get(&key) {
            steps.push(Step::Repeat(event.clone()));
            continue;
        }
        if r.reply_to.is_some() || matches!(r.content, MessageContent::Image { .. }) {
            if let Some(step) = check_references(&mut tx, r).await? {
                steps.push(step);
                continue;
            }
        }
        let body = EventBody::Message {
            content: r.content.clone(),
            reply_to: r.reply_to.clone(),
        };
        let step =
            match db::events::append_message(&mut tx, r.conversation, r.sender, &r.client_msg_id, body, now).await {
                Ok(Some(event)) => {
                    in_batch.insert(key, event.clone());
                    Step::Stored(event)
                }
                Ok(None) => refusal(&mut tx, r).await?,
                Err(err) if db::events::is_repeat(&err) => repeat(&mut tx, r).await?,
                Err(err) => return Err(err),
            };
        steps.push(step);
    }
    tx.commit().await?;
    Ok(steps)
}

/// The original of a repeated send.
async fn repeat(tx: &mut SqliteConnection, r: &SendRequest) -> sqlx::Result<Step> {
    let original = db::events::by_client_msg_id(tx, r.sender, &r.client_msg_id).await?;
    Ok(original.map_or_else(
        || Step::Refused(ErrorCode::Internal, "The message could not be stored; retry.".into()),
        Step::Repeat,
    ))
}

/// Why a send stored nothing: a repeat (acknowledged even if the sender has
/// since lost the right to post) or no right to post.
async fn refusal(tx: &mut SqliteConnection, r: &SendRequest) -> sqlx::Result<Step> {
    if let Some(event) = db::events::by_client_msg_id(tx, r.sender, &r.client_msg_id).await? {
        return Ok(Step::Repeat(event));
    }
    Ok(match db::events::send_right(tx, r.conversation, r.sender).await? {
        SendRight::NotContacts => Step::Refused(ErrorCode::NotContacts, "You can only message your contacts.".into()),
        SendRight::NotMember | SendRight::Allowed => Step::Refused(ErrorCode::NotFound, "No such conversation.".into()),
    })
}

/// For messages that point at something (an image, a replied-to event): a
/// repeat, or a refusal when the reference is not the sender's to use;
/// `None` to go on.
async fn check_references(tx: &mut SqliteConnection, r: &SendRequest) -> sqlx::Result<Option<Step>> {
    if let Some(event) = db::events::by_client_msg_id(tx, r.sender, &r.client_msg_id).await? {
        return Ok(Some(Step::Repeat(event)));
    }
    if db::events::send_right(tx, r.conversation, r.sender).await? != SendRight::Allowed {
        return refusal(tx, r).await.map(Some);
    }
    if let MessageContent::Image { media_id } = &r.content {
        // Posting an image shares it; only images you may see can be shared.
        if !db::media::visible_to(tx, media_id, r.sender).await? {
            return Ok(Some(Step::Refused(
                ErrorCode::InvalidInput {
                    field: "media_id".into(),
                },
                "Unknown image: upload it first.".into(),
            )));
        }
    }
    if let Some(target) = &r.reply_to {
        if !db::events::exists_in(tx, r.conversation, target).await? {
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
