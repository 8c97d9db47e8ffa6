//! A lean WebSocket client for load: connects from a chosen loopback source
//! address (past ~28k connections one source runs out of ports), sends
//! frames, and parses what comes back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use natter_common::frames::{ClientFrame, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    WebSocketStream,
};

pub type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;
pub type Stream = futures_util::stream::SplitStream<WebSocketStream<TcpStream>>;

/// Connections per source address before moving to the next (127.0.0.2, …):
/// well under the ~28k ephemeral ports, since the kernel's search for a free
/// port slows down as they fill.
const PER_SOURCE: usize = 10_000;

pub async fn connect(server: SocketAddr, token: &str, index: usize) -> anyhow::Result<(Sink, Stream)> {
    let source = Ipv4Addr::new(127, 0, 0, 1 + (index / PER_SOURCE) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let tcp = socket.connect(server).await.context("tcp connect")?;
    tcp.set_nodelay(true)?;
    let mut request = format!("ws://{server}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    let (ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .context("websocket handshake")?;
    let (sink, mut stream) = ws.split();
    // The hello.
    match next(&mut stream).await? {
        Some(ServerFrame::Hello { .. }) => Ok((sink, stream)),
        other => anyhow::bail!("expected hello, got {other:?}"),
    }
}

pub async fn send(sink: &mut Sink, frame: &ClientFrame) -> anyhow::Result<()> {
    sink.send(Message::text(serde_json::to_string(frame)?)).await?;
    Ok(())
}

/// The next server frame; `None` when the connection ended.
pub async fn next(stream: &mut Stream) -> anyhow::Result<Option<ServerFrame>> {
    while let Some(message) = stream.next().await {
        if let Message::Text(text) = message? {
            return Ok(Some(serde_json::from_str(text.as_str())?));
        }
    }
    Ok(None)
}

/// Microseconds since the Unix epoch, carried in messages to time delivery.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
