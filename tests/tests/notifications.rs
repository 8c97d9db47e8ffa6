//! Notifications against the real binary: `@username` mentions resolved,
//! counted and kept right through edits and deletions; per-conversation
//! levels shared by every device; and Web Push to a fake push service on
//! loopback, which decrypts each push with the subscription's key and
//! checks its VAPID signature — pushed only to people with no live
//! connection who want to hear of it, once per conversation per 30 s,
//! subscriptions the service calls gone deleted, and endpoints inside the
//! server's own network refused.

use std::time::Duration;

use natter_common::{
    api::{Conversation, ConversationSettings, NotificationSettings, NotifyLevel, PushMessage},
    events::EventBody,
    frames::ServerFrame,
    ids::{ConversationId, UserId},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, expect_json, register_all, Authed},
    push::{verify_vapid, FakePushService, Subscriber},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn set_level(user: &Authed, conversation: ConversationId, notify: &str) -> anyhow::Result<ConversationSettings> {
    let path = format!("api/v1/conversations/{}/settings", conversation.0);
    let response = user.call(Method::PUT, &path, Some(json!({ "notify": notify }))).await?;
    expect_json(response, StatusCode::OK).await
}

async fn listed(user: &Authed, conversation: ConversationId) -> anyhow::Result<Conversation> {
    let all: Vec<Conversation> = user.get_json("api/v1/conversations").await?;
    all.into_iter()
        .find(|c| c.id == conversation)
        .ok_or_else(|| anyhow::anyhow!("conversation {conversation:?} not listed"))
}

async fn subscribe(user: &Authed, subscriber: &Subscriber) -> anyhow::Result<reqwest::Response> {
    user.post(
        "api/v1/push-subscriptions",
        serde_json::to_value(subscriber.subscription())?,
    )
    .await
}

#[tokio::test]
async fn mentions_are_resolved_counted_and_follow_edits_and_deletions() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, carol, dan] = register_all(&server, ["ann", "bob", "Carol", "dan"]).await?;
    for other in [&bob, &carol, &dan] {
        befriend(&ann, other).await?;
    }
    let group = create_group(&ann, "crew", &[&bob, &carol]).await?.id;
    let dm = befriend(&bob, &dan).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;

    // Names match case-insensitively, once each; an address, a stranger
    // (dan is no member) and the sender herself are no mentions.
    let text = "@bob and @carol, see mail x@carol.org — cc @dan @ann @BOB";
    let first = ann_ws.post_text(group, "m1", text).await?;
    let events = natter_tests::api::full_history(&bob, group).await?;
    let stored = events.iter().find(|e| e.id == first.id).expect("stored");
    assert_eq!(stored.body.mentions(), [bob.id(), carol.id()]);

    let bob_ws = WsClient::connect(&server, &bob.token).await?;
    let state = bob_ws.state(group).expect("bob's group");
    assert_eq!((state.unread, state.mentions), (1, 1), "hello counts the mention");
    assert_eq!(listed(&carol, group).await?.unread_mentions, 1);
    assert_eq!(listed(&dan, dm).await?.unread_mentions, 0);

    // An edit names whom the text names now.
    ann_ws
        .edit(group, "e1", &first.id, "only @carol now")
        .await?
        .expect("edited");
    let edit = natter_tests::api::full_history(&bob, group)
        .await?
        .into_iter()
        .find(|e| matches!(e.body, EventBody::MessageEdited { .. }))
        .expect("the edit event");
    assert_eq!(edit.body.mentions(), [carol.id()]);
    assert_eq!(listed(&bob, group).await?.unread_mentions, 0, "edited away");
    assert_eq!(listed(&carol, group).await?.unread_mentions, 1);

    // Reading clears the count, and the read_state says so.
    let mut carol_ws = WsClient::connect(&server, &carol.token).await?;
    let second = ann_ws.post_text(group, "m2", "@carol again").await?;
    assert_eq!(listed(&carol, group).await?.unread_mentions, 2);
    carol_ws
        .send(&natter_common::frames::ClientFrame::Read {
            conversation_id: group,
            seq: first.seq,
        })
        .await?;
    let mentions = carol_ws
        .next_where(|frame| match frame {
            ServerFrame::ReadState {
                conversation_id,
                mentions,
                ..
            } if conversation_id == group => Some(mentions),
            _ => None,
        })
        .await?;
    assert_eq!(mentions, 1, "the later mention is still unread");

    // Deleting a message takes its mention with it.
    ann_ws.delete(group, "d1", &second.id).await?.expect("deleted");
    assert_eq!(listed(&carol, group).await?.unread_mentions, 0);

    // In a direct conversation @names are just text.
    let mut dan_ws = WsClient::connect(&server, &dan.token).await?;
    let in_dm = dan_ws.post_text(dm, "x", "hey @bob").await?;
    let dm_events = natter_tests::api::full_history(&bob, dm).await?;
    let stored = dm_events.iter().find(|e| e.id == in_dm.id).expect("stored");
    assert!(stored.body.mentions().is_empty());
    Ok(())
}

