//! Message actions against the real binary over real WebSockets: editing,
//! deleting (with the content erased from the database file and the media
//! store), reactions and their limits, idempotent retries, catching up
//! after being offline, history pages opened around a seq, who may act
//! where; and the guarantees underneath them: every connection sees a
//! conversation's seqs gapless and in order under a flood, a removed member
//! gets everything up to its removal and nothing after, requests naming
//! unknown conversations are refused one by one, and a 5 000-member group
//! is created quickly.

use std::{
    collections::{BTreeSet, HashSet},
    time::{Duration, Instant},
};

use anyhow::Context;
use natter_common::{
    api::{Group, History, Member, Page},
    events::{Event, EventBody, MessageContent, Reactions},
    frames::{ClientFrame, ServerFrame},
    ids::{ConversationId, EventId, UserId},
    limits::{REACTIONS_MAX_DISTINCT, REACTION_USERS_SHOWN},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, expect_json, full_history, register_all, Authed},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// As many distinct emoji as a message may carry, none of them 👍 or ❤️.
const FACES: [&str; REACTIONS_MAX_DISTINCT] = [
    "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍", "🥰", "😘", "😗", "😙",
    "😚",
];

fn invalid(field: &str) -> ErrorCode {
    ErrorCode::InvalidInput { field: field.into() }
}

fn text(text: &str) -> MessageContent {
    MessageContent::Text { text: text.into() }
}

/// A message's body as the store shows it now.
fn message(content: MessageContent) -> EventBody {
    EventBody::Message {
        content,
        reply_to: None,
        mentions: vec![],
    }
}

/// The event with `seq` in a list read from the server.
fn at(events: &[Event], seq: i64) -> &Event {
    events
        .iter()
        .find(|e| e.seq == seq)
        .unwrap_or_else(|| panic!("no event {seq} in {events:#?}"))
}

fn count(events: &[Event], kind: impl Fn(&EventBody) -> bool) -> usize {
    events.iter().filter(|e| kind(&e.body)).count()
}

/// The newest history page, as a client opening the conversation reads it.
async fn newest_page(user: &Authed, conversation: ConversationId) -> anyhow::Result<History> {
    user.get_json(&format!("api/v1/conversations/{}/events", conversation.0))
        .await
}

/// Two contacts with their direct conversation.
async fn pair(server: &TestServer, a: &str, b: &str) -> anyhow::Result<(Authed, Authed, ConversationId)> {
    let [a, b] = register_all(server, [a, b]).await?;
    let dm = befriend(&a, &b).await?;
    Ok((a, b, dm))
}

/// The live events among `frames`.
fn events_in(frames: &[ServerFrame]) -> Vec<&Event> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Event { event } => Some(event),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_edit_reaches_every_device_and_history_shows_the_new_text() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "ed_ann", "ed_bob").await?;
    let ann_phone = Authed::login(&server, "ed_ann").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut ann_phone_ws = WsClient::connect(&server, &ann_phone.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;

    let original = ann_ws.post_text(dm, "ed-1", "first draft").await?;
    let sent_at = bob_ws.next_event().await?.created_at;
    assert_eq!(ann_phone_ws.next_event().await?.seq, original.seq);

    let edit = ann_ws.edit(dm, "ed-2", &original.id, "final text ✍️").await?;
    assert_eq!(edit, Ok(original.seq + 1), "the edit is acked as an event of its own");
    let edited = EventBody::MessageEdited {
        target: original.id.clone(),
        content: text("final text ✍️"),
        mentions: vec![],
    };
    for device in [&mut ann_phone_ws, &mut bob_ws] {
        let event = device.next_event().await?;
        assert_eq!(
            (event.conversation_id, event.seq, event.sender, &event.body),
            (dm, original.seq + 1, ann.id(), &edited)
        );
    }
    // The editing connection got its ack, not the event as well.
    let rest = ann_ws.until_pong(1).await?;
    assert!(events_in(&rest).is_empty(), "{rest:?}");

    for viewer in [&ann, &bob] {
        let page = newest_page(viewer, dm).await?;
        let shown = at(&page.events, original.seq);
        assert_eq!(shown.body, message(text("final text ✍️")), "history shows the new text");
        let edited_at = shown.state.as_ref().and_then(|s| s.edited_at);
        assert!(
            edited_at.is_some_and(|t| t >= sent_at),
            "marked edited after it was sent: {:?}",
            shown.state
        );
        assert_eq!(
            at(&page.events, original.seq + 1).body,
            edited,
            "the edit stays in the log"
        );
    }
    // A sync reads the store too: the message as it is now.
    let synced = bob_ws.sync(dm, 0).await?;
    assert_eq!(at(&synced, original.seq).body, message(text("final text ✍️")));
    Ok(())
}

