//! The dispatcher: from a new message to encrypted pushes on their way.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::db::Db;
use axum::{
    body::Body,
    http::{header, Request},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use natter_common::{
    api::PushMessage,
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, UserId},
    limits::PUSH_PREVIEW_MAX_CHARS,
};
use tokio::sync::{mpsc, Semaphore};
use web_push_native::{p256, Auth};

use super::{
    endpoint::{self, Endpoint, PublicResolver},
    vapid::Vapid,
};
use crate::{db, hub::Hub, metrics};

/// At most one push per person per conversation in this time: the first
/// message of a burst notifies, the rest of it does not (the service
/// worker's notification for that conversation is still on screen).
pub const COALESCE: Duration = Duration::from_secs(30);

/// How long a push service may keep an undelivered push (the browser was
/// offline): a day-old "new message" is still news.
const TTL_SECS: u32 = 24 * 3600;

/// Pushes in flight at once, and how long each may take.
const IN_FLIGHT: usize = 32;
const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Job {
    pub event: Event,
    pub to: Arc<[UserId]>,
}

pub struct Dispatcher {
    db: Db,
    hub: Hub,
    sender: Arc<Sender>,
    subscribed: Arc<Mutex<HashSet<UserId>>>,
    /// When each (person, conversation) was last pushed.
    recent: HashMap<(UserId, ConversationId), Instant>,
    in_flight: Arc<Semaphore>,
}

/// What one push needs beyond its subscription.
struct Sender {
    client: Client<HttpsConnector<HttpConnector<PublicResolver>>, Body>,
    vapid: Arc<Vapid>,
    db: Db,
    allow_private: bool,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        hub: Hub,
        vapid: Arc<Vapid>,
        subscribed: Arc<Mutex<HashSet<UserId>>>,
        allow_private: bool,
    ) -> anyhow::Result<Self> {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?;
        let tls = if allow_private {
            tls.https_or_http()
        } else {
            tls.https_only()
        };
        let connector = tls.enable_http1().wrap_connector(endpoint::connector(allow_private));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            sender: Arc::new(Sender {
                client,
                vapid,
                db: db.clone(),
                allow_private,
            }),
            db,
            hub,
            subscribed,
            recent: HashMap::new(),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        })
    }

    pub async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut last_prune = Instant::now();
        while let Some(job) = jobs.recv().await {
            if last_prune.elapsed() > COALESCE {
                self.recent.retain(|_, at| at.elapsed() < COALESCE);
                last_prune = Instant::now();
            }
            if let Err(err) = self.dispatch(job).await {
                tracing::warn!(%err, "push dispatch failed");
            }
        }
    }

    /// Whom `job` should reach: members other than the sender who are
    /// subscribed, have no live connection and were not pushed about this
    /// conversation lately.
    fn candidates(&self, job: &Job) -> Vec<UserId> {
        let conversation = job.event.conversation_id;
        let subscribed = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        job.to
            .iter()
            .copied()
            .filter(|user| {
                *user != job.event.sender
                    && subscribed.contains(user)
                    && !self.hub.is_online(*user)
                    && self
                        .recent
                        .get(&(*user, conversation))
                        .is_none_or(|at| at.elapsed() >= COALESCE)
            })
            .collect()
    }

    async fn dispatch(&mut self, job: Job) -> sqlx::Result<()> {
        let candidates = self.candidates(&job);
        if candidates.is_empty() {
            return Ok(());
        }
        let event = &job.event;
        let conversation = event.conversation_id;
        let Some((sender, group)) = db::push::origin(&self.db, conversation, event.sender).await? else {
            return Ok(());
        };
        let now = db::now_ms();
        for user in candidates {
            let Some(recipient) = db::push::recipient(&self.db, user, conversation, now).await? else {
                continue;
            };
            let mention = event.body.mentions().contains(&user);
            // Read on another device meanwhile, or not wanted here.
            if recipient.read_seq >= event.seq || !recipient.notify.notifies(group.is_none(), mention) {
                continue;
            }
            if recipient.subscriptions.is_empty() {
                continue;
            }
            self.recent.insert((user, conversation), Instant::now());
            let message = PushMessage {
                conversation_id: conversation,
                seq: event.seq,
                event_id: event.id.clone(),
                sender: sender.clone(),
                group: group.clone(),
                preview: recipient.previews.then(|| preview(&event.body)).flatten(),
                mention,
            };
            let payload: Arc<[u8]> = serde_json::to_vec(&message).unwrap_or_default().into();
            let urgency = if group.is_none() || mention { "high" } else { "normal" };
            for subscription in recipient.subscriptions {
                let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                    return Ok(());
                };
                let sender = self.sender.clone();
                let payload = payload.clone();
                tokio::spawn(async move {
                    sender.send(subscription, &payload, conversation, urgency).await;
                    drop(permit);
                });
            }
        }
        Ok(())
    }
}

