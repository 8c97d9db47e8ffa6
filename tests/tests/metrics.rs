//! `/metrics` against the real binary: behind its token, and after a
//! scripted session every counter moved by what happened.

use natter_common::{events::MessageContent, frames::close, ids::ConversationId};
use natter_tests::{
    api::{befriend, register_all},
    metrics::{scrape, value, TOKEN},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::StatusCode;

#[tokio::test]
async fn metrics_need_their_token_and_count_a_scripted_session() -> anyhow::Result<()> {
    let mut env = FAST.to_vec();
    env.push(("NATTER_METRICS_TOKEN", TOKEN));
    let server = TestServer::spawn_with(&env).await?;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(server.at("metrics")).send().await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = http.get(server.at("metrics")).bearer_auth("nope").send().await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let off = TestServer::spawn().await?;
    assert_eq!(
        reqwest::get(off.at("metrics")).await?.status(),
        StatusCode::NOT_FOUND,
        "no token, no route"
    );

    let [ann, bob] = register_all(&server, ["met_ann", "met_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let before = scrape(&server).await?;
    assert_eq!(value(&before, "natter_build_info", &[]), 1.0);

    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let mut watcher = WsClient::connect(&server, &bob.token).await?;
    for n in 0..3 {
        ws.post_text(dm, &format!("m{n}"), "counted").await?;
    }
    ws.post_text(dm, "m0", "counted").await?; // a retry: acked again, stored once
                                              // Written to the watcher's socket: the delivery lag is measured.
    for _ in 0..3 {
        watcher.next_event().await?;
    }
    let refused = ws
        .post(
            ConversationId(999_999),
            "nowhere",
            MessageContent::Text { text: "x".into() },
        )
        .await?;
    assert!(refused.is_err());
    ws.sync(dm, 0).await?;
    for _ in 0..2 {
        ann.get("api/v1/me").await?;
    }
    let during = scrape(&server).await?;
    assert_eq!(value(&during, "natter_ws_connections", &[]), 2.0);
    assert_eq!(value(&during, "natter_users_online", &[]), 2.0);

    // A client that closes, one that just hangs up (no close frame: dropped,
    // not a protocol error), and one cut off for garbage.
    watcher.close().await?;
    let gone = WsClient::connect(&server, &ann.token).await?;
    drop(gone);
    for _ in 0..10 {
        ws.send_raw("garbage".into()).await?;
    }
    let (code, _) = ws.until_closed().await?;
    assert_eq!(code, Some(close::ABUSE));

    // The disconnects are counted once the server has let go of both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        let after = scrape(&server).await?;
        if value(&after, "natter_ws_connections", &[]) == 0.0 {
            break after;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "connections never closed:\n{after}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    assert_eq!(delta("natter_ws_connects_total", &[]), 3.0);
    assert_eq!(delta("natter_ws_disconnects_total", &[("reason", "normal")]), 1.0);
    assert_eq!(delta("natter_ws_disconnects_total", &[("reason", "dropped")]), 1.0);
    assert_eq!(delta("natter_ws_disconnects_total", &[("reason", "protocol")]), 0.0);
    assert_eq!(delta("natter_ws_disconnects_total", &[("reason", "malformed")]), 1.0);
    assert_eq!(value(&after, "natter_users_online", &[]), 0.0);
    assert_eq!(
        delta(
            "natter_commands_total",
            &[("command", "send"), ("outcome", "committed")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "natter_commands_total",
            &[("command", "send"), ("outcome", "duplicate")]
        ),
        1.0
    );
    assert_eq!(
        delta("natter_commands_total", &[("command", "send"), ("outcome", "refused")]),
        1.0
    );
    assert_eq!(
        delta("natter_refusals_total", &[("command", "send"), ("code", "not_found")]),
        1.0
    );
    assert_eq!(delta("natter_ws_frames_in_total", &[("type", "send")]), 5.0);
    assert_eq!(delta("natter_ws_frames_in_total", &[("type", "malformed")]), 10.0);
    assert_eq!(delta("natter_resyncs_total", &[]), 1.0);
    assert!(delta("natter_resync_events_total", &[]) >= 3.0);
    assert!(delta("natter_log_commit_seconds_count", &[]) >= 1.0);
    assert!(delta("natter_publish_lag_seconds_count", &[]) >= 1.0);
    assert!(delta("natter_delivery_lag_seconds_count", &[]) >= 1.0);
    assert!(delta("natter_delivery_lag_seconds_sum", &[]) > 0.0);
    assert!(delta("natter_ws_messages_out_total", &[]) >= 4.0);
    assert_eq!(
        delta(
            "natter_http_requests_total",
            &[("route", "/api/v1/me"), ("status", "200")]
        ),
        2.0
    );
    assert!(value(&after, "natter_db_pool_connections", &[]) >= 1.0);
    // No label names a user or a conversation.
    for line in after.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("user") || line.starts_with("natter_users_online"),
            "{line}"
        );
        assert!(
            !line.contains(&format!("{}", dm.0)) || !line.contains("conversation"),
            "{line}"
        );
    }
    Ok(())
}