#[tokio::test]
async fn edits_of_others_or_non_text_or_missing_messages_or_bad_text_are_refused() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["er_ann", "er_bob", "er_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let elsewhere_dm = befriend(&ann, &cat).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;

    let mine = ann_ws.post_text(dm, "mine", "ann's words").await?;
    let theirs = bob_ws.post_text(dm, "theirs", "bob's words").await?;
    let media = ann.upload_png(40, 30, 1).await?;
    let picture = ann_ws
        .post(dm, "pic", MessageContent::Image { media_id: media.id })
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    let sticker = ann_ws
        .post(
            dm,
            "sticker",
            MessageContent::Sticker {
                sticker_id: "wave".into(),
            },
        )
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    let other_conversation = ann_ws.post_text(elsewhere_dm, "else", "for cat").await?;
    let gone = ann_ws.post_text(dm, "gone", "soon deleted").await?;
    assert!(ann_ws.delete(dm, "gone-del", &gone.id).await?.is_ok());
    let unknown = EventId("0191e2f4-0000-7000-8000-000000000000".into());

    assert_eq!(
        bob_ws.edit(dm, "e1", &mine.id, "bob was here").await?,
        Err(ErrorCode::Forbidden),
        "editing another's message"
    );
    assert_eq!(
        ann_ws.edit(dm, "e2", &theirs.id, "ann was here").await?,
        Err(ErrorCode::Forbidden)
    );
    for (n, target) in [&picture, &sticker].into_iter().enumerate() {
        assert_eq!(
            ann_ws.edit(dm, &format!("e3-{n}"), &target.id, "caption").await?,
            Err(invalid("target")),
            "only text messages are edited"
        );
    }
    for (n, target) in [&unknown, &other_conversation.id, &gone.id].into_iter().enumerate() {
        assert_eq!(
            ann_ws.edit(dm, &format!("e4-{n}"), target, "anything").await?,
            Err(ErrorCode::NotFound),
            "target {target:?}"
        );
    }
    for (n, bad) in ["", "   \n", &"é".repeat(4001)].into_iter().enumerate() {
        assert_eq!(
            ann_ws.edit(dm, &format!("e5-{n}"), &mine.id, bad).await?,
            Err(invalid("text")),
            "text {bad:?}"
        );
    }

    let log = full_history(&ann, dm).await?;
    assert_eq!(
        count(&log, |b| matches!(b, EventBody::MessageEdited { .. })),
        0,
        "no refused edit was stored: {log:#?}"
    );
    let shown = at(&log, mine.seq);
    assert_eq!(shown.body, message(text("ann's words")));
    assert_eq!(shown.state.as_ref().and_then(|s| s.edited_at), None);
    Ok(())
}

#[tokio::test]
async fn a_deleted_message_and_its_edits_are_erased_from_every_view_and_the_database_file() -> anyhow::Result<()> {
    const MARKER: &str = "secret-marker-7f3a";
    // Not deleted: proves the file scan below does find message text.
    const CONTROL: &str = "kept-marker-51c9";
    let mut server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "del_ann", "del_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;

    ann_ws.post_text(dm, "keep", CONTROL).await?;
    let doomed = ann_ws
        .post_text(dm, "doomed", &format!("{MARKER} as first written"))
        .await?;
    let edit = ann_ws
        .edit(dm, "doomed-edit", &doomed.id, &format!("{MARKER} as edited"))
        .await?;
    assert_eq!(edit, Ok(doomed.seq + 1));
    let deletion = ann_ws.delete(dm, "doomed-del", &doomed.id).await?;
    assert_eq!(deletion, Ok(doomed.seq + 2));

    let live: Vec<Event> = [
        bob_ws.next_event().await?,
        bob_ws.next_event().await?,
        bob_ws.next_event().await?,
        bob_ws.next_event().await?,
    ]
    .into();
    assert_eq!(
        live[3].body,
        EventBody::MessageDeleted {
            target: doomed.id.clone()
        },
        "the deletion reaches the other member live"
    );
    assert_eq!(live[3].seq, doomed.seq + 2);

    let views = [
        ("ann's history", full_history(&ann, dm).await?),
        ("bob's history", full_history(&bob, dm).await?),
        ("bob's sync", bob_ws.sync(dm, 0).await?),
    ];
    for (view, events) in &views {
        assert_eq!(at(events, doomed.seq).body, message(MessageContent::Deleted), "{view}");
        assert_eq!(
            at(events, doomed.seq + 1).body,
            EventBody::MessageEdited {
                target: doomed.id.clone(),
                content: MessageContent::Deleted,
                mentions: vec![],
            },
            "{view}: the edit's text is gone too"
        );
        assert_eq!(
            at(events, doomed.seq + 2).body,
            EventBody::MessageDeleted {
                target: doomed.id.clone()
            },
            "{view}"
        );
        let json = serde_json::to_string(events)?;
        assert!(!json.contains(MARKER), "{view} still carries the text: {json}");
        assert!(json.contains(CONTROL), "{view}");
    }

    server.stop().await?;
    let mut stored = std::fs::read(server.data_dir().join("natter.db"))?;
    if let Ok(wal) = std::fs::read(server.data_dir().join("natter.db-wal")) {
        stored.extend(wal);
    }
    let contains = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(CONTROL), "the scan finds a message that was not deleted");
    assert!(
        !contains(MARKER),
        "the deleted text is still in natter.db or its WAL after shutdown"
    );
    Ok(())
}

#[tokio::test]
async fn deleting_an_image_takes_its_media_away_from_everyone_including_the_uploader() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["img_ann", "img_bob", "img_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let bob_cat = befriend(&bob, &cat).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let image = |media: &natter_common::api::Media| MessageContent::Image {
        media_id: media.id.clone(),
    };

    let solo = ann.upload_png(64, 48, 11).await?;
    let posted = ann_ws
        .post(dm, "solo", image(&solo))
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    for user in [&ann, &bob] {
        assert_eq!(user.get(&solo.url).await?.status(), StatusCode::OK);
    }
    // Another image that Bob posts again elsewhere: deleting Ann's message
    // must not take it from Bob's conversation with Cat.
    let shared = ann.upload_png(64, 48, 22).await?;
    let first_post = ann_ws
        .post(dm, "shared", image(&shared))
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    bob_ws
        .post(bob_cat, "repost", image(&shared))
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;

    assert_eq!(ann_ws.delete(dm, "solo-del", &posted.id).await?, Ok(posted.seq + 2));
    for user in [&ann, &bob] {
        for url in [&solo.url, &solo.thumb_url] {
            assert_eq!(
                user.get(url).await?.status(),
                StatusCode::NOT_FOUND,
                "{url} for user {}",
                user.id()
            );
        }
    }
    assert!(ann_ws.delete(dm, "shared-del", &first_post.id).await?.is_ok());
    assert_eq!(
        cat.get(&shared.url).await?.status(),
        StatusCode::OK,
        "still posted in another conversation"
    );
    Ok(())
}

