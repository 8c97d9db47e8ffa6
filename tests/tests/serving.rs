//! The binary as a web server: probes, security headers, the SPA fallback,
//! the OpenAPI document and unknown routes.

use natter_common::ErrorCode;
use natter_tests::{api::expect_error, TestServer};
use reqwest::{header, StatusCode};
use serde_json::Value;

const INDEX: &str = r#"<!DOCTYPE html><html><head><script type="module">import init from '/app.js'; await init();</script></head><body></body></html>"#;

/// A server whose static dir is a fresh temp dir; keep the `TempDir` alive.
async fn server_with_spa() -> anyhow::Result<(tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir()?;
    let dist = dir.path();
    std::fs::write(dist.join("index.html"), INDEX)?;
    std::fs::write(dist.join("app.js"), "export default async function init() {}")?;
    std::fs::write(dist.join("app-0123456789abcdef.css"), "body {}")?;
    let server = TestServer::spawn_with(&[("NATTER_STATIC_DIR", dist.to_str().unwrap())]).await?;
    Ok((dir, server))
}

/// The app's files as the build leaves them: brotli and gzip copies beside
/// each, sent as they are to a browser that takes them.
#[tokio::test]
async fn the_apps_files_are_sent_precompressed() -> anyhow::Result<()> {
    let (dist, server) = server_with_spa().await?;
    let name = "app-0123456789abcdef_bg.wasm";
    std::fs::write(dist.path().join(name), b"\0asm raw bytes")?;
    std::fs::write(dist.path().join(format!("{name}.br")), b"brotli bytes")?;
    std::fs::write(dist.path().join(format!("{name}.gz")), b"gzip bytes")?;
    let http = reqwest::Client::new();
    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), &b"brotli bytes"[..]),
        ("gzip", Some("gzip"), &b"gzip bytes"[..]),
        ("identity", None, &b"\0asm raw bytes"[..]),
    ] {
        let response = http
            .get(server.at(name))
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        let sent = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(sent.as_deref(), encoding, "{accept}");
        assert_eq!(&response.bytes().await?[..], body, "{accept}");
    }
    Ok(())
}

/// `make test` builds the app with its precompressed copies: the real wasm
/// goes out as brotli.
#[tokio::test]
async fn the_built_app_goes_out_as_brotli() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let dist = natter_tests::server::app_dir();
    let wasm = std::fs::read_dir(&dist)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("_bg.wasm"))
        .ok_or_else(|| anyhow::anyhow!("no wasm in {}", dist.display()))?;
    let brotli = std::fs::read(dist.join(format!("{wasm}.br")))?;
    let response = reqwest::Client::new()
        .get(server.at(&wasm))
        .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
        .send()
        .await?;
    assert_eq!(
        response.headers().get(header::CONTENT_ENCODING).map(|v| v.as_bytes()),
        Some(&b"br"[..])
    );
    assert_eq!(response.bytes().await?.len(), brotli.len());
    Ok(())
}

/// Issue 13's budget: the wasm and its JavaScript glue, as sent (brotli),
/// at most 350 KiB together (docs/frontend.md, "Size and first render").
#[test]
fn the_app_as_sent_fits_its_size_budget() -> anyhow::Result<()> {
    const BUDGET: u64 = 350 * 1024;
    let dist = natter_tests::server::app_dir();
    // The one built file whose name matches, and the size of its `.br` copy.
    let sent = |matches: &dyn Fn(&str) -> bool| -> anyhow::Result<(String, u64)> {
        let names: Vec<String> = std::fs::read_dir(&dist)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| matches(n))
            .collect();
        let [name] = &names[..] else {
            anyhow::bail!("expected one such file in {}, found {names:?}", dist.display());
        };
        let size = std::fs::metadata(dist.join(format!("{name}.br")))?.len();
        Ok((name.clone(), size))
    };
    let (wasm, wasm_size) = sent(&|n| n.ends_with("_bg.wasm"))?;
    let (js, js_size) = sent(&|n| n.starts_with("natter-frontend-") && n.ends_with(".js"))?;
    let total = wasm_size + js_size;
    println!("{wasm}.br {wasm_size} B + {js}.br {js_size} B = {total} B (budget {BUDGET} B)");
    assert!(
        total <= BUDGET,
        "the app as sent is {total} B (wasm {wasm_size} B + JS {js_size} B), over issue 13's {BUDGET} B"
    );
    Ok(())
}

#[tokio::test]
async fn probes_answer() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let health = reqwest::get(server.at("healthz")).await?;
    assert_eq!(health.status(), StatusCode::OK);
    let ready: Value = reqwest::get(server.at("readyz")).await?.json().await?;
    assert_eq!(ready["status"], "ready");
    Ok(())
}

#[tokio::test]
async fn spa_routes_fall_back_to_index_with_a_csp_that_admits_its_script() -> anyhow::Result<()> {
    let (_dist, server) = server_with_spa().await?;
    for route in ["", "login", "chats/42/thread"] {
        let response = reqwest::get(server.at(route)).await?;
        assert_eq!(response.status(), StatusCode::OK, "/{route}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str()?.to_owned();
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            csp.contains("'sha256-"),
            "inline bootstrap script must be allowed by hash: {csp}"
        );
        assert_eq!(response.text().await?, INDEX);
    }
    let script = reqwest::get(server.at("app.js")).await?;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()[header::CONTENT_TYPE].to_str()?.contains("javascript"));
    assert!(!script
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.to_str().unwrap().contains("immutable")));
    // Content-hashed build output is cached for good.
    let css = reqwest::get(server.at("app-0123456789abcdef.css")).await?;
    assert_eq!(
        css.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    // A missing file is a 404, not the app shell.
    assert_eq!(
        reqwest::get(server.at("missing.js")).await?.status(),
        StatusCode::NOT_FOUND
    );
    Ok(())
}

