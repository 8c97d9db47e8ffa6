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

pub async fn login(
    server: &TestServer,
    username: &str,
    password: &str,
) -> anyhow::Result<Response> {
    post_json(
        server,
        "api/v1/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

pub async fn post_json(server: &TestServer, path: &str, body: Value) -> anyhow::Result<Response> {
    Ok(reqwest::Client::new()
        .post(server.at(path))
        .json(&body)
        .send()
        .await?)
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