#[tokio::test]
async fn only_the_author_or_a_group_owner_or_admin_may_delete() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [owner, admin, first, second] =
        register_all(&server, ["rm_owner", "rm_admin", "rm_first", "rm_second"]).await?;
    for other in [&admin, &first, &second] {
        befriend(&owner, other).await?;
    }
    let group = create_group(&owner, "Moderated", &[&admin, &first, &second]).await?;
    let promote = owner
        .call(
            Method::PUT,
            &format!("api/v1/groups/{}/members/{}/role", group.id.0, admin.id().0),
            Some(json!({"role": "admin"})),
        )
        .await?;
    assert_eq!(promote.status(), StatusCode::NO_CONTENT);
    let g = group.id;
    let mut owner_ws = WsClient::connect(&server, &owner.token).await?;
    let mut admin_ws = WsClient::connect(&server, &admin.token).await?;
    let mut first_ws = WsClient::connect(&server, &first.token).await?;
    let mut second_ws = WsClient::connect(&server, &second.token).await?;

    let by_second = [
        second_ws.post_text(g, "s1", "one").await?,
        second_ws.post_text(g, "s2", "two").await?,
        second_ws.post_text(g, "s3", "three").await?,
    ];
    let by_first = first_ws.post_text(g, "f1", "first's").await?;
    let by_owner = owner_ws.post_text(g, "o1", "owner's").await?;

    assert_eq!(
        first_ws.delete(g, "x1", &by_second[0].id).await?,
        Err(ErrorCode::Forbidden),
        "a plain member deletes someone else's message"
    );
    assert!(
        admin_ws.delete(g, "x2", &by_second[0].id).await?.is_ok(),
        "an admin, a member's"
    );
    assert!(
        admin_ws.delete(g, "x3", &by_owner.id).await?.is_ok(),
        "an admin, the owner's"
    );
    assert!(
        owner_ws.delete(g, "x4", &by_first.id).await?.is_ok(),
        "the owner, a member's"
    );
    assert!(second_ws.delete(g, "x5", &by_second[1].id).await?.is_ok(), "the author");

    let log = full_history(&first, g).await?;
    for deleted in [&by_second[0], &by_second[1], &by_first, &by_owner] {
        assert_eq!(at(&log, deleted.seq).body, message(MessageContent::Deleted));
    }
    assert_eq!(at(&log, by_second[2].seq).body, message(text("three")));
    assert_eq!(count(&log, |b| matches!(b, EventBody::MessageDeleted { .. })), 4);

    // In a direct conversation nobody moderates: only your own messages.
    let dm = befriend(&first, &second).await?;
    let hers = first_ws.post_text(dm, "d1", "mine alone").await?;
    assert_eq!(second_ws.delete(dm, "d2", &hers.id).await?, Err(ErrorCode::Forbidden));
    let log = full_history(&second, dm).await?;
    assert_eq!(at(&log, hers.seq).body, message(text("mine alone")));
    assert_eq!(count(&log, |b| matches!(b, EventBody::MessageDeleted { .. })), 0);
    Ok(())
}

#[tokio::test]
async fn deleting_again_is_acknowledged_with_the_original_deletion() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "dd_ann", "dd_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;

    let sent = ann_ws.post_text(dm, "m", "twice deleted").await?;
    let first = ann_ws.delete(dm, "del-a", &sent.id).await?;
    assert_eq!(first, Ok(sent.seq + 1));
    assert_eq!(
        ann_ws.delete(dm, "del-b", &sent.id).await?,
        first,
        "a new client_msg_id, the same deletion"
    );
    let after = ann_ws.post_text(dm, "after", "after").await?;
    assert_eq!(after.seq, sent.seq + 2, "the second deletion stored nothing");

    let seen: Vec<EventBody> = [
        bob_ws.next_event().await?,
        bob_ws.next_event().await?,
        bob_ws.next_event().await?,
    ]
    .into_iter()
    .map(|e| e.body)
    .collect();
    assert_eq!(
        seen,
        [
            message(text("twice deleted")),
            EventBody::MessageDeleted { target: sent.id },
            message(text("after")),
        ]
    );
    let log = full_history(&ann, dm).await?;
    assert_eq!(count(&log, |b| matches!(b, EventBody::MessageDeleted { .. })), 1);
    Ok(())
}

