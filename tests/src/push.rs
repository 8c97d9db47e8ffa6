//! A fake Web Push service on loopback, and the browser's side of a
//! subscription: what natter posts is decrypted with the subscription's
//! private key (RFC 8291) and its VAPID token checked (RFC 8292), as a real
//! push service and browser would.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, HeaderMap, Request, Response};
use natter_common::api::{PushKeys, PushMessage, PushSubscription};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use tokio::{net::TcpListener, sync::mpsc};

/// One push as the service received it.
#[derive(Debug)]
pub struct Received {
    /// The endpoint path it was posted to (which subscription).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct FakePushService {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    received: mpsc::UnboundedReceiver<Received>,
    /// Status to answer per path (default 201).
    answers: Arc<Mutex<HashMap<String, u16>>>,
}

impl FakePushService {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let (tx, received) = mpsc::unbounded_channel();
        let answers: Arc<Mutex<HashMap<String, u16>>> = Arc::default();
        let statuses = answers.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let statuses = statuses.clone();
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    let statuses = statuses.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let headers = request.headers().clone();
                        let body = match request.into_body().collect().await {
                            Ok(body) => body.to_bytes().to_vec(),
                            Err(_) => Vec::new(),
                        };
                        let status = statuses.lock().unwrap().get(&path).copied().unwrap_or(201);
                        let _ = tx.send(Received { path, headers, body });
                        let response = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Ok(Self {
            origin,
            received,
            answers,
        })
    }

    /// Answers pushes to `path` with `status` from now on.
    pub fn answer(&self, path: &str, status: u16) {
        self.answers.lock().unwrap().insert(path.to_owned(), status);
    }

    /// The next push received, within 20 s.
    pub async fn next(&mut self) -> anyhow::Result<Received> {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no push arrived within 20 s"))?
            .ok_or_else(|| anyhow::anyhow!("the fake push service stopped"))
    }

    /// Pushes received and not yet taken, without waiting.
    pub fn pending(&mut self) -> Vec<Received> {
        std::iter::from_fn(|| self.received.try_recv().ok()).collect()
    }
}

/// A browser's push subscription: its key pair and auth secret.
pub struct Subscriber {
    secret: p256::SecretKey,
    auth: [u8; 16],
    pub endpoint: String,
}

impl Subscriber {
    /// A new subscription at `path` of `service`.
    pub fn new(service: &FakePushService, path: &str) -> Self {
        Self {
            secret: p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng),
            auth: rand::random(),
            endpoint: format!("{}{path}", service.origin),
        }
    }

    /// The `toJSON()` a browser would post.
    pub fn subscription(&self) -> PushSubscription {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        PushSubscription {
            endpoint: self.endpoint.clone(),
            keys: PushKeys {
                p256dh: URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                auth: URL_SAFE_NO_PAD.encode(self.auth),
            },
        }
    }

    /// Decrypts a push for this subscription.
    pub fn open(&self, push: &Received) -> anyhow::Result<PushMessage> {
        anyhow::ensure!(push.header("content-encoding") == Some("aes128gcm"), "not aes128gcm");
        let auth = web_push_native::Auth::clone_from_slice(&self.auth);
        let plain = web_push_native::decrypt(push.body.clone(), &self.secret, &auth)
            .map_err(|err| anyhow::anyhow!("cannot decrypt the push: {err:?}"))?;
        Ok(serde_json::from_slice(&plain)?)
    }
}

/// The claims of a push's VAPID token once its signature checks out against
/// `server_key` (the server's published key), and the key it named.
pub fn verify_vapid(push: &Received, server_key: &str) -> anyhow::Result<serde_json::Value> {
    let header = push
        .header("authorization")
        .ok_or_else(|| anyhow::anyhow!("no Authorization"))?;
    let (token, key) = header
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .ok_or_else(|| anyhow::anyhow!("not a vapid header: {header}"))?;
    anyhow::ensure!(key == server_key, "signed with another key than the one published");
    let (signed, signature) = token.rsplit_once('.').ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let verifier = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key)?)?;
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature)?)?;
    verifier.verify(signed.as_bytes(), &signature)?;
    let (header, claims) = signed.split_once('.').ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
    anyhow::ensure!(header["alg"] == "ES256", "alg is {}", header["alg"]);
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?)
}