/// The start of a message, as a notification shows it.
fn preview(body: &EventBody) -> Option<String> {
    let EventBody::Message { content, .. } = body else {
        return None;
    };
    Some(match content {
        MessageContent::Text { text } => {
            let mut cut: String = text.chars().take(PUSH_PREVIEW_MAX_CHARS).collect();
            if cut.len() < text.len() {
                cut.push('…');
            }
            cut
        }
        MessageContent::Image { .. } => "Sent a photo".into(),
        MessageContent::Sticker { .. } => "Sent a sticker".into(),
        MessageContent::Deleted | MessageContent::Unknown => return None,
    })
}

impl Sender {
    async fn send(
        &self,
        subscription: db::push::Subscription,
        payload: &[u8],
        conversation: ConversationId,
        urgency: &str,
    ) {
        let outcome = match self.post(&subscription, payload, conversation, urgency).await {
            Ok(status) if status.is_success() => "sent",
            Ok(status) if status.as_u16() == 404 || status.as_u16() == 410 => {
                // The browser unsubscribed or the subscription expired.
                if let Err(err) = db::push::remove_gone(&self.db, subscription.session_id, &subscription.endpoint).await
                {
                    tracing::warn!(%err, "cannot remove a gone push subscription");
                }
                "gone"
            }
            Ok(status) => {
                tracing::warn!(%status, session = subscription.session_id, "push service refused a push");
                "refused"
            }
            Err(err) => {
                tracing::warn!(%err, session = subscription.session_id, "push failed");
                "failed"
            }
        };
        metrics::push(outcome);
    }

    async fn post(
        &self,
        subscription: &db::push::Subscription,
        payload: &[u8],
        conversation: ConversationId,
        urgency: &str,
    ) -> anyhow::Result<axum::http::StatusCode> {
        let endpoint = Endpoint::parse(&subscription.endpoint, self.allow_private)?;
        let browser_key = p256::PublicKey::from_sec1_bytes(&subscription.p256dh)?;
        anyhow::ensure!(subscription.auth.len() == 16, "auth secret is not 16 bytes");
        let auth = Auth::clone_from_slice(&subscription.auth);
        let body = web_push_native::encrypt(payload.to_vec(), &browser_key, &auth)
            .map_err(|err| anyhow::anyhow!("encryption failed: {err:?}"))?;
        let now = u64::try_from(db::now_ms() / 1000).unwrap_or_default();
        let request = Request::post(endpoint.uri.clone())
            .header("TTL", TTL_SECS)
            .header("Urgency", urgency)
            // One pending push per conversation at the push service: a newer
            // one replaces one the browser has not fetched yet.
            .header("Topic", format!("c{}", conversation.0))
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::AUTHORIZATION, self.vapid.authorization(&endpoint.origin, now))
            .body(Body::from(body))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request)).await??;
        Ok(response.status())
    }
}