#[tokio::test]
async fn reactions_take_one_emoji_each_and_at_most_twenty_distinct_per_message() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "re_ann", "re_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let target = ann_ws.post_text(dm, "m", "react to me").await?;
    bob_ws.next_event().await?;
    let t = &target.id;

    let thumbs = bob_ws.react(dm, "r1", t, "👍").await?;
    assert_eq!(thumbs, Ok(target.seq + 1));
    let live = ann_ws.next_event().await?;
    assert_eq!(
        (live.seq, live.sender, live.body),
        (
            target.seq + 1,
            bob.id(),
            EventBody::ReactionAdded {
                target: t.clone(),
                emoji: "👍".into()
            }
        ),
        "the author sees the reaction live"
    );
    let toned = bob_ws.react(dm, "r2", t, "👍🏽").await?;
    assert_eq!(toned, Ok(target.seq + 2), "a skin tone is one emoji");
    assert_eq!(ann_ws.next_event().await?.seq, target.seq + 2);
    for (n, bad) in ["a", "👍👍"].into_iter().enumerate() {
        assert_eq!(
            bob_ws.react(dm, &format!("bad-{n}"), t, bad).await?,
            Err(invalid("emoji")),
            "{bad:?}"
        );
    }
    assert_eq!(
        bob_ws.react(dm, "r1-again", t, "👍").await?,
        thumbs,
        "the same reaction again is acked with the event that holds it"
    );
    assert_eq!(
        ann_ws.unreact(dm, "u0", t, "👍").await?,
        Err(ErrorCode::NotFound),
        "taking back a reaction she never made"
    );
    let removed = bob_ws.unreact(dm, "u1", t, "👍🏽").await?;
    assert_eq!(removed, Ok(target.seq + 3));
    // The next event Ann sees: the repeat and the refusals stored nothing.
    let live = ann_ws.next_event().await?;
    assert_eq!(
        (live.seq, live.body),
        (
            target.seq + 3,
            EventBody::ReactionRemoved {
                target: t.clone(),
                emoji: "👍🏽".into()
            }
        )
    );

    // 👍 stands; 19 more distinct make twenty, the limit.
    for (n, face) in FACES[..19].iter().enumerate() {
        assert!(ann_ws.react(dm, &format!("f{n}"), t, face).await?.is_ok(), "{face}");
    }
    assert_eq!(
        ann_ws.react(dm, "f-21st", t, FACES[19]).await?,
        Err(invalid("emoji")),
        "a 21st distinct emoji"
    );
    assert_eq!(bob_ws.react(dm, "b-21st", t, FACES[19]).await?, Err(invalid("emoji")));
    assert!(
        ann_ws.react(dm, "join", t, "👍").await?.is_ok(),
        "joining a standing emoji adds no distinct one"
    );

    let log = full_history(&ann, dm).await?;
    let reactions = at(&log, target.seq).state.clone().unwrap_or_default().reactions;
    let emoji: Vec<&str> = reactions.iter().map(|r| r.emoji.as_str()).collect();
    let mut expected = vec!["👍"];
    expected.extend(&FACES[..19]);
    assert_eq!(emoji, expected, "in the order each was first added");
    assert_eq!(
        reactions[0],
        Reactions {
            emoji: "👍".into(),
            count: 2,
            mine: true,
            users: vec![bob.id(), ann.id()],
        }
    );
    assert_eq!(
        count(&log, |b| matches!(b, EventBody::ReactionAdded { .. })),
        1 + 1 + 19 + 1,
        "refused and repeated reactions stored nothing"
    );
    Ok(())
}