#[tokio::test]
async fn levels_are_per_member_and_reach_every_device() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, eve] = register_all(&server, ["ann", "bob", "eve"]).await?;
    befriend(&ann, &bob).await?;
    let group = create_group(&ann, "crew", &[&bob]).await?.id;
    let path = format!("api/v1/conversations/{}/settings", group.0);

    let settings: ConversationSettings = bob.get_json(&path).await?;
    assert_eq!(settings.notify, NotifyLevel::Default);
    let mut bob_phone = WsClient::connect(&server, &Authed::login(&server, "bob").await?.token).await?;
    assert_eq!(bob_phone.state(group).map(|s| s.notify), Some(NotifyLevel::Default));

    assert_eq!(set_level(&bob, group, "muted").await?.notify, NotifyLevel::Muted);
    let (conversation, notify) = bob_phone
        .next_where(|frame| match frame {
            ServerFrame::ConversationSettings {
                conversation_id,
                notify,
            } => Some((conversation_id, notify)),
            _ => None,
        })
        .await?;
    assert_eq!((conversation, notify), (group, NotifyLevel::Muted));
    assert_eq!(listed(&bob, group).await?.notify, NotifyLevel::Muted);
    assert_eq!(listed(&ann, group).await?.notify, NotifyLevel::Default, "ann's own");
    let again = WsClient::connect(&server, &bob.token).await?;
    assert_eq!(again.state(group).map(|s| s.notify), Some(NotifyLevel::Muted));

    // Strangers, unknown levels and malformed bodies are refused.
    let response = eve.call(Method::PUT, &path, Some(json!({"notify": "all"}))).await?;
    expect_error(response, StatusCode::NOT_FOUND).await?;
    let response = eve.get(&path).await?;
    expect_error(response, StatusCode::NOT_FOUND).await?;
    let response = bob.call(Method::PUT, &path, Some(json!({"notify": "loud"}))).await?;
    let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
    assert_eq!(error.code, ErrorCode::InvalidInput { field: "notify".into() });
    let response = bob.call(Method::PUT, &path, Some(json!({"level": "all"}))).await?;
    expect_error(response, StatusCode::BAD_REQUEST).await?;
    let response = bob
        .call(
            Method::PUT,
            "api/v1/conversations/999999/settings",
            Some(json!({"notify": "all"})),
        )
        .await?;
    expect_error(response, StatusCode::NOT_FOUND).await?;
    Ok(())
}

/// A fake push service, and a server allowed to push to it on loopback.
async fn with_push_service() -> anyhow::Result<(FakePushService, TestServer)> {
    let service = FakePushService::start().await?;
    let mut env = FAST.to_vec();
    env.push(("NATTER_PUSH_ALLOW_PRIVATE", "true"));
    Ok((service, TestServer::spawn_with(&env).await?))
}

/// Waits until `user` has no live connection in the server's eyes: their
/// contact sees them go offline.
async fn until_offline(watcher: &mut WsClient, user: UserId) -> anyhow::Result<()> {
    watcher
        .next_where(|frame| match frame {
            ServerFrame::Presence { user_id, online: false } if user_id == user => Some(()),
            _ => None,
        })
        .await
}

