//! Small REST helpers shared by the API tests.

use natter_common::{api::SessionCreated, ErrorBody};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::TestServer;

pub const PASSWORD: &str = "correct horse battery";

/// Registers `username` (display name derived from it) and returns the session.
pub async fn register(server: &TestServer, username: &str) -> anyhow::Result<SessionCreated> {
    let response = post_json(
        server,
        "api/v1/auth/register",
        json!({
            "username": username,
            "display_name": format!("{username} display"),
            "password": PASSWORD,
        }),
    )
    .await?;
    anyhow::ensure!(
        response.status() == StatusCode::CREATED,
        "register {username}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

pub async fn login(server: &TestServer, username: &str, password: &str) -> anyhow::Result<Response> {
    post_json(
        server,
        "api/v1/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

pub async fn post_json(server: &TestServer, path: &str, body: Value) -> anyhow::Result<Response> {
    Ok(reqwest::Client::new().post(server.at(path)).json(&body).send().await?)
}

pub async fn get_authed(server: &TestServer, path: &str, token: &str) -> anyhow::Result<Response> {
    Ok(reqwest::Client::new()
        .get(server.at(path))
        .bearer_auth(token)
        .send()
        .await?)
}

/// Asserts the status and parses the typed error body.
pub async fn expect_error(response: Response, status: StatusCode) -> anyhow::Result<ErrorBody> {
    let actual = response.status();
    let text = response.text().await?;
    anyhow::ensure!(actual == status, "expected {status}, got {actual}: {text}");
    serde_json::from_str(&text).map_err(|err| anyhow::anyhow!("not an ErrorBody ({err}): {text}"))
}

/// A signed-in user talking to the server with their bearer token.
#[derive(Clone)]
pub struct Authed {
    pub token: String,
    pub user: natter_common::api::User,
    base: String,
    http: reqwest::Client,
}

impl Authed {
    /// Registers `username` and keeps its session.
    pub async fn register(server: &TestServer, username: &str) -> anyhow::Result<Self> {
        let session = register(server, username).await?;
        Ok(Self {
            token: session.token,
            user: session.user,
            base: server.url.clone(),
            http: reqwest::Client::new(),
        })
    }

    pub fn id(&self) -> natter_common::ids::UserId {
        self.user.id
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Response> {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Response> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Response> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// GET and parse a successful JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self.get(path).await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {text}");
        Ok(serde_json::from_str(&text)?)
    }
}

/// Parses a successful response of the given status.
pub async fn expect_json<T: serde::de::DeserializeOwned>(response: Response, status: StatusCode) -> anyhow::Result<T> {
    let actual = response.status();
    let text = response.text().await?;
    anyhow::ensure!(actual == status, "expected {status}, got {actual}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Makes `a` and `b` contacts (a asks, b accepts); returns their conversation.
pub async fn befriend(a: &Authed, b: &Authed) -> anyhow::Result<natter_common::ids::ConversationId> {
    use natter_common::api::{Contact, RequestOutcome};
    let outcome: RequestOutcome = expect_json(
        a.post("api/v1/contact-requests", json!({"user_id": b.id()})).await?,
        StatusCode::CREATED,
    )
    .await?;
    let RequestOutcome::Pending { request } = outcome else {
        anyhow::bail!("expected a pending request")
    };
    let contact: Contact = expect_json(
        b.post(&format!("api/v1/contact-requests/{}/accept", request.id.0), json!({}))
            .await?,
        StatusCode::OK,
    )
    .await?;
    Ok(contact.conversation_id)
}

/// Registers one user per name.
pub async fn register_all<const N: usize>(server: &TestServer, names: [&str; N]) -> anyhow::Result<[Authed; N]> {
    let mut out = Vec::with_capacity(N);
    for name in names {
        out.push(Authed::register(server, name).await?);
    }
    out.try_into()
        .map_err(|_| anyhow::anyhow!("registered a different number of users"))
}

impl Authed {
    /// A second session (another device) for an existing user.
    pub async fn login(server: &TestServer, username: &str) -> anyhow::Result<Self> {
        Self::login_with(server, username, PASSWORD).await
    }

    /// A session for `username` signing in with `password`.
    pub async fn login_with(server: &TestServer, username: &str, password: &str) -> anyhow::Result<Self> {
        let session: natter_common::api::SessionCreated =
            expect_json(login(server, username, password).await?, StatusCode::OK).await?;
        Ok(Self {
            token: session.token,
            user: session.user,
            base: server.url.clone(),
            http: reqwest::Client::new(),
        })
    }
}

/// `owner` creates a group with `members` (who must be their contacts).
pub async fn create_group(
    owner: &Authed,
    name: &str,
    members: &[&Authed],
) -> anyhow::Result<natter_common::api::Group> {
    let ids: Vec<_> = members.iter().map(|m| m.id()).collect();
    expect_json(
        owner
            .post("api/v1/groups", json!({"name": name, "member_ids": ids}))
            .await?,
        StatusCode::CREATED,
    )
    .await
}

impl Authed {
    /// A user signed in with a token issued elsewhere (e.g. by `admin provision`).
    pub async fn from_token(server: &TestServer, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let response = http.get(server.at("api/v1/me")).bearer_auth(token).send().await?;
        let user = expect_json(response, StatusCode::OK).await?;
        Ok(Self {
            token: token.to_owned(),
            user,
            base: server.url.clone(),
            http,
        })
    }

    /// Uploads a generated `width` × `height` PNG; `shade` varies its bytes
    /// (identical uploads are stored once).
    pub async fn upload_png(&self, width: u32, height: u32, shade: u8) -> anyhow::Result<natter_common::api::Media> {
        use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
        let image = RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, shade]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(image).write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("image.png")
            .mime_str("image/png")?;
        let response = self
            .http
            .post(format!("{}api/v1/media", self.base))
            .bearer_auth(&self.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?;
        expect_json(response, StatusCode::CREATED).await
    }
}

/// Every event of a conversation through REST history, oldest first.
pub async fn full_history(
    user: &Authed,
    conversation: natter_common::ids::ConversationId,
) -> anyhow::Result<Vec<natter_common::events::Event>> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: natter_common::api::History = user
            .get_json(&format!(
                "api/v1/conversations/{}/events?after={after}&limit=100",
                conversation.0
            ))
            .await?;
        if let Some(last) = page.events.last() {
            after = last.seq;
        }
        all.extend(page.events);
        if !page.more {
            return Ok(all);
        }
    }
}

/// A server with the app and `count` provisioned users named `<prefix>N`:
/// the first is everyone's contact and owns the group "Everyone" of all of
/// them. Returns the owner's client and the group too.
pub async fn everyone_group_with_app(
    prefix: &str,
    count: u32,
) -> anyhow::Result<(
    TestServer,
    crate::server::Provisioned,
    Authed,
    natter_common::api::Group,
)> {
    let users = count.to_string();
    let args = [
        "--users",
        &users,
        "--prefix",
        prefix,
        "--ring",
        "0",
        "--group-size",
        "0",
        "--star",
    ];
    let (server, provisioned) = TestServer::provisioned_with_app(&args, &crate::FAST).await?;
    let owner = Authed::from_token(&server, &provisioned.users[0].token).await?;
    let member_ids: Vec<i64> = provisioned.users[1..].iter().map(|u| u.id).collect();
    let response = owner
        .post("api/v1/groups", json!({"name": "Everyone", "member_ids": member_ids}))
        .await?;
    let group: natter_common::api::Group = expect_json(response, StatusCode::CREATED).await?;
    anyhow::ensure!(group.member_count == count, "{} members", group.member_count);
    Ok((server, provisioned, owner, group))
}