#[tokio::test]
async fn history_names_the_first_reactors_but_counts_and_marks_mine_for_all() -> anyhow::Result<()> {
    const REACTORS: usize = REACTION_USERS_SHOWN + 2;
    let server = TestServer::spawn_with(&FAST).await?;
    let mut users = Vec::new();
    for n in 0..REACTORS {
        users.push(Authed::register(&server, &format!("many_{n:02}")).await?);
    }
    for other in &users[1..] {
        befriend(&users[0], other).await?;
    }
    let others: Vec<&Authed> = users[1..].iter().collect();
    let group = create_group(&users[0], "Crowd", &others).await?;
    let mut author = WsClient::connect(&server, &users[0].token).await?;
    let target = author.post_text(group.id, "m", "popular").await?;
    // In turn, so their order is known: the author first, the last one last.
    for user in &users {
        let mut ws = WsClient::connect(&server, &user.token).await?;
        assert!(ws.react(group.id, "like", &target.id, "🎉").await?.is_ok());
    }

    let earliest: Vec<UserId> = users[..REACTION_USERS_SHOWN].iter().map(|u| u.id()).collect();
    for viewer in [&users[0], &users[REACTORS - 1]] {
        let log = full_history(viewer, group.id).await?;
        let reactions = at(&log, target.seq).state.clone().unwrap_or_default().reactions;
        assert_eq!(
            reactions,
            [Reactions {
                emoji: "🎉".into(),
                count: REACTORS as u32,
                mine: true,
                users: earliest.clone(),
            }],
            "as user {} (listed or not, it is theirs)",
            viewer.id()
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_deleted_message_takes_no_reactions() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "rd_ann", "rd_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let target = ann_ws.post_text(dm, "m", "short-lived").await?;
    assert!(bob_ws.react(dm, "r1", &target.id, "👍").await?.is_ok());
    assert!(ann_ws.delete(dm, "del", &target.id).await?.is_ok());

    assert_eq!(
        bob_ws.react(dm, "r2", &target.id, "🎉").await?,
        Err(ErrorCode::NotFound)
    );
    assert_eq!(
        bob_ws.unreact(dm, "u1", &target.id, "👍").await?,
        Err(ErrorCode::NotFound)
    );
    let log = full_history(&ann, dm).await?;
    assert_eq!(count(&log, |b| matches!(b, EventBody::ReactionAdded { .. })), 1);
    assert_eq!(count(&log, |b| matches!(b, EventBody::ReactionRemoved { .. })), 0);
    Ok(())
}

#[tokio::test]
async fn every_action_resent_with_the_same_client_msg_id_is_stored_once() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "idem_ann", "idem_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let target = ann_ws.post_text(dm, "m", "retried at").await?;
    let t = target.id.clone();

    let actions = [
        ClientFrame::Edit {
            client_msg_id: "i-edit".into(),
            conversation_id: dm,
            target: t.clone(),
            text: "edited once".into(),
        },
        ClientFrame::React {
            client_msg_id: "i-react".into(),
            conversation_id: dm,
            target: t.clone(),
            emoji: "👍".into(),
        },
        ClientFrame::Unreact {
            client_msg_id: "i-unreact".into(),
            conversation_id: dm,
            target: t.clone(),
            emoji: "👍".into(),
        },
        ClientFrame::Delete {
            client_msg_id: "i-delete".into(),
            conversation_id: dm,
            target: t.clone(),
        },
    ];
    for (n, frame) in actions.iter().enumerate() {
        let id = match frame {
            ClientFrame::Edit { client_msg_id, .. }
            | ClientFrame::React { client_msg_id, .. }
            | ClientFrame::Unreact { client_msg_id, .. }
            | ClientFrame::Delete { client_msg_id, .. } => client_msg_id.clone(),
            _ => unreachable!(),
        };
        // Twice back to back (a retry racing the original), then once more
        // after the ack (a retry after a reconnect).
        ann_ws.send(frame).await?;
        ann_ws.send(frame).await?;
        let answers = [
            ann_ws.answer(&id).await?,
            ann_ws.answer(&id).await?,
            ann_ws.request(frame).await?,
        ];
        let seq = target.seq + 1 + n as i64;
        for answer in &answers {
            assert_eq!(answer.as_ref().map(|a| a.seq), Ok(seq), "{id}: {answers:?}");
        }
    }
    let marker = ann_ws.post_text(dm, "marker", "after the retries").await?;
    assert_eq!(marker.seq, target.seq + 5, "each action took one seq");

    // The other member saw each action exactly once, in order.
    let mut seen = Vec::new();
    while seen.len() < 6 {
        seen.push(bob_ws.next_event().await?);
    }
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match e.body {
            EventBody::Message { .. } => "message",
            EventBody::MessageEdited { .. } => "edited",
            EventBody::ReactionAdded { .. } => "reaction added",
            EventBody::ReactionRemoved { .. } => "reaction removed",
            EventBody::MessageDeleted { .. } => "deleted",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message",
            "edited",
            "reaction added",
            "reaction removed",
            "deleted",
            "message"
        ]
    );

    let log = full_history(&bob, dm).await?;
    for (kind, found) in [
        ("edited", count(&log, |b| matches!(b, EventBody::MessageEdited { .. }))),
        (
            "reaction added",
            count(&log, |b| matches!(b, EventBody::ReactionAdded { .. })),
        ),
        (
            "reaction removed",
            count(&log, |b| matches!(b, EventBody::ReactionRemoved { .. })),
        ),
        (
            "deleted",
            count(&log, |b| matches!(b, EventBody::MessageDeleted { .. })),
        ),
    ] {
        assert_eq!(found, 1, "{kind} stored once");
    }
    Ok(())
}

#[tokio::test]
async fn a_device_offline_during_changes_catches_up_by_sync_and_history_shows_the_current_state() -> anyhow::Result<()>
{
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, bob, dm) = pair(&server, "sy_ann", "sy_bob").await?;
    let bob_phone = Authed::login(&server, "sy_bob").await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut phone_ws = WsClient::connect(&server, &bob_phone.token).await?;

    let kept = ann_ws.post_text(dm, "kept", "keep me").await?;
    let dropped = ann_ws.post_text(dm, "dropped", "drop me").await?;
    phone_ws.next_event().await?;
    let last = phone_ws.next_event().await?.seq;
    assert_eq!(last, dropped.seq);
    phone_ws.kill();

    let (k, d) = (&kept.id, &dropped.id);
    let actions = [
        ann_ws.edit(dm, "a1", k, "kept and edited").await?,
        ann_ws.react(dm, "a2", k, "👍").await?,
        bob_ws.react(dm, "b1", k, "👍").await?,
        bob_ws.react(dm, "b2", k, "❤️").await?,
        ann_ws.delete(dm, "a3", d).await?,
    ];
    assert_eq!(actions, [1, 2, 3, 4, 5].map(|n| Ok(last + n)));

    let mut phone_ws = WsClient::connect(&server, &bob_phone.token).await?;
    assert_eq!(phone_ws.state(dm).map(|s| s.last_seq), Some(last + 5));
    let missed = phone_ws.sync(dm, last).await?;
    let got: Vec<(i64, UserId, EventBody)> = missed.into_iter().map(|e| (e.seq, e.sender, e.body)).collect();
    let added = |emoji: &str| EventBody::ReactionAdded {
        target: k.clone(),
        emoji: emoji.into(),
    };
    assert_eq!(
        got,
        [
            (
                last + 1,
                ann.id(),
                EventBody::MessageEdited {
                    target: k.clone(),
                    content: text("kept and edited"),
                    mentions: vec![],
                }
            ),
            (last + 2, ann.id(), added("👍")),
            (last + 3, bob.id(), added("👍")),
            (last + 4, bob.id(), added("❤️")),
            (last + 5, ann.id(), EventBody::MessageDeleted { target: d.clone() }),
        ]
    );

    for viewer in [&ann, &bob] {
        let me = viewer.id() == bob.id();
        let page = newest_page(viewer, dm).await?;
        let shown = at(&page.events, kept.seq);
        assert_eq!(shown.body, message(text("kept and edited")));
        let state = shown.state.clone().unwrap_or_default();
        assert!(state.edited_at.is_some(), "{state:?}");
        assert_eq!(
            state.reactions,
            [
                Reactions {
                    emoji: "👍".into(),
                    count: 2,
                    mine: true,
                    users: vec![ann.id(), bob.id()],
                },
                Reactions {
                    emoji: "❤️".into(),
                    count: 1,
                    mine: me,
                    users: vec![bob.id()],
                },
            ],
            "as user {}",
            viewer.id()
        );
        assert_eq!(at(&page.events, dropped.seq).body, message(MessageContent::Deleted));
    }
    Ok(())
}

