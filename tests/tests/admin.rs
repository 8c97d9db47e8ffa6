//! `natter-server admin …` beside a running server: accounts, sessions,
//! stats, and a backup taken under a write load that restores to a
//! database holding every message acknowledged before it started.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use natter_common::{
    api::{NotificationSettings, Page},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, expect_error, full_history, login, register_all, Authed},
    server::server_binary,
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::StatusCode;

/// Runs `natter-server admin <args>` on `data_dir`; its stdout, or an error with stderr.
fn admin(data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = Command::new(server_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("admin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes())?;
    }
    drop(child.stdin.take());
    let output = child.wait_with_output()?;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "admin {args:?} failed: {out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(out)
}

fn printed_password(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a printed password")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn accounts_are_administered_beside_a_running_server() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[FAST[0], ("NATTER_SESSION_CHECK_SECS", "1")]).await?;
    let dir = server.data_dir().to_owned();
    let [ann] = register_all(&server, ["adm_ann"]).await?;

    // Create: a printed password signs in.
    let out = admin(&dir, &["users", "create", "adm_bob", "--display-name", "Bob B"], None)?;
    let first = printed_password(&out);
    assert_eq!(login(&server, "adm_bob", &first).await?.status(), StatusCode::OK);
    let bob = Authed::login_with(&server, "adm_bob", &first).await?;
    let listed = admin(&dir, &["users", "list"], None)?;
    assert!(listed.contains("adm_ann") && listed.contains("adm_bob"), "{listed}");
    let shown = admin(&dir, &["users", "show", "adm_bob"], None)?;
    assert!(shown.contains("Bob B") && shown.contains("active"), "{shown}");

    // Reset from stdin: the old password and the old session stop working.
    admin(
        &dir,
        &["users", "reset-password", "adm_bob", "--password-stdin"],
        Some("a brand new secret\n"),
    )?;
    assert_eq!(
        login(&server, "adm_bob", &first).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bob.get("api/v1/me").await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&server, "adm_bob", "a brand new secret").await?.status(),
        StatusCode::OK
    );
    let short = admin(
        &dir,
        &["users", "reset-password", "adm_bob", "--password-stdin"],
        Some("short\n"),
    );
    assert!(short.is_err(), "a too-short password is refused");

    // Disable: sign-in refused (after the password), open connections end.
    let bob = Authed::login_with(&server, "adm_bob", "a brand new secret").await?;
    let mut live = WsClient::connect(&server, &bob.token).await?;
    admin(&dir, &["users", "disable", "adm_bob"], None)?;
    let refused = login(&server, "adm_bob", "a brand new secret").await?;
    assert_eq!(
        expect_error(refused, StatusCode::FORBIDDEN).await?.code,
        ErrorCode::AccountDisabled
    );
    let wrong = login(&server, "adm_bob", "not the password").await?;
    assert_eq!(
        expect_error(wrong, StatusCode::UNAUTHORIZED).await?.code,
        ErrorCode::InvalidCredentials
    );
    let (code, _) = live.until_closed().await?;
    assert_eq!(code, Some(natter_common::frames::close::SESSION_ENDED));
    assert!(admin(&dir, &["users", "show", "adm_bob"], None)?.contains("disabled"));
    admin(&dir, &["users", "enable", "adm_bob"], None)?;
    assert_eq!(
        login(&server, "adm_bob", "a brand new secret").await?.status(),
        StatusCode::OK
    );

    // Sessions: revoked, and the running server honours it.
    assert_eq!(ann.get("api/v1/me").await?.status(), StatusCode::OK);
    let out = admin(&dir, &["sessions", "revoke", "adm_ann"], None)?;
    assert!(out.contains("1 sessions"), "{out}");
    assert_eq!(ann.get("api/v1/me").await?.status(), StatusCode::UNAUTHORIZED);

    let stats = admin(&dir, &["stats"], None)?;
    assert!(stats.contains("users:          2"), "{stats}");
    assert!(admin(&dir, &["users", "show", "nobody"], None).is_err());
    assert!(admin(&dir, &["users", "create", "adm_ann"], None).is_err(), "taken");
    Ok(())
}

