//! One WebSocket connection, one task: hello, then a loop that answers
//! client frames, drains the connection's bounded queue into the socket and
//! keeps heartbeats both ways. One task rather than a reader and a writer
//! keeps an idle connection to a few KiB.

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use natter_common::{
    frames::{close, ClientFrame, ServerFrame},
    ids::{ConversationId, EventId, UserId},
    limits::{SYNC_BATCH, WS_FRAME_MAX_BYTES},
    ErrorCode, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use tokio::{sync::Semaphore, time::Instant};
use tokio_tungstenite::tungstenite::{
    error::ProtocolError, protocol::CloseFrame, Error as WsError, Message, Utf8Bytes,
};

use super::{
    handshake::Socket,
    linger::linger,
    schedule::{Duty, Schedule},
    write,
};
use crate::{
    auth::AuthUser,
    db::{self, events::Window},
    hub::{batch, encode, Conn, Kind, Outbox, Taken},
    log::{Command, Submission},
    metrics,
    state::AppState,
};

/// Server pings this often; clients should send something as often.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// A connection silent this long is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A single socket write may take this long before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Malformed frames in a row before the connection is closed.
const MAX_GARBAGE: u32 = 10;
/// Commands from one connection awaiting their commit at once.
const COMMANDS_IN_FLIGHT: usize = 64;
/// Typing notices per user and conversation are passed on at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);

/// How long a closing connection may take to send what is queued and its close frame.
const CLOSING_GRACE: Duration = Duration::from_secs(2);

/// One connection's whole life. An `async` block rather than an `async fn`:
/// an async fn's future keeps its arguments twice (as passed, and as moved
/// into its body), and this future rests, between frames, for hours per
/// connection. What it does only now and then (the hello, the goodbye, a
/// write, a ping) is a boxed step for the same reason: a future is as large
/// as its largest state, and an allocation per write is nothing beside the
/// write's system call.
#[allow(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice")]
pub fn run(mut socket: Socket, state: AppState, auth: AuthUser, version: u32) -> impl Future<Output = ()> + Send {
    async move {
        if !(OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
            if Box::pin(refuse_version(&mut socket)).await {
                Box::pin(linger(socket.get_mut())).await;
            }
            return;
        }
        let user = auth.user_id;
        let conn = Conn::new(auth.session_id, Arc::new(Outbox::new()));
        // Registered before the hello is read from the store, so nothing
        // committed in between is missed; anything queued meanwhile follows the
        // hello and the client drops what it already has by seq.
        let came_online = state.hub.connect(user, conn.clone());
        metrics::connected(came_online);
        let ended = match Box::pin(greet(&mut socket, &state, user, version, came_online)).await {
            Ok(()) => {
                tracing::debug!(user = %user, conn = conn.id, "connected");
                let mut session = Session {
                    state: &state,
                    user,
                    conn: &conn,
                    commands: None,
                    typing: Vec::new(),
                    garbage: 0,
                };
                serve(&mut socket, &mut session, version >= 2).await
            }
            Err(ended) => ended,
        };
        // Later deliveries are refused, not kept.
        conn.outbox().close();
        Box::pin(finish(&state, user, &conn, ended)).await;
        if ended.close_sent() {
            Box::pin(linger(socket.get_mut())).await;
        }
    }
}

/// Answers a client that speaks no protocol version this server does;
/// whether the close went out.
async fn refuse_version(socket: &mut Socket) -> bool {
    let error = ServerFrame::Error {
        code: ErrorCode::UnsupportedProtocol {
            supported: PROTOCOL_VERSION,
        },
        message: format!("This server speaks protocol versions {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}."),
        client_msg_id: None,
    };
    timed(socket.send(Message::Text(encode(&error)))).await.is_ok()
        && close_with(socket, close::UNSUPPORTED_PROTOCOL, "unsupported protocol version")
            .await
            .is_ok()
}

/// Sends the hello, then tells whoever sees the user that they came online;
/// why the connection is over if it cannot.
async fn greet(
    socket: &mut Socket,
    state: &AppState,
    user: UserId,
    version: u32,
    came_online: bool,
) -> Result<(), Ended> {
    let (hello, audience) = match hello(state, user, version).await {
        Ok(hello) => hello,
        Err(err) => {
            tracing::error!(%err, user = %user, "cannot build hello");
            let sent = close_with(socket, 1011, "server error").await.is_ok();
            return Err(Ended::Closed { code: 1011, sent });
        }
    };
    if Box::pin(send_text(socket, encode(&hello))).await.is_err() {
        return Err(Ended::WriteFailed);
    }
    // Not from a stopping node: it told the others its people left, and
    // would not say this one did.
    if came_online && !state.hub.closing() {
        state.hub.announce_presence_to(user, true, &audience);
    }
    Ok(())
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy)]
enum Ended {
    /// The client closed it; `answered` whether the answering close went out.
    Normal { answered: bool },
    /// The TCP connection went away without a close.
    Dropped,
    /// The server closed it with this code; `sent` says whether the close
    /// frame went out (a peer that reads nothing never gets it).
    Closed { code: u16, sent: bool },
    /// Writing to the client failed or timed out.
    WriteFailed,
}