#[tokio::test]
async fn a_history_page_around_a_seq_holds_it_and_says_what_remains_each_way() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let (ann, _bob, dm) = pair(&server, "ar_ann", "ar_bob").await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    const TOTAL: i64 = 300;
    for burst in 0..3 {
        for i in burst * 100..(burst + 1) * 100 {
            ws.send_text(dm, &format!("a-{i}"), &format!("number {}", i + 1))
                .await?;
        }
        ws.await_acks(100).await?;
    }

    for (around, limit) in [(150, 20), (150, 1), (1, 20), (3, 20), (299, 20), (TOTAL, 20), (42, 100)] {
        let page: History = ann
            .get_json(&format!(
                "api/v1/conversations/{}/events?around={around}&limit={limit}",
                dm.0
            ))
            .await?;
        let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            panic!("around {around}: an empty page")
        };
        let case = format!(
            "around={around} limit={limit}: {seqs:?} more={} newer={:?}",
            page.more, page.more_newer
        );
        assert_eq!(seqs, (first..=last).collect::<Vec<_>>(), "{case}: ascending, gapless");
        assert!(first <= around && around <= last, "{case}: holds the seq");
        assert!(seqs.len() <= limit as usize, "{case}: within the limit");
        assert_eq!(page.more, first > 1, "{case}: `more` says older remain");
        assert_eq!(
            page.more_newer,
            Some(last < TOTAL),
            "{case}: `more_newer` says newer remain"
        );
        if limit >= 3 && around > 1 && around < TOTAL {
            assert!(first < around && around < last, "{case}: the seq is inside the page");
        }
        for event in &page.events {
            assert_eq!(event.body, message(text(&format!("number {}", event.seq))));
        }
    }

    // By the event's id (a reply names its original so): the same page.
    let by_seq: History = ann
        .get_json(&format!("api/v1/conversations/{}/events?around=42", dm.0))
        .await?;
    let target = at(&by_seq.events, 42).id.clone();
    let by_id: History = ann
        .get_json(&format!("api/v1/conversations/{}/events?around_id={}", dm.0, target.0))
        .await?;
    assert_eq!(by_id, by_seq);
    let unknown = ann
        .get(&format!("api/v1/conversations/{}/events?around_id=not-an-event", dm.0))
        .await?;
    assert_eq!(
        expect_error(unknown, StatusCode::NOT_FOUND).await?.code,
        ErrorCode::NotFound
    );
    let both = ann
        .get(&format!(
            "api/v1/conversations/{}/events?around=42&around_id={}",
            dm.0, target.0
        ))
        .await?;
    assert_eq!(
        expect_error(both, StatusCode::BAD_REQUEST).await?.code,
        ErrorCode::BadRequest
    );
    Ok(())
}

#[tokio::test]
async fn acting_outside_your_conversations_is_not_found_and_stores_nothing() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat, eve] = register_all(&server, ["out_ann", "out_bob", "out_cat", "out_eve"]).await?;
    befriend(&ann, &bob).await?;
    let dm = befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Left behind", &[&bob, &cat]).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let in_group = ann_ws.post_text(group.id, "g", "for members").await?;
    let in_dm = ann_ws.post_text(dm, "d", "for cat").await?;

    assert_eq!(
        bob.post(&format!("api/v1/groups/{}/leave", group.id.0), json!({}))
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    assert_eq!(
        bob_ws.react(group.id, "r", &in_group.id, "👍").await?,
        Err(ErrorCode::NotFound),
        "reacting in a group he left"
    );
    let log = full_history(&cat, group.id).await?;
    assert_eq!(count(&log, |b| matches!(b, EventBody::ReactionAdded { .. })), 0);

    let mut eve_ws = WsClient::connect(&server, &eve.token).await?;
    assert_eq!(
        eve_ws.delete(dm, "e1", &in_dm.id).await?,
        Err(ErrorCode::NotFound),
        "deleting in a DM she is not part of"
    );
    assert_eq!(
        eve_ws.edit(dm, "e2", &in_dm.id, "mine now").await?,
        Err(ErrorCode::NotFound)
    );
    assert_eq!(eve_ws.react(dm, "e3", &in_dm.id, "👎").await?, Err(ErrorCode::NotFound));
    let log = full_history(&cat, dm).await?;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(at(&log, in_dm.seq).body, message(text("for cat")));
    Ok(())
}

/// Reads `ws` until it has seen `conversation`'s seq `last`; returns that
/// conversation's seqs from live events and from this connection's own
/// `sent` acks, in arrival order. `progress` counts them as they come.
async fn seqs_until(
    mut ws: WsClient,
    conversation: ConversationId,
    last: i64,
    progress: Option<tokio::sync::watch::Sender<usize>>,
) -> anyhow::Result<Vec<i64>> {
    let mut seqs: Vec<i64> = Vec::new();
    while seqs.last().is_none_or(|&s| s < last) {
        let seq = match ws.next().await? {
            ServerFrame::Event { event } if event.conversation_id == conversation => event.seq,
            ServerFrame::Sent {
                conversation_id, seq, ..
            } if conversation_id == conversation => seq,
            error @ ServerFrame::Error { .. } => anyhow::bail!("user {}: {error:?}", ws.user_id),
            _ => continue,
        };
        seqs.push(seq);
        if let Some(progress) = &progress {
            progress.send_replace(seqs.len());
        }
    }
    Ok(seqs)
}