#[tokio::test]
async fn every_response_carries_security_headers() -> anyhow::Result<()> {
    let (_dist, server) = server_with_spa().await?;
    for path in ["", "healthz", "api/v1/me", "api/openapi.json"] {
        let response = reqwest::get(server.at(path)).await?;
        let headers = response.headers();
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "/{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "/{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "/{path}");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY), "/{path}");
    }
    Ok(())
}

#[tokio::test]
async fn unknown_api_routes_are_typed_404s() -> anyhow::Result<()> {
    let (_dist, server) = server_with_spa().await?;
    for path in ["api/v1/nope", "api/v2/me", "api"] {
        let error = expect_error(reqwest::get(server.at(path)).await?, StatusCode::NOT_FOUND).await?;
        assert_eq!(error.code, ErrorCode::NotFound, "/{path}");
    }
    Ok(())
}

#[tokio::test]
async fn without_a_built_app_the_api_still_serves() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let response = reqwest::get(server.at("")).await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.text().await?.contains("make run"));
    assert_eq!(reqwest::get(server.at("healthz")).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn openapi_document_lists_the_account_routes() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let doc: Value = reqwest::get(server.at("api/openapi.json")).await?.json().await?;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/sessions",
        "/api/v1/contact-requests",
        "/api/v1/groups/{id}/members",
        "/api/v1/conversations/{id}/events",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    // Query parameters are declared in the query, not as path parameters
    // (which generated clients would require and put in the path).
    let routes = [
        ("/api/v1/conversations/{id}/events", "before"),
        ("/api/v1/users/search", "q"),
        ("/api/v1/search/messages", "q"),
        ("/api/v1/groups/{id}/members", "limit"),
    ];
    for (path, name) in routes {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"));
        let param = params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} lacks {name}"));
        assert_eq!(param["in"], "query", "{path} {name}: {param}");
        for param in params.iter().filter(|p| p["in"] == "path") {
            let name = param["name"].as_str().unwrap_or_default();
            assert!(
                path.contains(&format!("{{{name}}}")),
                "{path} declares a path parameter {name} it lacks"
            );
        }
    }
    // Answers any route can give are declared on each: an origin refused
    // on every change, a slow or oversized body wherever there is one.
    for (method, path, statuses) in [
        ("post", "/api/v1/auth/logout", &["403"][..]),
        ("post", "/api/v1/groups", &["403", "408", "413"]),
        ("put", "/api/v1/conversations/{id}/settings", &["403", "408", "413"]),
        ("delete", "/api/v1/push-subscriptions", &["403"]),
    ] {
        for status in statuses {
            assert!(
                doc["paths"][path][method]["responses"].get(status).is_some(),
                "{method} {path} does not declare {status}"
            );
        }
    }
    assert!(doc["paths"]["/api/v1/me"]["get"]["responses"].get("403").is_none());
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    Ok(())
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_cut_off() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::spawn_with(&[("NATTER_HEADER_TIMEOUT_SECS", "1")]).await?;
    let authority = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut slow = tokio::net::TcpStream::connect(&authority).await?;
    // The start of a request, and then nothing more.
    slow.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {authority}\r\nX-Slow: ").as_bytes())
        .await?;
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(15), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a half-sent request open for 15 s");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // The healthy keep on being served.
    let ok = reqwest::get(server.at("healthz")).await?;
    assert_eq!(ok.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn readiness_fails_once_the_message_log_has_stopped() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[("NATTER_TEST_FAULTS", "1")]).await?;
    assert_eq!(reqwest::get(server.at("readyz")).await?.status(), StatusCode::OK);
    let http = reqwest::Client::new();
    let stopped = http.post(server.at("__test/stop-log")).send().await?;
    assert_eq!(stopped.status(), StatusCode::OK);
    let response = reqwest::get(server.at("readyz")).await?;
    assert_eq!(
        expect_error(response, StatusCode::SERVICE_UNAVAILABLE).await?.code,
        ErrorCode::Unavailable
    );
    assert_eq!(
        reqwest::get(server.at("healthz")).await?.status(),
        StatusCode::OK,
        "alive, not ready"
    );
    Ok(())
}

#[tokio::test]
async fn every_request_has_an_id_in_its_response_and_on_its_log_lines() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let http = reqwest::Client::new();
    let echoed = http
        .get(server.at("healthz"))
        .header("X-Request-Id", "req-test-42")
        .send()
        .await?;
    assert_eq!(echoed.headers()["x-request-id"], "req-test-42");
    let generated = reqwest::get(server.at("healthz")).await?;
    let id = generated.headers()["x-request-id"].to_str()?.to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    // A line logged while handling a signed-in request names both.
    let [ann] = natter_tests::api::register_all(&server, ["reqid_ann"]).await?;
    let response = http
        .delete(server.at("api/v1/me"))
        .bearer_auth(&ann.token)
        .header("X-Request-Id", "req-delete-7")
        .json(&serde_json::json!({"password": natter_tests::api::PASSWORD}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("account deleted"))
        .unwrap_or_else(|| panic!("no line about the deletion in:\n{log}"));
    assert!(line.contains("request_id=\"req-delete-7\""), "{line}");
    assert!(line.contains(&format!("user_id={}", ann.id().0)), "{line}");
    Ok(())
}
