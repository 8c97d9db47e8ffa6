//! `WsClient`: a real WebSocket client speaking natter's frames.

use std::{collections::VecDeque, time::Duration};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use natter_common::{
    events::{Event, MessageContent},
    frames::{ClientFrame, ConversationState, ServerFrame},
    ids::{ConversationId, EventId, UserId},
    ErrorCode,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::TestServer;

/// How long any single expected frame may take before the test fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The rest of a `batch` frame, handed out one frame at a time.
    pending: VecDeque<ServerFrame>,
    pub user_id: UserId,
    pub conversations: Vec<ConversationState>,
    pub online: Vec<UserId>,
}

/// A request's `sent` ack: where it landed in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub seq: i64,
    pub id: EventId,
}

/// The answer to a request carrying a `client_msg_id`: its ack or its error code.
pub type Answer = Result<Ack, ErrorCode>;

/// Where the handshake came from and what it asked for.
#[derive(Default)]
pub struct Handshake<'a> {
    pub token: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub query: &'a str,
}

impl WsClient {
    /// Connects with a bearer token and reads the `hello`.
    pub async fn connect(server: &TestServer, token: &str) -> anyhow::Result<Self> {
        let stream = Self::handshake(
            server,
            Handshake {
                token: Some(token),
                ..Default::default()
            },
        )
        .await?;
        Self::after_hello(stream).await
    }