#[tokio::test]
async fn every_member_sees_a_gapless_ordered_stream_while_ten_flood_and_the_owner_renames() -> anyhow::Result<()> {
    const MEMBERS: usize = 50;
    const SENDERS: usize = 10;
    const EACH: usize = 100;
    const RENAMES: usize = 5;
    let server = TestServer::spawn_with(&FAST).await?;
    let mut users = Vec::new();
    for n in 0..MEMBERS {
        users.push(Authed::register(&server, &format!("ord_{n:02}")).await?);
    }
    let owner = users[0].clone();
    for other in &users[1..] {
        befriend(&owner, other).await?;
    }
    let others: Vec<&Authed> = users[1..].iter().collect();
    let group = create_group(&owner, "Flood", &others).await?;
    let g = group.id;

    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(WsClient::connect(&server, &user.token).await?);
    }
    let start = sockets[0].state(g).expect("the group is in hello").last_seq;
    let end = start + (SENDERS * EACH + RENAMES) as i64;

    let (progress, mut seen) = tokio::sync::watch::channel(0usize);
    let mut progress = Some(progress);
    let mut readers = Vec::new();
    for (n, mut ws) in sockets.into_iter().enumerate() {
        let hello_last = ws.state(g).expect("the group is in hello").last_seq;
        assert_eq!(hello_last, start);
        // The owner's connection reports progress; members 1..=10 flood.
        let progress = if n == 0 { progress.take() } else { None };
        readers.push(tokio::spawn(async move {
            if (1..=SENDERS).contains(&n) {
                for i in 0..EACH {
                    ws.send_text(g, &format!("f{n}-{i}"), &format!("{n}:{i}")).await?;
                }
            }
            seqs_until(ws, g, end, progress).await
        }));
    }
    // Renames spread over the flood: the first once the flood is visibly on.
    let path = format!("api/v1/groups/{}", g.0);
    for k in 0..RENAMES {
        if seen.wait_for(|&n| n > k * 150).await.is_err() {
            break; // The owner's reader failed; its error is reported below.
        }
        let renamed: Group = expect_json(
            owner
                .call(Method::PATCH, &path, Some(json!({"name": format!("Flood {k}")})))
                .await?,
            StatusCode::OK,
        )
        .await?;
        assert_eq!(renamed.name, format!("Flood {k}"));
    }

    let expected: Vec<i64> = (start + 1..=end).collect();
    for (n, reader) in readers.into_iter().enumerate() {
        let seqs = reader.await?.with_context(|| format!("member {n}"))?;
        if seqs != expected {
            let out_of_line = seqs
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(seqs.len().min(expected.len()));
            panic!(
                "member {n} saw seqs out of line at position {out_of_line}: {:?} (expected {}..={end})",
                &seqs[out_of_line.saturating_sub(5)..(out_of_line + 5).min(seqs.len())],
                start + 1
            );
        }
    }

    let log = full_history(&owner, g).await?;
    assert_eq!(log.len() as i64, end, "the log holds exactly what was delivered");
    let renames: Vec<i64> = log
        .iter()
        .filter(|e| matches!(e.body, EventBody::GroupRenamed { .. }))
        .map(|e| e.seq)
        .collect();
    eprintln!("renames landed at seqs {renames:?} of {}..={end}", start + 1);
    assert_eq!(renames.len(), RENAMES);
    let messages: HashSet<&str> = log.iter().filter_map(|e| e.client_msg_id.as_deref()).collect();
    assert_eq!(messages.len(), SENDERS * EACH, "every message stored once");
    Ok(())
}

#[tokio::test]
async fn a_removed_member_gets_everything_up_to_its_removal_and_nothing_after() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let users = register_all(&server, ["rx_owner", "rx_x", "rx_a", "rx_b", "rx_c", "rx_d"]).await?;
    let [owner, x, senders @ .., _quiet] = &users;
    for other in &users[1..] {
        befriend(owner, other).await?;
    }
    let others: Vec<&Authed> = users[1..].iter().collect();
    let group = create_group(owner, "Removal", &others).await?;
    let g = group.id;
    let mut x_ws = WsClient::connect(&server, &x.token).await?;
    let mut owner_ws = WsClient::connect(&server, &owner.token).await?;
    let start = x_ws.state(g).expect("group in hello").last_seq;

    const EACH: usize = 150;
    let mut flooders = Vec::new();
    for (n, sender) in senders.iter().enumerate() {
        let mut ws = WsClient::connect(&server, &sender.token).await?;
        flooders.push(tokio::spawn(async move {
            for i in 0..EACH {
                ws.send_text(g, &format!("rx{n}-{i}"), &format!("{n}:{i}")).await?;
            }
            ws.await_acks(EACH).await
        }));
    }
    // X reads part of the flood, then is removed while it goes on.
    let mut got: Vec<Event> = Vec::new();
    while got.len() < 60 {
        let event = x_ws.next_event().await?;
        if event.conversation_id == g {
            got.push(event);
        }
    }
    assert_eq!(
        owner
            .delete(&format!("api/v1/groups/{}/members/{}", g.0, x.id().0))
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    for flooder in flooders {
        flooder.await??;
    }
    // Committed after the removal; each ack comes once its event is queued
    // on every recipient.
    let mut after = Vec::new();
    for i in 0..3 {
        after.push(owner_ws.send_and_ack(g, &format!("after-{i}"), "not for x").await?);
    }
    // Anything queued for X so far arrives before this pong.
    let rest = x_ws.until_pong(77).await?;
    got.extend(events_in(&rest).into_iter().filter(|e| e.conversation_id == g).cloned());

    let removal = got
        .iter()
        .position(|e| e.body == EventBody::MemberRemoved { user: x.id() })
        .expect("X was told of its removal");
    let removal_seq = got[removal].seq;
    assert_eq!(got[removal].sender, owner.id());
    let seqs: Vec<i64> = got.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (start + 1..=removal_seq).collect::<Vec<_>>(),
        "every event up to the removal, in order, and nothing after it"
    );
    assert!(
        after.iter().all(|&s| s > removal_seq),
        "the later messages exist: {after:?}"
    );
    eprintln!(
        "removed at seq {removal_seq} of the flood's {}..={}",
        start + 1,
        after[0] - 1
    );
    Ok(())
}

