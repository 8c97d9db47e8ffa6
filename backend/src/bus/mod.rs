//! The bus between nodes (issue #16, docs/storage.md): notes, each with
//! the frames it carries, over NATS. What the notes say, and what a node
//! does on hearing one, is the hub's ([`crate::hub`]); this is transport.
//! With one node there is no bus.
//!
//! Notes go out in call order from one connection on one subject, so each
//! node hears another's notes in the order they were sent. The connection
//! is `no_echo`: a node never hears its own. A note is one NATS message: a
//! JSON header line, then the frames it carries one per line (a frame is
//! compact JSON, which never holds a raw newline), so frames cross as the
//! bytes every connection gets, without encoding them again.
//!
//! Delivery is at most once: a note can be lost while NATS is away (the
//! log, not the bus, is what is acknowledged: the hub fills holes from it).
//! Each note carries its sender's number for it, in a header, so that a
//! loss shows ([`heard`]): the hub looks for holes when there may be some.

mod heard;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use async_nats::client::RequestErrorKind;
use futures_util::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use heard::Heard;

/// Every node publishes to and listens on this subject.
const SUBJECT: &str = "natter.nodes";
/// Notes waiting for the NATS client before new ones are dropped.
const QUEUE_DEPTH: usize = 16_384;
/// A note's frames are split past this many bytes (NATS refuses messages
/// over its `max_payload`, 1 MiB by default).
const NOTE_BYTES: usize = 256 * 1024;
/// The header with a note's sender and its number: `<sender>.<n>`.
const NUMBER: &str = "Natter-Note";

/// The sending half: cheap to share.
pub struct Bus {
    queue: mpsc::Sender<Outgoing>,
    client: async_nats::Client,
    /// Notes dropped before the sending task numbered them: it skips as
    /// many numbers, so that the other nodes see the loss.
    dropped: Arc<AtomicU64>,
    /// The connection's count of connections made when the notes that
    /// [`Bus::settle`] vouches for began: at first, or since
    /// [`Bus::settle_from_now`]. A remade connection since then may have
    /// lost some of them.
    settle_from: AtomicU64,
}

/// What the sending task takes, in order.
enum Outgoing {
    Note(Vec<u8>),
    /// Answered once everything queued before it is with the NATS client.
    Handed(oneshot::Sender<()>),
}

/// The receiving half.
pub struct Inbox {
    notes: async_nats::Subscriber,
    losses: Losses,
}

/// Tells whether notes were lost on their way to this node: shared by the
/// [`Inbox`], which counts what it hears, and whoever asks.
#[derive(Clone)]
pub struct Losses {
    heard: Arc<Mutex<Heard>>,
    client: async_nats::Client,
}

impl Bus {
    /// Connects to NATS at `url` and starts sending.
    pub async fn connect(url: &str) -> anyhow::Result<(Arc<Self>, Inbox)> {
        let client = async_nats::ConnectOptions::new()
            .name("natter")
            .no_echo()
            // Reconnects for as long as it takes; notes meanwhile are lost
            // (see the module's comment).
            .max_reconnects(None)
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        let notes = client
            .subscribe(SUBJECT)
            .await
            .context("cannot subscribe to the other nodes' notes")?;
        let (queue, outgoing) = mpsc::channel(QUEUE_DEPTH);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(send(client.clone(), outgoing, dropped.clone()));
        let first_connects = connects(&client);
        let losses = Losses {
            heard: Arc::new(Mutex::new(Heard::new(first_connects))),
            client: client.clone(),
        };
        let bus = Self {
            queue,
            client,
            dropped,
            settle_from: AtomicU64::new(first_connects),
        };
        Ok((Arc::new(bus), Inbox { notes, losses }))
    }