    /// The raw handshake, for tests of refusals.
    pub async fn handshake(
        server: &TestServer,
        how: Handshake<'_>,
    ) -> anyhow::Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
        let url = format!("{}ws{}", server.url.replacen("http://", "ws://", 1), how.query);
        let mut request = url.into_client_request()?;
        if let Some(token) = how.token {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse()?);
        }
        if let Some(origin) = how.origin {
            request.headers_mut().insert("Origin", origin.parse()?);
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(stream)
    }

    async fn after_hello(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> anyhow::Result<Self> {
        let mut client = Self {
            stream,
            pending: VecDeque::new(),
            user_id: UserId(0),
            conversations: Vec::new(),
            online: Vec::new(),
        };
        match client.next().await? {
            ServerFrame::Hello {
                user_id,
                conversations,
                online,
                ..
            } => {
                client.user_id = user_id;
                client.conversations = conversations;
                client.online = online;
                Ok(client)
            }
            other => bail!("expected hello, got {other:?}"),
        }
    }

    pub fn state(&self, conversation: ConversationId) -> Option<&ConversationState> {
        self.conversations.iter().find(|c| c.conversation_id == conversation)
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> anyhow::Result<()> {
        self.send_raw(serde_json::to_string(frame)?).await
    }

    pub async fn send_raw(&mut self, text: String) -> anyhow::Result<()> {
        self.stream.send(Message::text(text)).await?;
        Ok(())
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.stream.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// Queues a text message without waiting for its ack.
    pub async fn send_text(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        self.send(&ClientFrame::Send {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            content: MessageContent::Text { text: text.into() },
            reply_to: None,
        })
        .await
    }

    /// The next server frame, batches unpacked (pings are answered by the library).
    pub async fn next(&mut self) -> anyhow::Result<ServerFrame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(frame);
            }
            let message = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .context("no frame within the timeout")?
                .context("connection closed")??;
            match message {
                Message::Text(text) => {
                    let frame: ServerFrame = serde_json::from_str(text.as_str()).context("unparseable server frame")?;
                    self.pending.extend(frame.unbatch());
                }
                Message::Close(frame) => bail!("closed by server: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame that `pick` accepts; others (presence, typing, …) are skipped.
    pub async fn next_where<T>(&mut self, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> anyhow::Result<T> {
        loop {
            if let Some(found) = pick(self.next().await?) {
                return Ok(found);
            }
        }
    }

    /// The next live event.
    pub async fn next_event(&mut self) -> anyhow::Result<Event> {
        self.next_where(|f| match f {
            ServerFrame::Event { event } => Some(event),
            _ => None,
        })
        .await
    }

    /// Sends a text message and waits for its `sent` ack; returns its seq.
    pub async fn send_and_ack(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        text: &str,
    ) -> anyhow::Result<i64> {
        self.send_text(conversation, client_msg_id, text).await?;
        let wanted = client_msg_id.to_owned();
        self.next_where(|f| match f {
            ServerFrame::Sent { client_msg_id, seq, .. } if client_msg_id == wanted => Some(Ok(seq)),
            ServerFrame::Error {
                client_msg_id: Some(id),
                message,
                ..
            } if id == wanted => Some(Err(anyhow::anyhow!("send {wanted} refused: {message}"))),
            _ => None,
        })
        .await?
    }

    /// Sends a request that carries a `client_msg_id` (`send`, `edit`,
    /// `delete`, `react`, `unreact`) and waits for its answer.
    pub async fn request(&mut self, frame: &ClientFrame) -> anyhow::Result<Answer> {
        let id = match frame {
            ClientFrame::Send { client_msg_id, .. }
            | ClientFrame::Edit { client_msg_id, .. }
            | ClientFrame::Delete { client_msg_id, .. }
            | ClientFrame::React { client_msg_id, .. }
            | ClientFrame::Unreact { client_msg_id, .. } => client_msg_id.clone(),
            other => bail!("{other:?} carries no client_msg_id"),
        };
        self.send(frame).await?;
        self.answer(&id).await
    }

    /// The next `sent` or error for `client_msg_id`, skipping other frames.
    pub async fn answer(&mut self, client_msg_id: &str) -> anyhow::Result<Answer> {
        self.next_where(|f| match f {
            ServerFrame::Sent {
                client_msg_id: answered,
                seq,
                id,
                ..
            } if answered == client_msg_id => Some(Ok(Ack { seq, id })),
            ServerFrame::Error {
                client_msg_id: Some(answered),
                code,
                ..
            } if answered == client_msg_id => Some(Err(code)),
            _ => None,
        })
        .await
    }

    /// Sends a message and waits for its answer.
    pub async fn post(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        content: MessageContent,
    ) -> anyhow::Result<Answer> {
        self.request(&ClientFrame::Send {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            content,
            reply_to: None,
        })
        .await
    }

    /// Sends a text message that must be accepted; returns its ack.
    pub async fn post_text(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        text: &str,
    ) -> anyhow::Result<Ack> {
        let content = MessageContent::Text { text: text.into() };
        self.post(conversation, client_msg_id, content)
            .await?
            .map_err(|code| anyhow::anyhow!("send {client_msg_id} refused: {code:?}"))
    }

    /// Replaces the text of `target`; the edit's seq, or the error code.
    pub async fn edit(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        target: &EventId,
        text: &str,
    ) -> anyhow::Result<Result<i64, ErrorCode>> {
        let frame = ClientFrame::Edit {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            target: target.clone(),
            text: text.into(),
        };
        Ok(self.request(&frame).await?.map(|ack| ack.seq))
    }

    /// Deletes `target` for everyone; the deletion's seq, or the error code.
    pub async fn delete(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        target: &EventId,
    ) -> anyhow::Result<Result<i64, ErrorCode>> {
        let frame = ClientFrame::Delete {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            target: target.clone(),
        };
        Ok(self.request(&frame).await?.map(|ack| ack.seq))
    }

    /// Reacts to `target`; the seq of the reaction's event, or the error code.
    pub async fn react(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        target: &EventId,
        emoji: &str,
    ) -> anyhow::Result<Result<i64, ErrorCode>> {
        let frame = ClientFrame::React {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            target: target.clone(),
            emoji: emoji.into(),
        };
        Ok(self.request(&frame).await?.map(|ack| ack.seq))
    }

    /// Takes back a reaction; the removal's seq, or the error code.
    pub async fn unreact(
        &mut self,
        conversation: ConversationId,
        client_msg_id: &str,
        target: &EventId,
        emoji: &str,
    ) -> anyhow::Result<Result<i64, ErrorCode>> {
        let frame = ClientFrame::Unreact {
            client_msg_id: client_msg_id.into(),
            conversation_id: conversation,
            target: target.clone(),
            emoji: emoji.into(),
        };
        Ok(self.request(&frame).await?.map(|ack| ack.seq))
    }

    /// Pings and returns every frame that came before the `pong`: all the
    /// server had queued for this connection when it read the ping.
    pub async fn until_pong(&mut self, nonce: u64) -> anyhow::Result<Vec<ServerFrame>> {
        self.send(&ClientFrame::Ping { nonce }).await?;
        let mut before = Vec::new();
        loop {
            match self.next().await? {
                ServerFrame::Pong { nonce: n } if n == nonce => return Ok(before),
                other => before.push(other),
            }
        }
    }

    /// Marks `conversation` read up to `seq` and waits until the server has
    /// stored it.
    pub async fn mark_read(&mut self, conversation: ConversationId, seq: i64) -> anyhow::Result<()> {
        self.send(&ClientFrame::Read {
            conversation_id: conversation,
            seq,
        })
        .await?;
        self.next_where(|f| match f {
            ServerFrame::ReadState {
                conversation_id,
                read_seq,
                ..
            } if conversation_id == conversation && read_seq >= seq => Some(()),
            _ => None,
        })
        .await
        .context("the read marker was not stored")
    }

    /// Sends a heartbeat and returns the nonce the `pong` echoes.
    pub async fn ping(&mut self, nonce: u64) -> anyhow::Result<u64> {
        self.send(&ClientFrame::Ping { nonce }).await?;
        self.next_where(|f| {
            if let ServerFrame::Pong { nonce } = f {
                Some(nonce)
            } else {
                None
            }
        })
        .await
    }

    /// Waits for `count` `sent` acks, skipping other frames.
    pub async fn await_acks(&mut self, count: usize) -> anyhow::Result<()> {
        let mut acked = 0;
        while acked < count {
            if let ServerFrame::Sent { .. } = self.next().await? {
                acked += 1;
            }
        }
        Ok(())
    }

    /// Everything after `after_seq`, following `more` across batches.
    pub async fn sync(&mut self, conversation: ConversationId, mut after_seq: i64) -> anyhow::Result<Vec<Event>> {
        let mut all = Vec::new();
        loop {
            self.send(&ClientFrame::Sync {
                conversation_id: conversation,
                after_seq,
            })
            .await?;
            let (events, more) = self
                .next_where(|f| match f {
                    ServerFrame::Events {
                        conversation_id,
                        events,
                        more,
                    } if conversation_id == conversation => Some((events, more)),
                    _ => None,
                })
                .await?;
            if let Some(last) = events.last() {
                after_seq = last.seq;
            }
            all.extend(events);
            if !more {
                return Ok(all);
            }
        }
    }

    /// Reads until the server closes; returns the close code (None for a
    /// connection dropped without a close frame) and the events seen first.
    pub async fn until_closed(&mut self) -> anyhow::Result<(Option<u16>, Vec<Event>)> {
        let mut events: Vec<Event> = std::mem::take(&mut self.pending)
            .into_iter()
            .filter_map(|f| match f {
                ServerFrame::Event { event } => Some(event),
                _ => None,
            })
            .collect();
        loop {
            let next = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .context("server never closed")?;
            match next {
                None | Some(Err(_)) => return Ok((None, events)),
                Some(Ok(Message::Close(frame))) => return Ok((frame.map(|f| u16::from(f.code)), events)),
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(text.as_str()) else {
                        continue;
                    };
                    events.extend(frame.unbatch().filter_map(|f| match f {
                        ServerFrame::Event { event } => Some(event),
                        _ => None,
                    }));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the connection the normal way (a close frame, answered by the
    /// server's) and waits for the server's answer.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.stream.close(None).await?;
        while let Some(Ok(_)) = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next()).await? {}
        Ok(())
    }

    /// Drops the TCP connection without a close handshake, like a crash or
    /// a network cut.
    pub fn kill(self) {
        drop(self.stream);
    }
}

/// For comparing close codes in assertions.
pub fn code(code: CloseCode) -> u16 {
    code.into()
}
