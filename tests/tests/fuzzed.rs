//! What a schema-driven fuzzer (schemathesis, run against
//! `/api/openapi.json`) found, pinned against the real binary: extreme
//! numbers in queries that once panicked or broke the search index's query
//! language, and an OpenAPI document whose every route declares the
//! answers it can give (so a generated client knows them all).

use std::{
    collections::{BTreeSet, HashSet},
    time::Duration,
};

use natter_common::{
    api::{History, MessageHit, Page},
    limits::{
        DISPLAY_NAME_MAX_CHARS, GROUP_NAME_MAX_CHARS, MAX_HISTORY_PAGE, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS,
        SEARCH_QUERY_MAX_CHARS, USERNAME_MAX_CHARS, USERNAME_MIN_CHARS,
    },
    ErrorCode,
};
use natter_tests::{
    api::{befriend, expect_error, register_all, Authed},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn document(server: &TestServer) -> anyhow::Result<Value> {
    Ok(reqwest::get(server.at("api/openapi.json")).await?.json().await?)
}

/// Each operation of the document as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            all.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    all
}

fn declared(op: &Value, status: &str) -> bool {
    op["responses"].get(status).is_some()
}

#[tokio::test]
async fn history_at_the_ends_of_the_seq_range_is_a_page_not_a_panic() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann, bob] = register_all(&server, ["edge_ann", "edge_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    // `around=i64::MIN` overflowed computing the newer half's start.
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.post_text(dm, "m1", "hello").await?;
    let page_at = |query: String| {
        let ann = ann.clone();
        async move {
            ann.get_json::<History>(&format!("api/v1/conversations/{}/events?{query}", dm.0))
                .await
        }
    };
    for query in [format!("before={}", i64::MIN), format!("after={}", i64::MAX)] {
        let page = page_at(query.clone()).await?;
        assert!(page.events.is_empty(), "{query}: {:?}", page.events);
    }
    // Around either end: the page at that end, which holds the one message.
    for query in [format!("around={}", i64::MIN), format!("around={}", i64::MAX)] {
        let page = page_at(query.clone()).await?;
        assert_eq!(page.events.len(), 1, "{query}: {:?}", page.events);
    }
    assert_eq!(reqwest::get(server.at("healthz")).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn searching_messages_from_a_negative_user_id_finds_nothing() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["from_ann", "from_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.post_text(dm, "m1", "porcupine parade").await?;

    // The sender filter (quoted in the index's query) still finds ann's message.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page: Page<MessageHit> = bob
            .get_json(&format!("api/v1/search/messages?q=porcupine&from={}", ann.id().0))
            .await?;
        if page.items.len() == 1 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never indexed: {:?}",
            page.items
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // `u-471` bare in the index's query was a syntax error: a 500.
    for from in ["-471", "0", &i64::MIN.to_string()] {
        let page: Page<MessageHit> = bob
            .get_json(&format!("api/v1/search/messages?q=porcupine&from={from}"))
            .await?;
        assert!(page.items.is_empty(), "from={from}: {:?}", page.items);
    }
    Ok(())
}

/// Every route taking an id in its path answers one that is not an integer
/// (or overflows i64) with the 400 its document declares.
#[tokio::test]
async fn malformed_path_ids_are_declared_400s() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let user = Authed::register(&server, "path_ann").await?;
    let doc = document(&server).await?;
    let mut tried = 0;
    for (method, path, op) in operations(&doc) {
        if !path.contains('{') {
            continue;
        }
        assert!(declared(&op, "400"), "{method} {path} does not declare 400");
        for bad in ["x", "9223372036854775808"] {
            let concrete: String = path
                .split('/')
                .map(|part| if part.starts_with('{') { bad } else { part })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.as_bytes())?;
            let body = op.get("requestBody").map(|_| serde_json::json!({}));
            let response = user.call(method.clone(), &concrete, body).await?;
            let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
            assert_eq!(error.code, ErrorCode::BadRequest, "{method} {concrete}");
            tried += 1;
        }
    }
    assert!(tried >= 30, "only {tried} requests: routes with ids went missing");
    Ok(())
}

/// The document's declarations agree with one another and with the
/// server's rules: path parameters are those of the path, operation ids are
/// unique, a route that reads a body, a query or a path id declares 400, an
/// authenticated one declares 401, every error is an `ErrorBody`, every
/// `$ref` resolves, and the field rules are those of `limits`.
#[tokio::test]
async fn openapi_document_is_coherent() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let doc = document(&server).await?;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let public: HashSet<&str> = ["/api/v1/auth/register", "/api/v1/auth/login"].into();
    let mut ids = HashSet::new();
    let ops = operations(&doc);
    assert!(ops.len() >= 34, "{} operations", ops.len());

    for (method, path, op) in &ops {
        let route = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty() && ids.insert(id.to_owned()),
            "{route}: operationId {id:?} missing or repeated"
        );

        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .collect();
        let declared_path: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(in_path, declared_path, "{route}: path parameters");
        for p in params.iter().filter(|p| p["in"] == "path") {
            assert_eq!(p["required"], true, "{route}: path parameter {} optional", p["name"]);
        }

        let reads_input = op.get("requestBody").is_some() || !params.is_empty();
        if reads_input {
            assert!(declared(op, "400"), "{route} reads input but does not declare 400");
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, !public.contains(path.as_str()), "{route}: security");
        if secured {
            assert!(declared(op, "401"), "{route} needs a session but does not declare 401");
        }

        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{route} declares no success"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{route} {status} is not an ErrorBody"
                );
            }
        }
    }

    // Every reference points at a schema the document has.
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }

    // Field rules, as docs/protocol.md and `limits` state them.
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(register["username"]["minLength"], USERNAME_MIN_CHARS);
    assert_eq!(register["username"]["maxLength"], USERNAME_MAX_CHARS);
    assert!(register["username"]["pattern"].is_string());
    assert_eq!(register["display_name"]["maxLength"], DISPLAY_NAME_MAX_CHARS);
    assert_eq!(register["password"]["minLength"], PASSWORD_MIN_CHARS);
    assert_eq!(register["password"]["maxLength"], PASSWORD_MAX_BYTES);
    assert_eq!(
        schemas["NewGroup"]["properties"]["name"]["maxLength"],
        GROUP_NAME_MAX_CHARS
    );
    assert_eq!(
        schemas["RenameGroup"]["properties"]["name"]["maxLength"],
        GROUP_NAME_MAX_CHARS
    );
    let query = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{path} lacks {name}"))
    };
    for path in ["/api/v1/users/search", "/api/v1/search/messages"] {
        assert_eq!(query(path, "q")["maxLength"], SEARCH_QUERY_MAX_CHARS, "{path}");
        assert_eq!(query(path, "limit")["maximum"], 50, "{path}");
    }
    let history = query("/api/v1/conversations/{id}/events", "limit");
    assert_eq!(history["minimum"], 1);
    assert_eq!(history["maximum"], MAX_HISTORY_PAGE);
    Ok(())
}