    /// Whether NATS is connected now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Returns once NATS has passed on every note told so far, for a
    /// process about to end; fails after 5 s, or if the connection was
    /// remade since it was first made, or since [`Bus::settle_from_now`]
    /// (notes may be lost).
    pub async fn settle(&self) -> anyhow::Result<()> {
        let settled = async {
            let (done, handed) = oneshot::channel();
            self.queue
                .send(Outgoing::Handed(done))
                .await
                .map_err(|_| anyhow::anyhow!("the bus is closed"))?;
            handed.await?;
            confirm(&self.client, self.settle_from.load(Ordering::Relaxed)).await
        };
        tokio::time::timeout(Duration::from_secs(5), settled)
            .await
            .context("NATS did not confirm in 5 s")?
    }

    /// Makes [`Bus::settle`] vouch for the notes told from now on only: a
    /// node stopping after its NATS connection was once remade (what was
    /// lost then, the others saw by the notes' numbers) asks whether its
    /// last notes got through.
    pub fn settle_from_now(&self) {
        self.settle_from.store(connects(&self.client), Ordering::Relaxed);
    }

    /// Queues `note`, followed by `frames` (split over several notes with
    /// the same header when they are many).
    pub fn tell(&self, note: &impl Serialize, frames: &[Utf8Bytes]) {
        let Ok(header) = serde_json::to_vec(note) else {
            return;
        };
        let mut rest = frames;
        loop {
            let mut payload = header.clone();
            let mut taken = 0;
            for frame in rest {
                if taken > 0 && payload.len() + frame.len() + 1 > NOTE_BYTES {
                    break;
                }
                payload.push(b'\n');
                payload.extend_from_slice(frame.as_bytes());
                taken += 1;
            }
            if self.queue.try_send(Outgoing::Note(payload)).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                crate::metrics::bus_note_dropped();
                tracing::warn!("the other nodes' queue is full; a note was dropped");
            }
            rest = &rest[taken..];
            if rest.is_empty() {
                return;
            }
        }
    }
}

/// Publishes what `outgoing` brings, each note numbered after the last
/// (and past any dropped meanwhile), and a numbered tick every
/// [`heard::TICK`] without one, so that the others see a loss soon.
async fn send(client: async_nats::Client, mut outgoing: mpsc::Receiver<Outgoing>, dropped: Arc<AtomicU64>) {
    let sender: u64 = rand::random();
    let mut number = 0u64;
    let mut tick = tokio::time::interval(heard::TICK);
    loop {
        let payload = tokio::select! {
            out = outgoing.recv() => match out {
                Some(Outgoing::Note(note)) => note,
                Some(Outgoing::Handed(done)) => {
                    let _ = done.send(());
                    continue;
                }
                None => return,
            },
            _ = tick.tick() => Vec::new(),
        };
        tick.reset();
        number += 1 + dropped.swap(0, Ordering::Relaxed);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NUMBER, format!("{sender}.{number}"));
        if let Err(err) = client.publish_with_headers(SUBJECT, headers, payload.into()).await {
            tracing::warn!(%err, "a note to the other nodes was lost");
        }
    }
}

/// How many times `client`'s connection has been made so far.
fn connects(client: &async_nats::Client) -> u64 {
    client.statistics().connects.load(Ordering::Relaxed)
}

/// Sends one note (no frames) from a process that is no node, such as the
/// admin command, and returns once NATS has passed it on: on a connection
/// of its own that listens to nothing, confirmed by a request nobody
/// answers (NATS says so only after handling what came before it on the
/// connection), and failed if the connection was remade meanwhile (what
/// was buffered on the old one is gone) or it all takes over 5 s.
pub async fn tell_once(url: &str, note: &impl Serialize) -> anyhow::Result<()> {
    let sent = async {
        let client = async_nats::ConnectOptions::new()
            .name("natter-admin")
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        let before = connects(&client);
        client.publish(SUBJECT, serde_json::to_vec(note)?.into()).await?;
        confirm(&client, before).await
    };
    tokio::time::timeout(Duration::from_secs(5), sent)
        .await
        .context("NATS did not confirm in 5 s")?
}