impl Ended {
    /// Whether a close frame went out, after which the client may still be
    /// talking (its own close, the rest of a frame) until it hangs up.
    fn close_sent(self) -> bool {
        matches!(self, Self::Normal { answered: true } | Self::Closed { sent: true, .. })
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Normal { .. } => "normal",
            Self::Dropped => "dropped",
            Self::Closed { code, .. } => match code {
                1001 => "heartbeat",
                close::SLOW_CONSUMER => "slow_consumer",
                close::ABUSE => "malformed",
                close::SESSION_ENDED => "signed_out",
                close::SERVICE_RESTART => "shutdown",
                1002 | 1007 | 1009 => "protocol",
                1011 => "server_error",
                _ => "other",
            },
            Self::WriteFailed => "write_failed",
        }
    }
}

/// The connection's life after the hello: returns when it is over, and why.
async fn serve(socket: &mut Socket, session: &mut Session<'_>, batching: bool) -> Ended {
    let outbox = session.conn.outbox();
    // A session revoked elsewhere (another device, `admin`, a disabled
    // account) or expired ends its open connections too.
    let check_every = Duration::from_secs(session.state.config.session_check_secs.max(1));
    let mut schedule = Schedule::new(Instant::now(), HEARTBEAT, check_every, IDLE_TIMEOUT);
    // Boxed: 112 bytes out of the future every connection holds, which
    // keeps its task a size class smaller.
    let mut timer = Box::pin(tokio::time::sleep_until(schedule.next()));
    // Once closing, the code of the close queued.
    let mut closing: Option<u16> = None;
    let mut burst = Vec::new();
    loop {
        tokio::select! {
            taken = outbox.take(&mut burst) => {
                if let Some(ended) = Box::pin(write_taken(socket, taken, &mut burst, batching)).await {
                    return ended;
                }
            }
            next = socket.next(), if closing.is_none() => {
                // Any traffic counts as life; pings are answered by the library.
                schedule.heard(Instant::now());
                let close = match next {
                    None => return Ended::Dropped,
                    Some(Ok(Message::Close(_))) => {
                        // The library queued its answer to the client's close
                        // (RFC 6455 §5.5.1): send it before letting go.
                        let answered = Box::pin(timed(socket.flush())).await.is_ok();
                        return Ended::Normal { answered };
                    }
                    Some(Err(err)) => match close_for(&err) {
                        // Queued, so the answers to the frames before the
                        // broken one still go out first.
                        Some((code, reason)) => {
                            session.close(code, reason);
                            Some(code)
                        }
                        None => return Ended::Dropped,
                    },
                    Some(Ok(Message::Text(text))) => (!Box::pin(session.handle(text)).await).then_some(close::ABUSE),
                    Some(Ok(Message::Binary(_))) => {
                        (!session.refuse(ErrorCode::BadRequest, "Frames are JSON text, not binary.")).then_some(close::ABUSE)
                    }
                    // Raw frames are only ever written, never read.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
                };
                if close.is_some() {
                    // The close is queued: send what precedes it, then it.
                    closing = close;
                    schedule.closing(Instant::now(), CLOSING_GRACE);
                }
            }
            () = &mut timer => {
                while let Some(duty) = schedule.due(Instant::now()) {
                    match duty {
                        Duty::Expire => {
                            if let Some(code) = closing {
                                // Its close never went out.
                                return Ended::Closed { code, sent: false };
                            }
                            session.close(1001, "heartbeat timeout");
                            closing = Some(1001);
                            schedule.closing(Instant::now(), CLOSING_GRACE);
                        }
                        Duty::CheckSession => {
                            let live = Box::pin(db::sessions::is_live(&session.state.db, session.conn.session, db::now_ms())).await;
                            // A database hiccup is not a sign-out.
                            if matches!(live, Ok(false)) {
                                session.close(close::SESSION_ENDED, "signed out");
                                closing = Some(close::SESSION_ENDED);
                                schedule.closing(Instant::now(), CLOSING_GRACE);
                            }
                        }
                        Duty::Ping => {
                            if Box::pin(timed(socket.send(Message::Ping(Default::default())))).await.is_err() {
                                return Ended::WriteFailed;
                            }
                        }
                    }
                }
            }
        }
        if timer.deadline() != schedule.next() {
            timer.as_mut().reset(schedule.next());
        }
        // An idle connection should not keep the room of its last burst.
        if burst.capacity() > 64 {
            burst = Vec::new();
        }
    }
}

