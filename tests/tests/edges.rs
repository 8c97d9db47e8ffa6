//! Hostile HTTP from outside, against the real binary: bodies declared too
//! large are refused before they arrive, bodies that dribble in are cut off
//! at a deadline for the whole body, and pages on other origins can't make
//! changes with a signed-in browser's cookie; even the requests hyper
//! refuses before the router sees them get the security headers.

use std::time::{Duration, Instant};

use natter_common::{ErrorBody, ErrorCode, SESSION_COOKIE};
use natter_tests::{
    api::{register_all, Authed},
    TestServer, FAST,
};
use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn addr(server: &TestServer) -> String {
    server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Sends `head` (request line and headers), then `body` a byte every
/// `gap`; returns the response as text once the server answers or closes.
async fn raw(server: &TestServer, head: &str, body: &[u8], gap: Duration) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr(server)).await?;
    stream.write_all(head.as_bytes()).await?;
    let (mut reader, mut writer) = stream.into_split();
    let body = body.to_vec();
    let dribble = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(gap).await;
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        // Keep the connection open, as a stalled client does.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buf)).await??;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((headers, rest)) = text.split_once("\r\n\r\n") {
            let length = headers
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| rest.len() >= n) {
                break;
            }
        }
    }
    dribble.abort();
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn error_of(response: &str) -> anyhow::Result<ErrorBody> {
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or(("", ""));
    Ok(serde_json::from_str(body)?)
}

fn status_of(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn a_body_declared_too_large_is_refused_before_it_arrives() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    for path in ["/api/v1/auth/login", "/api/v1/media"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n",
            addr(&server)
        );
        let started = Instant::now();
        let response = raw(&server, &head, b"", Duration::ZERO).await?;
        assert_eq!(status_of(&response), "413", "{path}: {response}");
        assert!(matches!(error_of(&response)?.code, ErrorCode::PayloadTooLarge { .. }));
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{response}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} answered only after {:?}",
            started.elapsed()
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_body_that_dribbles_in_is_cut_off_at_the_deadline_for_the_whole_body() -> anyhow::Result<()> {
    let mut env = FAST.to_vec();
    env.extend([("NATTER_BODY_TIMEOUT_SECS", "1"), ("NATTER_UPLOAD_TIMEOUT_SECS", "1")]);
    let server = TestServer::spawn_with(&env).await?;
    let [uploader] = register_all(&server, ["slow_uploader"]).await?;
    let bearer = format!("Authorization: Bearer {}\r\n", uploader.token);
    let body = br#"{"username":"slowpoke","password":"a long enough password"}"#;
    let routes = [
        ("/api/v1/auth/register", "application/json", ""),
        ("/api/v1/media", "multipart/form-data; boundary=x", bearer.as_str()),
    ];
    for (path, content_type, auth) in routes {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            addr(&server),
            body.len()
        );
        // A byte every 200 ms: no read waits long, the whole would take 12 s.
        let started = Instant::now();
        let response = raw(&server, &head, body, Duration::from_millis(200)).await?;
        let took = started.elapsed();
        assert_eq!(status_of(&response), "408", "{path}: {response}");
        assert_eq!(error_of(&response)?.code, ErrorCode::RequestTimeout);
        assert!(took < Duration::from_secs(4), "{path} held for {took:?}");
    }

    // Many at once are all let go.
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        addr(&server)
    );
    let started = Instant::now();
    let stalled: Vec<_> = (0..200)
        .map(|_| {
            let head = head.clone();
            let server_url = server.url.clone();
            tokio::spawn(async move {
                let mut stream =
                    TcpStream::connect(server_url.trim_start_matches("http://").trim_end_matches('/')).await?;
                stream.write_all(head.as_bytes()).await?;
                let mut answer = String::new();
                tokio::time::timeout(Duration::from_secs(20), stream.read_to_string(&mut answer)).await??;
                anyhow::Ok(answer)
            })
        })
        .collect();
    for task in stalled {
        let answer = task.await??;
        assert_eq!(status_of(&answer), "408", "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "200 stalled bodies held for {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn pages_on_other_origins_cannot_change_anything_with_the_cookie() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann] = register_all(&server, ["origin_ann"]).await?;
    let http = reqwest::Client::new();
    let cookie = format!("{SESSION_COOKIE}={}", ann.token);
    let own = server.url.trim_end_matches('/').to_owned();
    let logout = |headers: &[(&str, &str)]| {
        let mut request = http.post(server.at("api/v1/auth/logout")).header("Cookie", &cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    for foreign in [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Origin", "http://127.0.0.1.evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let response = logout(&foreign).await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{foreign:?}");
        let error: ErrorBody = response.json().await?;
        assert_eq!(error.code, ErrorCode::Forbidden);
    }
    // Reading is not changing: a foreign page's GET is CORS's business.
    let me = http
        .get(server.at("api/v1/me"))
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::OK);
    let still = Authed::from_token(&server, &ann.token).await;
    assert!(still.is_ok(), "the session survived every foreign attempt");

    let response = logout(&[("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")]).await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        Authed::from_token(&server, &ann.token).await.is_err(),
        "signed out from our own page"
    );
    Ok(())
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_refused() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann] = register_all(&server, ["array_ann"]).await?;
    let response = ann
        .call(
            reqwest::Method::PATCH,
            "api/v1/me",
            Some(serde_json::json!(["Evil Name"])),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: ErrorBody = response.json().await?;
    assert_eq!(error.code, ErrorCode::BadRequest);
    let me: natter_common::api::User = ann.get_json("api/v1/me").await?;
    assert_ne!(me.display_name, "Evil Name", "nothing changed");
    for body in [
        serde_json::json!(["array_ann", "a long enough password"]),
        serde_json::json!("x"),
        serde_json::json!(7),
    ] {
        let response = reqwest::Client::new()
            .post(server.at("api/v1/auth/login"))
            .json(&body)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    Ok(())
}

/// hyper refuses some requests itself, before the router sees them; those
/// answers carry the same security headers as every other.
#[tokio::test]
async fn requests_refused_before_the_router_still_get_the_security_headers() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let many_headers: String = (0..200).map(|i| format!("X-Header-{i}: 1\r\n")).collect();
    let long_uri = "a".repeat(70_000);
    for (head, status) in [
        ("NOT HTTP AT ALL\r\n\r\n".to_owned(), "400"),
        (format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"), "431"),
        (format!("GET /{long_uri} HTTP/1.1\r\nHost: x\r\n\r\n"), "414"),
    ] {
        let response = raw(&server, &head, b"", Duration::ZERO).await?;
        assert_eq!(status_of(&response), status, "{response}");
        let headers = response.to_ascii_lowercase();
        for header in [
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
            "content-security-policy: default-src 'none'",
        ] {
            assert!(headers.contains(header), "{status} lacks {header}: {response}");
        }
    }
    // The router's own answers are untouched.
    let response = raw(&server, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"", Duration::ZERO).await?;
    assert_eq!(status_of(&response), "200", "{response}");
    assert_eq!(response.matches("x-content-type-options").count(), 1, "{response}");
    Ok(())
}