/// Waits until NATS has handled what `client` published so far, by a
/// request nobody answers (NATS says so only after handling what came
/// before it on the connection); fails if the connection was remade since
/// it counted `connects_before` (what was buffered on the old one is gone).
async fn confirm(client: &async_nats::Client, connects_before: u64) -> anyhow::Result<()> {
    let confirmed = client.request(format!("{SUBJECT}.confirm"), Default::default()).await;
    match confirmed {
        Err(err) if err.kind() == RequestErrorKind::NoResponders && connects(client) == connects_before => Ok(()),
        Err(err) => Err(anyhow::anyhow!("not confirmed: {err}")),
        Ok(_) => Err(anyhow::anyhow!("not confirmed: an unexpected answer")),
    }
}

impl Inbox {
    /// The next note another node sent and its frames; `None` once the
    /// connection is gone for good. Ticks are counted, not returned; notes
    /// this build can't read are skipped.
    pub async fn next<N: DeserializeOwned>(&mut self) -> Option<(N, Vec<Utf8Bytes>)> {
        while let Some(message) = self.notes.next().await {
            if let Some((sender, n)) = number(&message) {
                self.losses.heard().heard(sender, n, Instant::now());
            }
            if message.payload.is_empty() {
                continue;
            }
            let mut lines = message.payload.split(|b| *b == b'\n');
            let Some(Ok(note)) = lines.next().map(serde_json::from_slice::<N>) else {
                tracing::warn!("an unreadable note from another node was ignored");
                continue;
            };
            let frames = lines
                .filter_map(|line| std::str::from_utf8(line).ok())
                .map(Utf8Bytes::from)
                .collect();
            return Some((note, frames));
        }
        None
    }

    /// Who to ask whether notes were lost, once the inbox is being read.
    pub fn losses(&self) -> Losses {
        self.losses.clone()
    }
}

/// A note's sender and number, from its header (the admin command's
/// one-off notes have none).
fn number(message: &async_nats::Message) -> Option<(u64, u64)> {
    let value = message.headers.as_ref()?.get(NUMBER)?.as_str();
    let (sender, n) = value.split_once('.')?;
    Some((sender.parse().ok()?, n.parse().ok()?))
}

impl Losses {
    /// Whether notes may have been lost on their way here since the last
    /// call: a number skipped, a sender gone silent, or this node's own
    /// connection made again.
    pub fn take(&self) -> bool {
        self.heard().take_lost(connects(&self.client), Instant::now())
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        // The counts stay whole whatever panicked while holding them.
        self.heard.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use natter_tests::nats::NatsServer;

    use super::*;

    /// The number in the next note `inbox` gets.
    async fn next(inbox: &mut Inbox) -> u64 {
        let (note, _) = tokio::time::timeout(Duration::from_secs(10), inbox.next::<serde_json::Value>())
            .await
            .expect("a note within 10 s")
            .expect("the connection");
        note["n"].as_u64().expect("a number")
    }

    /// Notes dropped from a full queue never reach NATS, so nobody could
    /// tell they are missing; the sender skips their numbers instead, and
    /// the next note it does send tells the other nodes of the loss.
    #[tokio::test]
    async fn notes_dropped_from_a_full_queue_are_a_loss_the_others_see() {
        let nats = NatsServer::start().unwrap();
        // B listens (as far as the server knows) before A's first note.
        let (b, mut b_inbox) = Bus::connect(&nats.url).await.unwrap();
        b.client.flush().await.unwrap();
        let (a, _a_inbox) = Bus::connect(&nats.url).await.unwrap();
        let b_losses = b_inbox.losses();
        let note = |n: usize| serde_json::json!({ "n": n });

        a.tell(&note(0), &[]);
        assert_eq!(next(&mut b_inbox).await, 0);
        assert!(!b_losses.take(), "nothing lost yet");

        // Filled without yielding, so the sending task (on this thread)
        // takes nothing meanwhile: the last three don't fit.
        for n in 1..=QUEUE_DEPTH + 3 {
            a.tell(&note(n), &[]);
        }
        assert_eq!(next(&mut b_inbox).await, 1);
        assert!(
            b_losses.take(),
            "three numbers were skipped before the first note after them"
        );
    }
}