/// Sends `typing` to `count` made-up conversations from `first` on, in
/// chunks that never fill the connection's queue, each answered `not_found`.
async fn typing_nowhere(ws: &mut WsClient, first: i64, count: i64) -> anyhow::Result<()> {
    const CHUNK: i64 = 500;
    for chunk in (first..first + count).step_by(CHUNK as usize) {
        for id in chunk..(chunk + CHUNK).min(first + count) {
            ws.send(&ClientFrame::Typing {
                conversation_id: ConversationId(10_000_000 + id),
            })
            .await?;
        }
        let mut answered = 0;
        while answered < CHUNK.min(first + count - chunk) {
            match ws.next().await? {
                ServerFrame::Error {
                    code: ErrorCode::NotFound,
                    ..
                } => answered += 1,
                error @ ServerFrame::Error { .. } => anyhow::bail!("{error:?}"),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Typing notices and receipt requests naming conversations that don't
/// exist are each refused, and the connection lives on. That nothing is
/// kept for them is held where it can be seen, by the member index's own
/// test (`hub::tests::only_members_lookups_are_kept`): a few hundred KiB
/// hide in the server's RSS noise, so RSS can't tell here.
#[tokio::test]
async fn made_up_conversations_are_refused_one_by_one() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann] = register_all(&server, ["mem_ann"]).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    typing_nowhere(&mut ws, 0, 10_000).await?;
    assert_eq!(ws.ping(1).await?, 1);
    receipts_nowhere(&ann, 0..2_000, 4).await?;
    Ok(())
}

/// Asks for the receipts of made-up conversations `range`, on `workers`
/// connections at once; each must be `404`.
async fn receipts_nowhere(user: &Authed, range: std::ops::Range<i64>, workers: usize) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let user = user.clone();
        let ids = range.clone().skip(w).step_by(workers);
        tasks.push(tokio::spawn(async move {
            for id in ids {
                let path = format!("api/v1/conversations/{}/receipts", 20_000_000 + id);
                let error = expect_error(user.get(&path).await?, StatusCode::NOT_FOUND).await?;
                anyhow::ensure!(error.code == ErrorCode::NotFound, "{error:?}");
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

#[tokio::test]
async fn a_five_thousand_member_group_is_created_in_under_two_seconds() -> anyhow::Result<()> {
    const USERS: usize = 5000;
    let users = USERS.to_string();
    let (server, provisioned) = TestServer::provisioned(
        &[
            "--users",
            &users,
            "--prefix",
            "big",
            "--ring",
            "0",
            "--group-size",
            "0",
            "--star",
        ],
        &FAST,
    )
    .await?;
    assert_eq!(provisioned.users.len(), USERS);
    assert_eq!(provisioned.pairs.len(), USERS - 1, "the first user knows everyone");
    let owner = Authed::from_token(&server, &provisioned.users[0].token).await?;
    let member_ids: Vec<i64> = provisioned.users[1..].iter().map(|u| u.id).collect();
    // A member online while the group is made: the change reaches them as
    // a few frames, not 5 000 that would overflow their queue (1 024).
    let mut online = WsClient::connect(&server, &provisioned.users[USERS - 1].token).await?;

    let started = Instant::now();
    let response = owner
        .post("api/v1/groups", json!({"name": "Everyone", "member_ids": member_ids}))
        .await?;
    let elapsed = started.elapsed();
    let group: Group = expect_json(response, StatusCode::CREATED).await?;
    eprintln!("created a {USERS}-member group in {elapsed:?}");
    assert_eq!(group.member_count, USERS as u32);
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    let created = online.next_event().await?;
    assert!(matches!(created.body, EventBody::GroupCreated { .. }), "{created:?}");
    assert_eq!(
        online.next_event().await?.body,
        EventBody::MemberJoined { user: owner.id() }
    );
    match online.next_event().await?.body {
        EventBody::MembersJoined { users } => assert_eq!(users.len(), USERS - 1),
        other => panic!("expected everyone joining at once, got {other:?}"),
    }
    assert_eq!(online.ping(9).await?, 9, "still connected, not cut off as slow");

    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("api/v1/groups/{}/members?limit=100", group.id.0);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Page<Member> = owner.get_json(&path).await?;
        listed.extend(page.items.into_iter().map(|m| m.user.id.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed.len(), USERS, "each member listed once");
    let listed: BTreeSet<i64> = listed.into_iter().collect();
    let everyone: BTreeSet<i64> = provisioned.users.iter().map(|u| u.id).collect();
    assert_eq!(listed, everyone);
    Ok(())
}