#[tokio::test]
async fn away_people_get_one_encrypted_signed_push_per_conversation_burst() -> anyhow::Result<()> {
    let (mut service, server) = with_push_service().await?;
    let [ann, bob, carol] = register_all(&server, ["ann", "bob", "carol"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&ann, &carol).await?;
    let chatty = create_group(&ann, "chatty", &[&bob, &carol]).await?.id;
    let quiet = create_group(&ann, "quiet", &[&bob, &carol]).await?.id;
    let hushed = create_group(&ann, "hushed", &[&bob]).await?.id;
    let plain = create_group(&ann, "plain", &[&bob]).await?.id;

    let settings: NotificationSettings = bob.get_json("api/v1/notifications").await?;
    assert!(!settings.subscribed);
    let browser = Subscriber::new(&service, "/bob");
    assert_eq!(subscribe(&bob, &browser).await?.status(), StatusCode::NO_CONTENT);
    let settings: NotificationSettings = bob.get_json("api/v1/notifications").await?;
    assert!(settings.subscribed && settings.previews);

    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let sent = ann_ws.post_text(dm, "hello", "Are you there? 👋").await?;
    let push = service.next().await?;
    assert_eq!(push.path, "/bob");
    let message = browser.open(&push)?;
    assert_eq!(
        message,
        PushMessage {
            conversation_id: dm,
            seq: sent.seq,
            event_id: sent.id.clone(),
            sender: ann.user.display_name.clone(),
            group: None,
            preview: Some("Are you there? 👋".into()),
            mention: false,
        }
    );
    let claims = verify_vapid(&push, &settings.push_public_key)?;
    assert_eq!(claims["aud"], service.origin.as_str());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} vs now {now}");
    assert!(claims["sub"].as_str().is_some_and(|s| s.starts_with("mailto:")));
    assert_eq!(push.header("topic"), Some(format!("c{}", dm.0).as_str()));
    assert_eq!(push.header("urgency"), Some("high"));
    assert!(push.header("ttl").is_some());

    // A burst in the same conversation is that one push; the next push is
    // the mention that follows it elsewhere.
    for n in 0..30 {
        ann_ws.post_text(dm, &format!("burst-{n}"), "and another thing").await?;
    }
    let mention = ann_ws.post_text(quiet, "mention", "@bob look").await?;
    let push = service.next().await?;
    let message = browser.open(&push)?;
    assert_eq!((message.conversation_id, message.seq), (quiet, mention.seq));
    assert!(message.mention);
    assert_eq!(message.group.as_deref(), Some("quiet"));

    // While bob has a live connection, nothing is pushed to him.
    set_level(&bob, chatty, "all").await?;
    let bob_ws = WsClient::connect(&server, &bob.token).await?;
    ann_ws.post_text(chatty, "online", "you're here anyway").await?;
    bob_ws.close().await?;
    until_offline(&mut ann_ws, bob.id()).await?;

    // Muted, and a group message without a mention under the default: no
    // push. Then the marker, in a group set to every message.
    set_level(&bob, hushed, "muted").await?;
    ann_ws.post_text(hushed, "muted", "@bob you muted this").await?;
    ann_ws.post_text(plain, "plain", "no mention here").await?;
    bob.call(Method::PUT, "api/v1/notifications", Some(json!({"previews": false})))
        .await?
        .error_for_status()?;
    let marker = ann_ws.post_text(chatty, "marker", "secret words").await?;
    let push = service.next().await?;
    let message = browser.open(&push)?;
    assert_eq!(
        (message.conversation_id, message.seq),
        (chatty, marker.seq),
        "{message:?}"
    );
    assert_eq!(message.preview, None, "previews turned off");
    assert_eq!(push.header("urgency"), Some("normal"));
    assert!(service.pending().is_empty(), "nothing else was pushed");
    Ok(())
}