#[tokio::test]
async fn a_backup_under_load_restores_every_message_acked_before_it() -> anyhow::Result<()> {
    let mut server = TestServer::spawn_with(&FAST).await?;
    let dir = server.data_dir().to_owned();
    let [ann, bob] = register_all(&server, ["bak_ann", "bak_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let png = ann.upload_png(40, 30, 7).await?;
    let push_key = ann
        .get_json::<NotificationSettings>("api/v1/notifications")
        .await?
        .push_public_key;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.post(
        dm,
        "img",
        natter_common::events::MessageContent::Image {
            media_id: png.id.clone(),
        },
    )
    .await?
    .map_err(|code| anyhow::anyhow!("{code:?}"))?;

    // A writer keeps sending while the backup runs.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        for n in 0.. {
            if stopped.try_recv().is_ok() {
                break;
            }
            let ack = ws.post_text(dm, &format!("load-{n}"), &format!("load {n}")).await?;
            acked.push((std::time::Instant::now(), ack.seq));
        }
        anyhow::Ok(acked)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup_dir = tempfile::tempdir()?;
    let target = backup_dir.path().join("b1");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking({
        let (dir, target) = (dir.clone(), target.clone());
        move || admin(&dir, &["backup", target.to_str().unwrap_or_default()], None)
    })
    .await??;
    assert!(out.contains("integrity ok"), "{out}");
    let _ = stop.send(());
    let acked = writer.await??;
    let before: Vec<i64> = acked
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, seq)| *seq)
        .collect();
    assert!(
        before.len() > 5,
        "only {} messages acked before the backup",
        before.len()
    );

    // Restoring over a running server's data is refused.
    let busy = admin(&dir, &["restore", target.to_str().unwrap_or_default()], None);
    assert!(busy.is_err_and(|e| e.to_string().contains("another natter-server")));
    server.stop().await?;

    // Into a fresh data directory: everything acked before the backup is there.
    let fresh = tempfile::tempdir()?;
    admin(fresh.path(), &["restore", target.to_str().unwrap_or_default()], None)?;
    let restored = TestServer::spawn_in(fresh.path(), &FAST).await?;
    let ann = Authed::login(&restored, "bak_ann").await?;
    let history = full_history(&ann, dm).await?;
    let seqs: std::collections::HashSet<i64> = history.iter().map(|e| e.seq).collect();
    for seq in &before {
        assert!(seqs.contains(seq), "message {seq}, acked before the backup, is missing");
    }
    let image = ann.get(&png.url).await?;
    assert_eq!(image.status(), StatusCode::OK, "the image came back with the backup");
    // Push subscriptions are bound to the server's VAPID key: it comes back too.
    let restored_key = ann
        .get_json::<NotificationSettings>("api/v1/notifications")
        .await?
        .push_public_key;
    assert_eq!(restored_key, push_key, "the VAPID key came back with the backup");
    // The search index was not in the backup: it is built again from the log.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found: Page<natter_common::api::MessageHit> = ann.get_json("api/v1/search/messages?q=load").await?;
        if !found.items.is_empty() {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the restored messages are never found"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_account_is_deleted_offline_as_the_app_would() -> anyhow::Result<()> {
    let mut server = TestServer::spawn_with(&FAST).await?;
    let dir = server.data_dir().to_owned();
    let [ann, bob] = register_all(&server, ["off_ann", "off_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let group = natter_tests::api::create_group(&ann, "Ann's", &[&bob]).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.post_text(dm, "w1", "written before leaving").await?;
    drop(ws);

    let running = admin(&dir, &["users", "delete", "off_ann"], None);
    assert!(running.is_err_and(|e| e.to_string().contains("another natter-server")));
    server.stop().await?;
    let out = admin(&dir, &["users", "delete", "off_ann"], None)?;
    assert!(out.contains("deleted off_ann"), "{out}");

    let server = server.start_again().await?;
    assert_eq!(
        login(&server, "off_ann", natter_tests::api::PASSWORD).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let bob = Authed::login(&server, "off_bob").await?;
    let history = full_history(&bob, dm).await?;
    assert!(history.iter().any(|e| matches!(
        &e.body,
        natter_common::events::EventBody::Message { content: natter_common::events::MessageContent::Text { text }, .. }
            if text == "written before leaving"
    )));
    let members: Page<natter_common::api::Member> =
        bob.get_json(&format!("api/v1/groups/{}/members", group.id.0)).await?;
    assert_eq!(members.items.len(), 1);
    assert_eq!(
        members.items[0].role,
        natter_common::api::Role::Owner,
        "ownership passed on"
    );
    let events = full_history(&bob, group.id).await?;
    assert!(events
        .iter()
        .any(|e| matches!(e.body, natter_common::events::EventBody::MemberLeft { user } if user == ann.id())));
    Ok(())
}