/// Writes what was taken off the queue, and a close if one was queued; why
/// the connection is over, once it is.
async fn write_taken(sink: &mut Socket, taken: Taken, burst: &mut Vec<Utf8Bytes>, batching: bool) -> Option<Ended> {
    let (since, close) = match taken {
        Taken::Items { since, close } => (since, close),
        Taken::Overflowed => {
            metrics::outbox_overflow();
            let sent = close_with(sink, close::SLOW_CONSUMER, "too slow: reconnect and sync")
                .await
                .is_ok();
            return Some(Ended::Closed {
                code: close::SLOW_CONSUMER,
                sent,
            });
        }
    };
    let written = if burst.is_empty() {
        Ok(())
    } else {
        write_burst(sink, burst, batching).await
    };
    burst.clear();
    if written.is_err() {
        // A write cut off by its timeout may have left half a frame: a
        // close now would land in the middle of it.
        return Some(Ended::WriteFailed);
    }
    if let Some(since) = since {
        metrics::delivery_lag(since.elapsed());
    }
    if let Some((code, reason)) = close {
        let sent = close_with(sink, code, reason).await.is_ok();
        return Some(Ended::Closed { code, sent });
    }
    None
}

async fn finish(state: &AppState, user: UserId, conn: &Conn, ended: Ended) {
    let went_offline = state.hub.disconnect(user, conn.id);
    metrics::disconnected(ended.reason(), went_offline);
    // On a stopping node everyone here is leaving too: telling them (a
    // look-up each) would only hold up the shutdown.
    if went_offline && !state.hub.closing() {
        state.hub.announce_presence(user, false).await;
    }
    tracing::debug!(user = %user, conn = conn.id, reason = ended.reason(), "disconnected");
}

/// The first frame: who the client is, where each conversation stands, who
/// is online, and the protocol version this connection speaks; and who
/// would be told the user came online (from the same look-up).
async fn hello(state: &AppState, user: UserId, version: u32) -> sqlx::Result<(ServerFrame, Vec<UserId>)> {
    let conversations = db::read_markers::states(&state.db, user, None).await?;
    state
        .hub
        .follow(conversations.iter().map(|c| (c.conversation_id, c.last_seq)));
    let circle = db::members::presence_circle(&state.db, user).await?;
    let online = state
        .hub
        .online_among(circle.iter().filter(|s| s.seen_by_user).map(|s| s.user));
    let audience = circle.iter().filter(|s| s.sees_user).map(|s| s.user).collect();
    let hello = ServerFrame::Hello {
        protocol_version: version,
        user_id: user,
        conversations,
        online,
        heartbeat_ms: HEARTBEAT.as_millis() as u64,
    };
    Ok((hello, audience))
}

/// Writes `frames` as few messages as they go in ([`batch::runs`]), or,
/// for protocol 1, one by one.
async fn write_burst(sink: &mut Socket, frames: &[Utf8Bytes], batching: bool) -> Result<(), ()> {
    // What the library has queued (a pong) goes first.
    timed(sink.flush()).await?;
    let tcp = sink.get_mut();
    let (mut count, mut bytes) = (0, 0);
    let mut written = Ok(());
    let mut write = async |pieces: &[&str]| {
        count += 1;
        bytes += pieces.iter().map(|piece| piece.len()).sum::<usize>();
        timed(write::text(tcp, pieces)).await
    };
    if batching {
        for run in batch::runs(frames) {
            written = write(&batch::pieces(run)).await;
            if written.is_err() {
                break;
            }
        }
    } else {
        // Events a run shares come merged: protocol 1 takes them one by one.
        for frame in frames.iter().cloned().flat_map(batch::unbatch) {
            written = write(&[frame.as_str()]).await;
            if written.is_err() {
                break;
            }
        }
    }
    metrics::frames_out(count, bytes);
    written
}

