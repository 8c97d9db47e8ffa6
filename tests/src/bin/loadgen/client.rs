//! A lean WebSocket client for load: connects from a chosen loopback source
//! address (past ~28k connections one source runs out of ports), sends
//! frames, and reads what comes back, either parsed or, where only our own
//! timestamps matter, scanned without parsing (the generator must not be
//! the bottleneck).

use std::{
    collections::VecDeque,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicU8, Ordering},
};

use anyhow::Context;
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use natter_common::frames::{ClientFrame, ConversationState, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, protocol::WebSocketConfig, Message},
    WebSocketStream,
};

pub type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// The receiving half of a connection.
pub struct Inbox {
    stream: futures_util::stream::SplitStream<WebSocketStream<TcpStream>>,
    /// The rest of a `batch`, handed out a frame at a time.
    pending: VecDeque<ServerFrame>,
}

/// Connections per source address before moving to the next (127.0.0.2, …):
/// well under the ~28k ephemeral ports, since the kernel's search for a free
/// port slows down as they fill.
const PER_SOURCE: usize = 10_000;

/// Bytes read per read call on each connection (larger messages still fit).
const READ_BUFFER: usize = 16 * 1024;

/// The second octet of this run's source addresses. Closed connections
/// linger in TIME_WAIT on the generator's side, so a run reusing the last
/// run's addresses could find their ports still taken: each run moves on.
static RUN_OCTET: AtomicU8 = AtomicU8::new(0);

/// Starts a run on source addresses no recent run used.
pub fn fresh_sources() {
    let next = match RUN_OCTET.load(Ordering::Relaxed) {
        0 => rand::random_range(1..=254),
        254 => 1,
        octet => octet + 1,
    };
    RUN_OCTET.store(next, Ordering::Relaxed);
}

fn run_octet() -> u8 {
    if RUN_OCTET.load(Ordering::Relaxed) == 0 {
        fresh_sources();
    }
    RUN_OCTET.load(Ordering::Relaxed)
}

pub async fn connect(server: SocketAddr, token: &str, index: usize) -> anyhow::Result<(Sink, Inbox)> {
    let (sink, inbox, _) = connect_for_states(server, token, index).await?;
    Ok((sink, inbox))
}

/// Connects, and says where each conversation stands by the hello.
pub async fn connect_for_states(
    server: SocketAddr,
    token: &str,
    index: usize,
) -> anyhow::Result<(Sink, Inbox, Vec<ConversationState>)> {
    let source = Ipv4Addr::new(127, run_octet(), (index / PER_SOURCE) as u8, 1);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let tcp = socket.connect(server).await.context("tcp connect")?;
    tcp.set_nodelay(true)?;
    let mut request = format!("ws://{server}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    // The library's default 128 KiB read buffer is zero-filled before each
    // read, so every connection would hold all of it: 1.3 GB at 10 000
    // clients, and the kernel reclaiming memory for it stalled whole runs.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .context("websocket handshake")?;
    let (sink, stream) = ws.split();
    let mut inbox = Inbox {
        stream,
        pending: VecDeque::new(),
    };
    match inbox.next().await? {
        Some(ServerFrame::Hello { conversations, .. }) => Ok((sink, inbox, conversations)),
        other => anyhow::bail!("expected hello, got {other:?}"),
    }
}

pub async fn send(sink: &mut Sink, frame: &ClientFrame) -> anyhow::Result<()> {
    sink.send(Message::text(serde_json::to_string(frame)?)).await?;
    Ok(())
}

impl Inbox {
    /// The next server frame, batches unpacked; `None` when the connection
    /// ended. Cancel-safe.
    pub async fn next(&mut self) -> anyhow::Result<Option<ServerFrame>> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            let Some(text) = self.next_text().await? else {
                return Ok(None);
            };
            let frame: ServerFrame = serde_json::from_str(&text)?;
            self.pending.extend(frame.unbatch());
        }
    }

    /// The next text message as it came, unparsed; `None` when the
    /// connection ended. Not to be mixed with [`Inbox::next`].
    pub async fn next_text(&mut self) -> anyhow::Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>> {
        while let Some(message) = self.stream.next().await {
            if let Message::Text(text) = message? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }
}

/// A `client_msg_id` that carries its send time, so acks can be timed too.
pub fn stamped_id(micros: u64) -> String {
    format!("t{micros}")
}

/// What a raw message holds, found by scanning rather than parsing: the send
/// times in our own text messages (`delivery`), and each `sent` ack with the
/// send time its [`stamped_id`] carries, if it has one (`ack`).
pub fn scan(text: &str, mut delivery: impl FnMut(u64), mut ack: impl FnMut(Option<u64>)) {
    // Our texts are bare numbers; any other text is not one of ours.
    for rest in after(text, r#""text":""#) {
        if let Some(micros) = number(rest) {
            delivery(micros);
        }
    }
    // Every ack counts; a stamped id also says when it was sent.
    for rest in after(text, r#""type":"sent","client_msg_id":""#) {
        ack(rest.strip_prefix('t').and_then(number));
    }
}

/// What follows each occurrence of `marker` in `text`.
fn after<'a>(text: &'a str, marker: &'a str) -> impl Iterator<Item = &'a str> {
    text.match_indices(marker)
        .map(move |(at, _)| &text[at + marker.len()..])
}

/// The number at the start of `rest`, if a JSON string ends right after it.
fn number(rest: &str) -> Option<u64> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && rest.as_bytes().get(digits) == Some(&b'"'))
        .then(|| rest[..digits].parse().ok())
        .flatten()
}

/// Microseconds since the Unix epoch, carried in messages to time delivery.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use natter_common::{
        events::{Event, EventBody, MessageContent},
        ids::{ConversationId, EventId, UserId},
    };

    use super::*;

    #[test]
    fn scanning_finds_what_parsing_would() {
        let event = |seq: i64, text: &str| ServerFrame::Event {
            event: Event {
                id: EventId(format!("e{seq}")),
                conversation_id: ConversationId(1),
                seq,
                sender: UserId(2),
                created_at: 0,
                client_msg_id: Some("c".into()),
                body: EventBody::Message {
                    content: MessageContent::Text { text: text.into() },
                    reply_to: None,
                    mentions: vec![],
                },
                state: None,
            },
        };
        let batch = ServerFrame::Batch {
            frames: vec![
                event(1, "1700000000000001"),
                event(2, "not a stamp \"text\":\"9\" in it"),
                ServerFrame::Sent {
                    client_msg_id: stamped_id(1_700_000_000_000_003),
                    conversation_id: ConversationId(1),
                    seq: 3,
                    id: EventId("x".into()),
                    created_at: 0,
                },
                event(4, "1700000000000004"),
            ],
        };
        let (mut stamps, mut acks) = (Vec::new(), Vec::new());
        scan(
            &serde_json::to_string(&batch).unwrap(),
            |s| stamps.push(s),
            |a| acks.push(a),
        );
        assert_eq!(stamps, [1_700_000_000_000_001, 1_700_000_000_000_004]);
        assert_eq!(acks, [Some(1_700_000_000_000_003)]);
        let plain = ServerFrame::Sent {
            client_msg_id: "c".into(),
            conversation_id: ConversationId(1),
            seq: 3,
            id: EventId("x".into()),
            created_at: 0,
        };
        acks.clear();
        scan(&serde_json::to_string(&plain).unwrap(), |_| {}, |a| acks.push(a));
        assert_eq!(acks, [None], "an ack without a stamp still counts");
    }
}
