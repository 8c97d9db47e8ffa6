//! The WebSocket connection: connects, feeds server frames to `Chat`,
//! sends what `Chat` queues, watches the heartbeat, and reconnects with
//! exponential backoff and jitter.

use futures::{channel::mpsc, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use leptos::prelude::*;
use natter_common::{
    frames::{close, ClientFrame, ServerFrame},
    PROTOCOL_VERSION,
};

use crate::{
    api,
    chat::{Chat, Link},
};

/// Ping the server this often.
const PING_EVERY_MS: u32 = 15_000;
/// No frame for this long means the connection is dead.
const SILENCE_LIMIT_MS: f64 = 45_000.0;
const MAX_BACKOFF_MS: f64 = 30_000.0;

fn socket_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().unwrap_or_default();
    format!("{scheme}://{host}/ws?v={PROTOCOL_VERSION}")
}

/// How one connection ended.
enum Outcome {
    /// Lost before the server said hello (refused, or the network).
    Early,
    /// Lost after the hello: worth reconnecting at once.
    Greeted,
    /// The server ended this session (signed out here or elsewhere).
    SessionEnded,
}

/// Runs until `keep_going` turns false (sign-out), or until the session is
/// found to be over, when it calls `signed_out` and stops.
pub async fn run(chat: Chat, keep_going: impl Fn() -> bool + 'static, signed_out: impl Fn() + 'static) {
    let mut attempt: u32 = 0;
    while keep_going() {
        chat.link.set(Link::Connecting);
        let ended = match WebSocket::open(&socket_url()) {
            Ok(socket) => session(chat, socket, &keep_going).await,
            Err(_) => Outcome::Early,
        };
        chat.set_outbox(None);
        if !keep_going() {
            break;
        }
        match ended {
            Outcome::Greeted => attempt = 0,
            // A refused upgrade looks like any other failure; the REST
            // answer tells a dead session from a down server.
            Outcome::Early | Outcome::SessionEnded => {
                if matches!(api::me().await, Ok(None)) {
                    if keep_going() {
                        signed_out();
                    }
                    break;
                }
            }
        }
        // Exponential backoff with full jitter, so a restarted server isn't
        // met by every client at the same instant.
        let ceiling = (500.0 * 2f64.powi(attempt.min(10) as i32)).min(MAX_BACKOFF_MS);
        let delay = ceiling * (0.5 + js_sys::Math::random() / 2.0);
        attempt += 1;
        let mut left = delay;
        while left > 0.0 && keep_going() {
            chat.link.set(Link::Retrying((left / 1000.0).ceil() as u32));
            let step = left.min(1000.0);
            TimeoutFuture::new(step as u32).await;
            left -= step;
        }
    }
    chat.link.set(Link::Connecting);
}

/// One connection's life.
async fn session(chat: Chat, socket: WebSocket, keep_going: &impl Fn() -> bool) -> Outcome {
    let (mut write, read) = socket.split();
    let mut read = read.fuse();
    let (outbox, mut queued) = mpsc::unbounded::<ClientFrame>();
    let mut greeted = false;
    let lost = |greeted: bool| if greeted { Outcome::Greeted } else { Outcome::Early };
    let mut last_heard = js_sys::Date::now();
    let mut nonce = 0u64;
    // One timer for the connection's life: ticking whatever else happens, so
    // a link that only ever sends still notices the silence.
    let mut ticks = IntervalStream::new(PING_EVERY_MS).fuse();
    loop {
        futures::select! {
            incoming = read.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_heard = js_sys::Date::now();
                    for frame in frames_of(&text) {
                        if matches!(frame, ServerFrame::Hello { .. }) {
                            greeted = true;
                            chat.set_outbox(Some(outbox.clone()));
                            chat.link.set(Link::Online);
                        }
                        chat.receive(frame);
                    }
                }
                Some(Ok(Message::Bytes(_))) => last_heard = js_sys::Date::now(),
                Some(Err(WebSocketError::ConnectionClose(event))) if event.code == close::SESSION_ENDED => {
                    return Outcome::SessionEnded;
                }
                Some(Err(_)) | None => return lost(greeted),
            },
            frame = queued.next() => {
                let Some(frame) = frame else { return lost(greeted) };
                let Ok(text) = serde_json::to_string(&frame) else { continue };
                if write.send(Message::Text(text)).await.is_err() {
                    return lost(greeted);
                }
            },
            _ = ticks.next() => {
                if !keep_going() || js_sys::Date::now() - last_heard > SILENCE_LIMIT_MS {
                    return lost(greeted);
                }
                nonce += 1;
                let ping = serde_json::to_string(&ClientFrame::Ping { nonce }).unwrap_or_default();
                if write.send(Message::Text(ping)).await.is_err() {
                    return lost(greeted);
                }
            },
        }
    }
}

/// The frames of one WebSocket message. A `batch` holding a frame this
/// build does not know still yields the others, in order (the protocol says
/// to ignore unknown types, and one must not cost its neighbours).
fn frames_of(text: &str) -> Vec<ServerFrame> {
    if let Ok(frame) = serde_json::from_str::<ServerFrame>(text) {
        return frame.unbatch().collect();
    }
    #[derive(serde::Deserialize)]
    struct Batch {
        #[serde(rename = "type")]
        kind: String,
        // Each frame's own text, parsed by the same `from_str` as a lone
        // frame: going through `serde_json::Value` here instantiated every
        // frame type's deserializer a second time (issue 13, size).
        frames: Vec<Box<serde_json::value::RawValue>>,
    }
    match serde_json::from_str::<Batch>(text) {
        Ok(batch) if batch.kind == "batch" => batch
            .frames
            .iter()
            .filter_map(|frame| serde_json::from_str(frame.get()).ok())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_frame_in_a_batch_leaves_the_rest() {
        let text = r#"{"type":"batch","frames":[{"type":"pong","nonce":1},{"type":"poll_closed","poll":3},{"type":"contacts_changed"}]}"#;
        assert_eq!(
            frames_of(text),
            vec![ServerFrame::Pong { nonce: 1 }, ServerFrame::ContactsChanged]
        );
        assert_eq!(
            frames_of(r#"{"type":"pong","nonce":2}"#),
            vec![ServerFrame::Pong { nonce: 2 }]
        );
        assert!(frames_of(r#"{"type":"brand_new"}"#).is_empty());
        assert!(frames_of("not json").is_empty());
    }
}