/// Writes one text message.
async fn send_text(sink: &mut Socket, message: Utf8Bytes) -> Result<(), ()> {
    write_burst(sink, &[message], true).await
}

async fn timed<E>(write: impl std::future::Future<Output = Result<(), E>>) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// The close code a broken client frame earns (RFC 6455 §7.4.1), if the
/// connection can still carry one.
fn close_for(err: &WsError) -> Option<(u16, &'static str)> {
    match err {
        // The client hung up without a close: nobody to tell.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Capacity(_) => Some((1009, "frame too large")),
        WsError::Utf8(_) => Some((1007, "invalid UTF-8")),
        WsError::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

async fn close_with(sink: &mut Socket, code: u16, reason: &'static str) -> Result<(), ()> {
    timed(sink.send(Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }))))
    .await
}

/// Per-connection state for answering client frames.
struct Session<'a> {
    state: &'a AppState,
    user: UserId,
    conn: &'a Conn,
    /// Bounds the commands awaiting their commit; made on the first, as
    /// many connections only ever listen.
    commands: Option<Arc<Semaphore>>,
    /// When typing was last passed on, per conversation typed in lately.
    typing: Vec<(ConversationId, Instant)>,
    garbage: u32,
}

impl Session<'_> {
    fn reply(&self, frame: &ServerFrame) {
        self.conn.deliver(&[encode(frame)], Kind::Reliable, None);
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, client_msg_id: Option<String>) {
        self.reply(&ServerFrame::Error {
            code,
            message: message.into(),
            client_msg_id,
        });
    }

    fn close(&self, code: u16, reason: &'static str) {
        self.conn.close(code, reason);
    }

    /// Answers a bad frame; false once there have been too many in a row.
    fn refuse(&mut self, code: ErrorCode, message: impl Into<String>) -> bool {
        self.error(code, message, None);
        self.garbage += 1;
        if self.garbage >= MAX_GARBAGE {
            self.close(close::ABUSE, "too many malformed frames");
            return false;
        }
        true
    }

    /// Handles one text frame; false when the connection should end.
    async fn handle(&mut self, text: Utf8Bytes) -> bool {
        if text.len() > WS_FRAME_MAX_BYTES {
            let max = WS_FRAME_MAX_BYTES as u64;
            return self.refuse(
                ErrorCode::PayloadTooLarge { max_bytes: max },
                format!("Frames are limited to {max} bytes."),
            );
        }
        let frame = match serde_json::from_str::<ClientFrame>(text.as_str()) {
            Ok(frame) => frame,
            Err(err) => {
                metrics::frame_in("malformed", text.len());
                return self.refuse(ErrorCode::BadRequest, format!("Malformed or unknown frame: {err}"));
            }
        };
        metrics::frame_in(frame_kind(&frame), text.len());
        self.garbage = 0;
        if let Err(err) = self.dispatch(frame).await {
            tracing::error!(%err, user = %self.user, "frame handling failed");
            self.error(ErrorCode::Internal, "Something went wrong on the server.", None);
        }
        true
    }

    async fn dispatch(&mut self, frame: ClientFrame) -> sqlx::Result<()> {
        let command = match frame {
            ClientFrame::Send {
                client_msg_id,
                conversation_id,
                content,
                reply_to,
            } => Command::Send {
                client_msg_id,
                conversation: conversation_id,
                content,
                reply_to,
            },
            ClientFrame::Edit {
                client_msg_id,
                conversation_id,
                target,
                text,
            } => Command::Edit {
                client_msg_id,
                conversation: conversation_id,
                target,
                text,
            },
            ClientFrame::Delete {
                client_msg_id,
                conversation_id,
                target,
            } => Command::Delete {
                client_msg_id,
                conversation: conversation_id,
                target,
            },
            ClientFrame::React {
                client_msg_id,
                conversation_id,
                target,
                emoji,
            } => react(client_msg_id, conversation_id, target, emoji, true),
            ClientFrame::Unreact {
                client_msg_id,
                conversation_id,
                target,
                emoji,
            } => react(client_msg_id, conversation_id, target, emoji, false),
            ClientFrame::Read { conversation_id, seq } => Command::Read {
                conversation: conversation_id,
                seq,
            },
            ClientFrame::Sync {
                conversation_id,
                after_seq,
            } => return self.sync(conversation_id, after_seq).await,
            ClientFrame::Typing { conversation_id } => return self.typing(conversation_id).await,
            ClientFrame::Ping { nonce } => {
                self.reply(&ServerFrame::Pong { nonce });
                return Ok(());
            }
        };
        self.submit(command).await;
        Ok(())
    }

    async fn sync(&mut self, conversation: ConversationId, after_seq: i64) -> sqlx::Result<()> {
        if !db::conversations::is_member(&self.state.db, conversation, self.user).await? {
            self.error(ErrorCode::NotFound, "No such conversation.", None);
            return Ok(());
        }
        let page = db::events::page(
            &self.state.db,
            conversation,
            self.user,
            Window::After(after_seq),
            SYNC_BATCH,
        )
        .await?;
        metrics::resync(page.events.len());
        self.reply(&ServerFrame::Events {
            conversation_id: conversation,
            events: page.events,
            more: page.more,
        });
        Ok(())
    }

    /// Hands a command to the log's writer; its ack or error reaches this
    /// connection in order with the conversation's events.
    async fn submit(&mut self, command: Command) {
        let id = command.client_msg_id().map(str::to_owned);
        if let Err(invalid) = command.validate() {
            let code = ErrorCode::InvalidInput {
                field: invalid.field.into(),
            };
            return self.error(code, invalid.message, id);
        }
        // Read markers are merged by the writer; everything else counts as a send.
        if id.is_some() {
            let alone_here = self.state.hub.alone_here(self.user);
            if let Err(retry_after_ms) = self.state.send_pace.check(self.user, alone_here).await {
                let secs = retry_after_ms.div_ceil(1000);
                let message = format!("You are sending too fast. Try again in {secs} s.");
                return self.error(ErrorCode::RateLimited { retry_after_ms }, message, id);
            }
        }
        // Waiting here slows a flooding reader down instead of queueing without bound.
        let commands = self
            .commands
            .get_or_insert_with(|| Arc::new(Semaphore::new(COMMANDS_IN_FLIGHT)));
        let Ok(permit) = commands.clone().acquire_owned().await else {
            return;
        };
        let submission = Submission {
            by: self.user,
            conn: Some(self.conn.clone()),
            command,
            permit: Some(permit),
        };
        // Queued here, in frame order, so one connection's commands keep their order.
        if let Err(busy) = self.state.log.submit(submission) {
            self.error(busy.code, busy.message, id);
        }
    }

    async fn typing(&mut self, conversation: ConversationId) -> sqlx::Result<()> {
        let Some(members) = self.state.hub.members_for(conversation, self.user).await? else {
            self.error(ErrorCode::NotFound, "No such conversation.", None);
            return Ok(());
        };
        let now = Instant::now();
        // Forgets what is past its interval, so the list stays as short as
        // the conversations typed in the last moments.
        self.typing.retain(|(_, last)| now - *last < TYPING_EVERY);
        if self.typing.iter().any(|(c, _)| *c == conversation) {
            return Ok(());
        }
        self.typing.push((conversation, now));
        let frame = encode(&ServerFrame::Typing {
            conversation_id: conversation,
            user_id: self.user,
        });
        self.state
            .hub
            .send_to_others(&members, self.user, &frame, Kind::Ephemeral);
        Ok(())
    }
}

fn react(client_msg_id: String, conversation: ConversationId, target: EventId, emoji: String, on: bool) -> Command {
    Command::React {
        client_msg_id,
        conversation,
        target,
        emoji,
        on,
    }
}

/// A client frame's type, as the metrics name it.
fn frame_kind(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Send { .. } => "send",
        ClientFrame::Edit { .. } => "edit",
        ClientFrame::Delete { .. } => "delete",
        ClientFrame::React { .. } => "react",
        ClientFrame::Unreact { .. } => "unreact",
        ClientFrame::Sync { .. } => "sync",
        ClientFrame::Read { .. } => "read",
        ClientFrame::Typing { .. } => "typing",
        ClientFrame::Ping { .. } => "ping",
    }
}