#[tokio::test]
async fn subscriptions_end_with_their_session_or_when_the_service_says_gone() -> anyhow::Result<()> {
    let (mut service, server) = with_push_service().await?;
    let [ann, bob, carol] = register_all(&server, ["ann", "bob", "carol"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let dm_carol = befriend(&ann, &carol).await?;

    // A laptop that signs out takes its subscription with it.
    let laptop = Authed::login(&server, "bob").await?;
    subscribe(&laptop, &Subscriber::new(&service, "/laptop"))
        .await?
        .error_for_status()?;
    laptop.post("api/v1/auth/logout", json!({})).await?.error_for_status()?;
    let phone = Subscriber::new(&service, "/phone");
    subscribe(&bob, &phone).await?.error_for_status()?;
    let carols = Subscriber::new(&service, "/carol");
    subscribe(&carol, &carols).await?.error_for_status()?;

    service.answer("/phone", 410);
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    ann_ws.post_text(dm, "one", "hi bob").await?;
    let push = service.next().await?;
    assert_eq!(push.path, "/phone", "the signed-out laptop gets nothing");
    phone.open(&push)?;

    // 410 Gone: the subscription is deleted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let settings: NotificationSettings = bob.get_json("api/v1/notifications").await?;
        if !settings.subscribed {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the gone subscription stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Unsubscribing is idempotent.
    for _ in 0..2 {
        let response = carol.delete("api/v1/push-subscriptions").await?;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    ann_ws.post_text(dm_carol, "two", "hi carol").await?;
    // Not pushed: the next push proves it.
    let [dave] = register_all(&server, ["dave"]).await?;
    let dm_dave = befriend(&ann, &dave).await?;
    let daves = Subscriber::new(&service, "/dave");
    subscribe(&dave, &daves).await?.error_for_status()?;
    ann_ws.post_text(dm_dave, "four", "hi dave").await?;
    let push = service.next().await?;
    assert_eq!(push.path, "/dave");
    assert_eq!(daves.open(&push)?.conversation_id, dm_dave);
    assert!(service.pending().is_empty());
    Ok(())
}

#[tokio::test]
async fn subscriptions_are_checked_and_capped() -> anyhow::Result<()> {
    let service = FakePushService::start().await?;
    let server = TestServer::spawn_with(&FAST).await?;
    let [bob] = register_all(&server, ["bob"]).await?;
    let good_keys = Subscriber::new(&service, "/x").subscription().keys;

    // Without the test flag: only https, only public addresses, names
    // resolved before they are believed.
    for endpoint in [
        "https://127.0.0.1/push",
        "https://10.1.2.3/push",
        "https://[::1]/push",
        "https://localhost/push",
        "https://169.254.169.254/latest",
        "http://push.example.com/push",
        "not a url",
    ] {
        let response = bob
            .post(
                "api/v1/push-subscriptions",
                json!({"endpoint": endpoint, "keys": good_keys}),
            )
            .await?;
        let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
        assert_eq!(
            error.code,
            ErrorCode::InvalidInput {
                field: "endpoint".into()
            },
            "{endpoint}"
        );
    }
    for keys in [
        json!({"p256dh": "AAAA", "auth": good_keys.auth}),
        json!({"p256dh": good_keys.p256dh, "auth": "c2hvcnQ"}),
        json!({"p256dh": "!!!", "auth": "!!!"}),
    ] {
        let response = bob
            .post(
                "api/v1/push-subscriptions",
                json!({"endpoint": "https://[2a00:1450:4001::200e]/push", "keys": keys}),
            )
            .await?;
        let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
        assert_eq!(error.code, ErrorCode::InvalidInput { field: "keys".into() }, "{keys}");
    }
    let settings: NotificationSettings = bob.get_json("api/v1/notifications").await?;
    assert!(!settings.subscribed, "nothing refused was stored");

    // One per session, at most ten sessions' worth; resubscribing replaces.
    let public = json!({"endpoint": "https://[2a00:1450:4001::200e]/push", "keys": good_keys});
    for n in 0..10 {
        let device = Authed::login(&server, "bob").await?;
        for _ in 0..2 {
            let response = device.post("api/v1/push-subscriptions", public.clone()).await?;
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "device {n}");
        }
    }
    let eleventh = bob.post("api/v1/push-subscriptions", public).await?;
    let error = expect_error(eleventh, StatusCode::BAD_REQUEST).await?;
    assert_eq!(
        error.code,
        ErrorCode::InvalidInput {
            field: "endpoint".into()
        }
    );
    Ok(())
}
