//! Accounts over real HTTP against the real binary: register, login, logout,
//! me, sessions, and every way those can be refused.

use std::time::{Duration, Instant};

use natter_common::{
    api::{SessionCreated, SessionInfo, User},
    ErrorCode,
};
use natter_tests::{
    api::{expect_error, get_authed, login, post_json, register, PASSWORD},
    TestServer,
};
use reqwest::{header, StatusCode};
use serde_json::json;

/// Enough attempts per minute that only the rate-limit test ever hits the limit.
const GENEROUS: [(&str, &str); 1] = [("NATTER_AUTH_RATE_PER_MINUTE", "1000")];

#[tokio::test]
async fn register_then_me_by_bearer_and_by_cookie() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let browser = reqwest::Client::builder().cookie_store(true).build()?;

    let response = browser
        .post(server.at("api/v1/auth/register"))
        .json(&json!({"username": "Ada_L", "display_name": "  Ada Lovelace ", "password": PASSWORD}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("session cookie")
        .to_str()?
        .to_owned();
    for attribute in ["natter_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing in {cookie}");
    }
    let session: SessionCreated = response.json().await?;
    assert_eq!(session.token.len(), 43);
    assert_eq!(session.user.username, "Ada_L");
    assert_eq!(session.user.display_name, "Ada Lovelace", "display name is trimmed");

    let by_bearer: User = get_authed(&server, "api/v1/me", &session.token).await?.json().await?;
    assert_eq!(by_bearer, session.user);
    let by_cookie: User = browser.get(server.at("api/v1/me")).send().await?.json().await?;
    assert_eq!(by_cookie, session.user);
    Ok(())
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    register(&server, "grace").await?;
    for taken in ["grace", "GRACE", "Grace"] {
        let response = post_json(
            &server,
            "api/v1/auth/register",
            json!({
                "username": taken, "display_name": "Impostor", "password": PASSWORD,
            }),
        )
        .await?;
        let error = expect_error(response, StatusCode::CONFLICT).await?;
        assert_eq!(error.code, ErrorCode::UsernameTaken);
    }
    // Login is case-insensitive too, and lands on the one account.
    let session: SessionCreated = login(&server, "GrAcE", PASSWORD).await?.json().await?;
    assert_eq!(session.user.username, "grace");
    Ok(())
}

#[tokio::test]
async fn invalid_registrations_name_the_field() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let cases = [
        (
            json!({"username": "ok_user", "display_name": "Ok", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "ab", "display_name": "Ok", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "no spaces", "display_name": "Ok", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "_leading", "display_name": "Ok", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "ok_user", "display_name": "   ", "password": PASSWORD}),
            "display_name",
        ),
        (
            json!({"username": "ok_user", "display_name": "x".repeat(65), "password": PASSWORD}),
            "display_name",
        ),
    ];
    for (body, field) in cases {
        let response = post_json(&server, "api/v1/auth/register", body.clone()).await?;
        let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
        assert_eq!(error.code, ErrorCode::InvalidInput { field: field.into() }, "{body}");
        assert!(!error.message.is_empty());
    }
    // Nothing was half-created along the way.
    let response = login(&server, "ok_user", PASSWORD).await?;
    assert_eq!(
        expect_error(response, StatusCode::UNAUTHORIZED).await?.code,
        ErrorCode::InvalidCredentials
    );
    Ok(())
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_typed_errors() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let http = reqwest::Client::new();
    let url = server.at("api/v1/auth/register");

    let bodies = [
        ("application/json", "{\"username\": \"x\""), // truncated
        ("application/json", "[1, 2, 3]"),            // wrong shape
        (
            "application/json",
            "{\"username\": 5, \"display_name\": \"a\", \"password\": \"b\"}",
        ),
        ("text/plain", "{}"), // wrong content type
    ];
    for (content_type, body) in bodies {
        let response = http
            .post(&url)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await?;
        let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
        assert_eq!(error.code, ErrorCode::BadRequest, "{body}");
    }

    let huge = json!({"username": "big", "display_name": "x".repeat(200_000), "password": PASSWORD});
    let error = expect_error(http.post(&url).json(&huge).send().await?, StatusCode::PAYLOAD_TOO_LARGE).await?;
    assert_eq!(error.code, ErrorCode::PayloadTooLarge { max_bytes: 64 * 1024 });

    // The server is still fine afterwards.
    register(&server, "survivor").await?;
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    register(&server, "linus").await?;

    let wrong_password = expect_error(
        login(&server, "linus", "not the password").await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    let unknown_user = expect_error(login(&server, "nobody_here", PASSWORD).await?, StatusCode::UNAUTHORIZED).await?;
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password.code, ErrorCode::InvalidCredentials);

    // Both must pay for a password hash. Without the dummy verification an
    // unknown user answers in well under a tenth of the time; the bound here
    // is loose on purpose so scheduling noise cannot trip it.
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let start = Instant::now();
        login(&server, "linus", "not the password").await?;
        known.push(start.elapsed());
        let start = Instant::now();
        login(&server, "nobody_here", "not the password").await?;
        unknown.push(start.elapsed());
    }
    let (known, unknown) = (median(known), median(unknown));
    assert!(
        unknown * 2 >= known,
        "unknown user {unknown:?} vs wrong password {known:?}"
    );
    Ok(())
}

#[tokio::test]
async fn logout_revokes_only_that_session() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let laptop = register(&server, "margaret").await?;
    let phone: SessionCreated = login(&server, "margaret", PASSWORD).await?.json().await?;
    assert_ne!(laptop.token, phone.token);

    let http = reqwest::Client::new();
    let response = http
        .post(server.at("api/v1/auth/logout"))
        .bearer_auth(&laptop.token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("cookie cleared")
        .to_str()?;
    assert!(
        cleared.starts_with("natter_session=;") || cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    let error = expect_error(
        get_authed(&server, "api/v1/me", &laptop.token).await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    assert_eq!(error.code, ErrorCode::Unauthorized);
    assert_eq!(
        get_authed(&server, "api/v1/me", &phone.token).await?.status(),
        StatusCode::OK
    );

    // Logging out twice is refused, not a crash.
    let again = http
        .post(server.at("api/v1/auth/logout"))
        .bearer_auth(&laptop.token)
        .send()
        .await?;
    expect_error(again, StatusCode::UNAUTHORIZED).await?;
    Ok(())
}

#[tokio::test]
async fn sessions_are_listed_and_revocable_per_device() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let first = register(&server, "barbara").await?;
    let second: SessionCreated = post_json(
        &server,
        "api/v1/auth/login",
        json!({
            "username": "barbara", "password": PASSWORD, "device_name": "Phone",
        }),
    )
    .await?
    .json()
    .await?;

    let list: Vec<SessionInfo> = get_authed(&server, "api/v1/sessions", &first.token)
        .await?
        .json()
        .await?;
    assert_eq!(list.len(), 2);
    let current: Vec<_> = list.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].id, first.session_id);
    assert!(list
        .iter()
        .any(|s| s.id == second.session_id && s.device_name == "Phone"));

    let http = reqwest::Client::new();
    let url = server.at(&format!("api/v1/sessions/{}", second.session_id.0));
    assert_eq!(
        http.delete(&url).bearer_auth(&first.token).send().await?.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        get_authed(&server, "api/v1/me", &second.token).await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;

    // Someone else's session id is simply not found.
    let other = register(&server, "intruder").await?;
    let url = server.at(&format!("api/v1/sessions/{}", first.session_id.0));
    expect_error(
        http.delete(&url).bearer_auth(&other.token).send().await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    assert_eq!(
        get_authed(&server, "api/v1/me", &first.token).await?.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn missing_and_garbage_tokens_are_unauthorized() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS[0]]).await?;
    let http = reqwest::Client::new();
    let none = http.get(server.at("api/v1/me")).send().await?;
    assert_eq!(
        expect_error(none, StatusCode::UNAUTHORIZED).await?.code,
        ErrorCode::Unauthorized
    );
    for token in ["garbage", "x".repeat(43).as_str(), "Bearer"] {
        let response = get_authed(&server, "api/v1/me", token).await?;
        assert_eq!(
            expect_error(response, StatusCode::UNAUTHORIZED).await?.code,
            ErrorCode::Unauthorized
        );
    }
    Ok(())
}

/// A session lifetime of zero days would issue tokens that are already
/// expired: the server refuses to start with it and says why.
#[test]
fn a_zero_day_session_lifetime_is_refused_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = std::process::Command::new(natter_tests::server::server_binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--bind", "127.0.0.1:0", "--session-ttl-days", "0"])
        .output()?;
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("session-ttl-days"), "{said}");
    Ok(())
}

#[tokio::test]
async fn login_and_register_are_rate_limited_per_address() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[("NATTER_AUTH_RATE_PER_MINUTE", "3")]).await?;
    register(&server, "hopper").await?;
    login(&server, "hopper", "wrong password").await?;
    login(&server, "hopper", PASSWORD).await?;

    let response = login(&server, "hopper", PASSWORD).await?;
    let retry_after: u64 = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()?
        .parse()?;
    let error = expect_error(response, StatusCode::TOO_MANY_REQUESTS).await?;
    let ErrorCode::RateLimited { retry_after_ms } = error.code else {
        panic!("{error:?}")
    };
    assert!(retry_after_ms > 0 && retry_after_ms <= 60_000, "{retry_after_ms}");
    assert_eq!(retry_after, retry_after_ms.div_ceil(1000));

    let response = post_json(
        &server,
        "api/v1/auth/register",
        json!({
            "username": "another", "display_name": "A", "password": PASSWORD,
        }),
    )
    .await?;
    expect_error(response, StatusCode::TOO_MANY_REQUESTS).await?;
    Ok(())
}

/// A wrong-password login from `forwarded_for` (as a proxy would say); its status.
async fn login_via(server: &TestServer, forwarded_for: &str) -> anyhow::Result<StatusCode> {
    let response = reqwest::Client::new()
        .post(server.at("api/v1/auth/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"username": "nobody", "password": "wrong password"}))
        .send()
        .await?;
    Ok(response.status())
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() -> anyhow::Result<()> {
    // Behind a trusted proxy (the test client is 127.0.0.1): one budget per client.
    let proxied = TestServer::spawn_with(&[
        ("NATTER_AUTH_RATE_PER_MINUTE", "2"),
        ("NATTER_TRUSTED_PROXIES", "127.0.0.1,::1"),
    ])
    .await?;
    for _ in 0..2 {
        assert_eq!(login_via(&proxied, "203.0.113.7").await?, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_via(&proxied, "203.0.113.7").await?, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        login_via(&proxied, "198.51.100.8").await?,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own budget"
    );

    // Without that setting the header is a client's claim and changes nothing.
    let direct = TestServer::spawn_with(&[("NATTER_AUTH_RATE_PER_MINUTE", "2")]).await?;
    for _ in 0..2 {
        assert_eq!(login_via(&direct, "203.0.113.7").await?, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_via(&direct, "198.51.100.8").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header does not buy a fresh budget"
    );
    Ok(())
}

#[tokio::test]
async fn profile_update_changes_display_name_only_when_valid() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let session = register(&server, "alan").await?;
    let http = reqwest::Client::new();
    let url = server.at("api/v1/me");

    let updated: User = http
        .patch(&url)
        .bearer_auth(&session.token)
        .json(&json!({"display_name": "Alan T. 🧮"}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(updated.display_name, "Alan T. 🧮");

    let response = http
        .patch(&url)
        .bearer_auth(&session.token)
        .json(&json!({"display_name": ""}))
        .send()
        .await?;
    let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
    assert_eq!(
        error.code,
        ErrorCode::InvalidInput {
            field: "display_name".into()
        }
    );

    let response = http.patch(&url).json(&json!({"display_name": "Anon"})).send().await?;
    expect_error(response, StatusCode::UNAUTHORIZED).await?;

    let me: User = get_authed(&server, "api/v1/me", &session.token).await?.json().await?;
    assert_eq!(me.display_name, "Alan T. 🧮");
    Ok(())
}

#[tokio::test]
async fn accounts_and_sessions_survive_a_restart() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let session = register(&server, "persistent").await?;
    assert!(server.data_dir().join("natter.db").exists());

    let server = server.restart().await?;
    assert_eq!(
        get_authed(&server, "api/v1/me", &session.token).await?.status(),
        StatusCode::OK
    );
    assert_eq!(login(&server, "persistent", PASSWORD).await?.status(), StatusCode::OK);
    Ok(())
}
