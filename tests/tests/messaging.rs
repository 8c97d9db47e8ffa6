//! The messaging core over real WebSockets against the real binary: live
//! delivery to every device, idempotent sends, sync, slow consumers, rate
//! limits, refusals, and a crash in the middle of a burst.

use std::collections::{BTreeMap, HashSet};

use natter_common::{
    api::{Group, Receipt},
    events::{Event, EventBody, MessageContent},
    frames::{close, ClientFrame, ServerFrame},
    ids::ConversationId,
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, expect_json, full_history, register_all, Authed},
    ws::{Handshake, WsClient},
    TestServer, FAST,
};
use reqwest::StatusCode;
use serde_json::json;

fn text_of(event: &Event) -> &str {
    match &event.body {
        EventBody::Message {
            content: MessageContent::Text { text },
            ..
        } => text,
        _ => "",
    }
}

#[tokio::test]
async fn dm_reaches_every_device_of_both_users_once() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["dm_ann", "dm_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let ann_phone = Authed::login(&server, "dm_ann").await?;
    let bob_phone = Authed::login(&server, "dm_bob").await?;

    let mut ann1 = WsClient::connect(&server, &ann.token).await?;
    let mut ann2 = WsClient::connect(&server, &ann_phone.token).await?;
    let mut bob1 = WsClient::connect(&server, &bob.token).await?;
    let mut bob2 = WsClient::connect(&server, &bob_phone.token).await?;

    let seq = ann1.send_and_ack(dm, "m-1", "hello 👋 <b>bold</b>").await?;
    assert_eq!(seq, 1);
    for device in [&mut ann2, &mut bob1, &mut bob2] {
        let event = device.next_event().await?;
        assert_eq!((event.conversation_id, event.seq, event.sender), (dm, 1, ann.id()));
        assert_eq!(text_of(&event), "hello 👋 <b>bold</b>");
        // The key is the asker's: its connection has it in its `sent`.
        assert_eq!(event.client_msg_id, None, "a live event carries no client_msg_id");
    }
    // History keeps it, so a device that lost its `sent` can still match.
    let stored = full_history(&bob, dm).await?;
    assert_eq!(stored[0].client_msg_id.as_deref(), Some("m-1"));
    // And back the other way, in order.
    bob2.send_and_ack(dm, "r-1", "hi").await?;
    bob2.send_and_ack(dm, "r-2", "there").await?;
    for device in [&mut ann1, &mut ann2, &mut bob1] {
        let (first, second) = (device.next_event().await?, device.next_event().await?);
        assert_eq!((first.seq, text_of(&first)), (2, "hi"));
        assert_eq!((second.seq, text_of(&second)), (3, "there"));
    }
    Ok(())
}

#[tokio::test]
async fn group_messages_fan_out_to_every_member() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let users = register_all(&server, ["fan_a", "fan_b", "fan_c", "fan_d", "fan_e"]).await?;
    for other in &users[1..] {
        befriend(&users[0], other).await?;
    }
    let others: Vec<&Authed> = users[1..].iter().collect();
    let group = create_group(&users[0], "Fan", &others).await?;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(WsClient::connect(&server, &user.token).await?);
    }
    let last = sockets[0].state(group.id).expect("group in hello").last_seq;
    for i in 0..20 {
        sockets[2]
            .send_text(group.id, &format!("g-{i}"), &format!("message {i}"))
            .await?;
    }
    for (n, socket) in sockets.iter_mut().enumerate() {
        if n == 2 {
            continue;
        }
        for i in 0..20 {
            let event = socket.next_event().await?;
            assert_eq!(
                (event.seq, text_of(&event)),
                (last + 1 + i, format!("message {i}").as_str())
            );
        }
    }
    Ok(())
}

/// Two people sending at once: the server merges a run of events once for
/// every member, but each sender's own connection must get its `sent` in
/// place of each of its messages, between the other's events.
#[tokio::test]
async fn senders_in_one_burst_get_their_acks_in_place_of_their_events() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["burst_ann", "burst_bob", "burst_cat"]).await?;
    for other in [&bob, &cat] {
        befriend(&ann, other).await?;
    }
    let group = create_group(&ann, "Burst", &[&bob, &cat]).await?;
    let mut ann1 = WsClient::connect(&server, &ann.token).await?;
    let mut ann2 = WsClient::connect(&server, &ann.token).await?;
    let mut bob1 = WsClient::connect(&server, &bob.token).await?;
    let mut cat1 = WsClient::connect(&server, &cat.token).await?;
    let last = cat1.state(group.id).expect("group in hello").last_seq;
    const EACH: usize = 100;
    for i in 0..EACH {
        ann1.send_text(group.id, &format!("a-{i}"), &format!("ann {i}")).await?;
        bob1.send_text(group.id, &format!("b-{i}"), &format!("bob {i}")).await?;
    }
    let expected: Vec<i64> = (last + 1..=last + 2 * EACH as i64).collect();
    // What a connection sees of the burst: (seq, whether it was a `sent`).
    async fn seen(socket: &mut WsClient, count: usize) -> anyhow::Result<Vec<(i64, bool, String)>> {
        let mut seen = Vec::new();
        while seen.len() < count {
            match socket.next().await? {
                ServerFrame::Event { event } => seen.push((event.seq, false, text_of(&event).to_owned())),
                ServerFrame::Sent { seq, client_msg_id, .. } => seen.push((seq, true, client_msg_id)),
                _ => {}
            }
        }
        Ok(seen)
    }
    for (name, socket, own) in [("ann", &mut ann1, "a-"), ("bob", &mut bob1, "b-")] {
        // Acks name the client's id ("a-3"), events carry the text ("ann 3").
        let frames = seen(socket, 2 * EACH).await?;
        let seqs: Vec<i64> = frames.iter().map(|f| f.0).collect();
        assert_eq!(seqs, expected, "{name}: acks and events in seq order");
        for (seq, sent, what) in &frames {
            assert!(
                *sent == what.starts_with(own) && !what.starts_with(name),
                "{name} at seq {seq}: {what}"
            );
        }
        assert_eq!(
            frames.iter().filter(|f| f.1).count(),
            EACH,
            "{name}: an ack per message"
        );
    }
    for (name, socket) in [("ann's other device", &mut ann2), ("cat", &mut cat1)] {
        let frames = seen(socket, 2 * EACH).await?;
        assert!(frames.iter().all(|f| !f.1), "{name}: events only");
        let seqs: Vec<i64> = frames.iter().map(|f| f.0).collect();
        assert_eq!(seqs, expected, "{name}: every event once, in order");
    }
    Ok(())
}

#[tokio::test]
async fn a_resend_with_the_same_client_msg_id_stores_one_message() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["dup_ann", "dup_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut sender = WsClient::connect(&server, &ann.token).await?;
    let mut receiver = WsClient::connect(&server, &bob.token).await?;

    let first = sender.send_and_ack(dm, "same-id", "once").await?;
    // A retry after the ack, and two back to back (same batch), all map to it.
    let second = sender.send_and_ack(dm, "same-id", "once").await?;
    sender.send_text(dm, "twin", "pair").await?;
    sender.send_text(dm, "twin", "pair").await?;
    let mut twin_acks = Vec::new();
    while twin_acks.len() < 2 {
        if let ServerFrame::Sent { client_msg_id, seq, .. } = sender.next().await? {
            assert_eq!(client_msg_id, "twin");
            twin_acks.push(seq);
        }
    }
    assert_eq!(first, second);
    assert_eq!(twin_acks[0], twin_acks[1]);
    sender.send_and_ack(dm, "marker", "after").await?;

    // The receiver sees each message exactly once: the marker follows directly.
    let seen: Vec<String> = [
        receiver.next_event().await?,
        receiver.next_event().await?,
        receiver.next_event().await?,
    ]
    .iter()
    .map(|e| text_of(e).to_owned())
    .collect();
    assert_eq!(seen, ["once", "pair", "after"]);
    let texts: Vec<String> = full_history(&ann, dm)
        .await?
        .iter()
        .map(|e| text_of(e).to_owned())
        .collect();
    assert_eq!(texts, ["once", "pair", "after"]);
    Ok(())
}

#[tokio::test]
async fn an_offline_user_gets_everything_in_order_on_login() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["off_ann", "off_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut sender = WsClient::connect(&server, &ann.token).await?;
    for i in 0..250 {
        sender.send_text(dm, &format!("o-{i}"), &format!("{i}")).await?;
    }
    sender.await_acks(250).await?;

    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let state = bob_ws.state(dm).expect("dm in hello").clone();
    assert_eq!((state.last_seq, state.read_seq, state.unread), (250, 0, 250));
    let events = bob_ws.sync(dm, 0).await?;
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=250).collect::<Vec<_>>()
    );
    assert!(events.iter().enumerate().all(|(i, e)| text_of(e) == i.to_string()));

    // Reading moves the marker on every device of Bob's, and unread drops.
    let mut bob_other = WsClient::connect(&server, &Authed::login(&server, "off_bob").await?.token).await?;
    bob_ws
        .send(&ClientFrame::Read {
            conversation_id: dm,
            seq: 200,
        })
        .await?;
    for device in [&mut bob_ws, &mut bob_other] {
        let (read_seq, unread) = device
            .next_where(|f| match f {
                ServerFrame::ReadState {
                    conversation_id,
                    read_seq,
                    unread,
                    ..
                } if conversation_id == dm => Some((read_seq, unread)),
                _ => None,
            })
            .await?;
        assert_eq!((read_seq, unread), (200, 50));
    }
    Ok(())
}

#[tokio::test]
async fn a_socket_killed_mid_stream_resyncs_with_nothing_lost_or_doubled() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["cut_ann", "cut_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut sender = WsClient::connect(&server, &ann.token).await?;
    let mut receiver = WsClient::connect(&server, &bob.token).await?;

    for i in 0..100 {
        sender.send_text(dm, &format!("k-{i}"), &format!("{i}")).await?;
    }
    // Bob reads part of the stream, then his connection dies.
    let mut seen: Vec<Event> = Vec::new();
    for _ in 0..30 {
        seen.push(receiver.next_event().await?);
    }
    receiver.kill();
    for i in 100..200 {
        sender.send_text(dm, &format!("k-{i}"), &format!("{i}")).await?;
    }
    sender.await_acks(200).await?;

    // He reconnects and syncs from the last seq he has.
    let mut again = WsClient::connect(&server, &bob.token).await?;
    let last = seen.last().map_or(0, |e| e.seq);
    seen.extend(again.sync(dm, last).await?);
    let seqs: Vec<i64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<_>>(),
        "every message exactly once, in order"
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_others_keep_receiving() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, slow] = register_all(&server, ["slow_ann", "slow_bob", "slow_cat"]).await?;
    befriend(&ann, &bob).await?;
    befriend(&ann, &slow).await?;
    let group: Group = expect_json(
        ann.post(
            "api/v1/groups",
            json!({"name": "Firehose", "member_ids": [bob.id(), slow.id()]}),
        )
        .await?,
        StatusCode::CREATED,
    )
    .await?;
    let mut sender = WsClient::connect(&server, &ann.token).await?;
    let mut fast = WsClient::connect(&server, &bob.token).await?;
    // This one never reads while the burst is on.
    let mut stalled = WsClient::connect(&server, &slow.token).await?;
    let start = sender.state(group.id).expect("group").last_seq;

    // Well beyond what the queue (4 MiB) and loopback socket buffers hold.
    const BURST: i64 = 5000;
    let big = "x".repeat(3900);
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < BURST as usize {
            seqs.push(fast.next_event().await?.seq);
        }
        anyhow::Ok(seqs)
    });
    for i in 0..BURST {
        sender.send_text(group.id, &format!("s-{i}"), &big).await?;
    }
    let got = reader.await??;
    assert_eq!(
        got,
        (start + 1..=start + BURST).collect::<Vec<_>>(),
        "the reading member got everything"
    );

    let (code, partial) = stalled.until_closed().await?;
    eprintln!(
        "stalled client got {} of {BURST} before being cut off (close {code:?})",
        partial.len()
    );
    assert!(
        code.is_none() || code == Some(close::SLOW_CONSUMER),
        "closed with {code:?}"
    );
    assert!(
        (partial.len() as i64) < BURST,
        "the stalled client was cut off, not served in full"
    );
    // It reconnects and catches up by seq.
    let mut back = WsClient::connect(&server, &slow.token).await?;
    let last = partial.last().map_or(start, |e| e.seq);
    let rest = back.sync(group.id, last).await?;
    assert_eq!(rest.last().map(|e| e.seq), Some(start + BURST));
    // Cutting a connection loose must not crash its session task (which
    // would leak its registration and presence).
    assert!(!server.log().contains("panicked"), "{}", server.log());
    Ok(())
}

#[tokio::test]
async fn sends_over_the_rate_get_a_typed_error_each() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[
        ("NATTER_AUTH_RATE_PER_MINUTE", "1000"),
        ("NATTER_SEND_RATE_PER_SECOND", "1"),
        ("NATTER_SEND_BURST", "3"),
    ])
    .await?;
    let [ann, bob] = register_all(&server, ["rate_ann", "rate_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    for i in 0..6 {
        ws.send_text(dm, &format!("rl-{i}"), "spam").await?;
    }
    let mut answers = BTreeMap::new();
    while answers.len() < 6 {
        match ws.next().await? {
            ServerFrame::Sent { client_msg_id, .. } => answers.insert(client_msg_id, None),
            ServerFrame::Error {
                client_msg_id: Some(id),
                code,
                ..
            } => answers.insert(id, Some(code)),
            _ => None,
        };
    }
    let refused: Vec<_> = answers.values().flatten().collect();
    assert_eq!(answers.values().filter(|a| a.is_none()).count(), 3, "{answers:?}");
    assert_eq!(refused.len(), 3);
    assert!(refused
        .iter()
        .all(|c| matches!(c, ErrorCode::RateLimited { retry_after_ms } if *retry_after_ms > 0)));
    Ok(())
}

#[tokio::test]
async fn only_participants_may_use_a_conversation() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, eve] = register_all(&server, ["auth_ann", "auth_bob", "auth_eve"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut eve_ws = WsClient::connect(&server, &eve.token).await?;

    eve_ws.send_text(dm, "e-1", "let me in").await?;
    let refused = |want: ErrorCode| {
        move |f: ServerFrame| match f {
            ServerFrame::Error { code, .. } => Some(code == want),
            _ => None,
        }
    };
    assert!(
        eve_ws.next_where(refused(ErrorCode::NotFound)).await?,
        "send to a foreign DM"
    );
    for frame in [
        ClientFrame::Sync {
            conversation_id: dm,
            after_seq: 0,
        },
        ClientFrame::Read {
            conversation_id: dm,
            seq: 1,
        },
        ClientFrame::Typing { conversation_id: dm },
        ClientFrame::Sync {
            conversation_id: ConversationId(987_654),
            after_seq: 0,
        },
    ] {
        eve_ws.send(&frame).await?;
        assert!(eve_ws.next_where(refused(ErrorCode::NotFound)).await?, "{frame:?}");
    }

    // Former contacts keep their history but can't message each other.
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    ann_ws.send_and_ack(dm, "before", "still friends").await?;
    assert_eq!(
        ann.delete(&format!("api/v1/contacts/{}", bob.id().0)).await?.status(),
        StatusCode::NO_CONTENT
    );
    ann_ws.send_text(dm, "after", "hello?").await?;
    let code = ann_ws
        .next_where(|f| match f {
            ServerFrame::Error {
                code,
                client_msg_id: Some(id),
                ..
            } if id == "after" => Some(code),
            _ => None,
        })
        .await?;
    assert_eq!(code, ErrorCode::NotContacts);
    assert_eq!(full_history(&bob, dm).await?.len(), 1);

    // No session, no socket; a foreign page can't open one with the cookie.
    let anonymous = WsClient::handshake(&server, Handshake::default()).await;
    assert!(format!("{:?}", anonymous.err()).contains("401"));
    let foreign = WsClient::handshake(
        &server,
        Handshake {
            token: Some(&ann.token),
            origin: Some("https://evil.example"),
            query: "",
        },
    )
    .await;
    assert!(format!("{:?}", foreign.err()).contains("403"));
    let own_origin = server.url.trim_end_matches('/').to_owned();
    WsClient::handshake(
        &server,
        Handshake {
            token: Some(&ann.token),
            origin: Some(&own_origin),
            query: "",
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_frames_get_typed_errors_and_the_connection_lives_on() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["bad_ann", "bad_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let error_code = |f: ServerFrame| match f {
        ServerFrame::Error { code, .. } => Some(code),
        _ => None,
    };

    for raw in [
        "not json",
        r#"{"type":"launch_rockets"}"#,
        r#"{"type":"send","conversation_id":"x"}"#,
    ] {
        ws.send_raw(raw.into()).await?;
        assert_eq!(ws.next_where(error_code).await?, ErrorCode::BadRequest, "{raw}");
    }
    ws.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(ws.next_where(error_code).await?, ErrorCode::BadRequest);
    ws.send_raw(format!(r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#, "p".repeat(40_000)))
        .await?;
    assert_eq!(
        ws.next_where(error_code).await?,
        ErrorCode::PayloadTooLarge { max_bytes: 32 * 1024 }
    );

    for (text, field) in [("   ", "text"), (&*"é".repeat(4001), "text")] {
        ws.send_text(dm, "bad-text", text).await?;
        assert_eq!(
            ws.next_where(error_code).await?,
            ErrorCode::InvalidInput { field: field.into() }
        );
    }
    ws.send_text(dm, &"c".repeat(65), "hi").await?;
    assert_eq!(
        ws.next_where(error_code).await?,
        ErrorCode::InvalidInput {
            field: "client_msg_id".into()
        }
    );

    // Still alive: heartbeat answers and a message goes through.
    assert_eq!(ws.ping(42).await?, 42);
    ws.send_and_ack(dm, "good", "fine").await?;
    assert_eq!(full_history(&ann, dm).await?.len(), 1, "no bad frame stored anything");

    // Garbage without end closes the connection with a reason.
    for _ in 0..10 {
        ws.send_raw("garbage".into()).await?;
    }
    let (code, _) = ws.until_closed().await?;
    assert_eq!(code, Some(close::ABUSE));

    // A frame over the hard limit ends the connection (1009). The server
    // reads and drops the rest while it hangs up, so the client gets to
    // write it all and then reads why.
    let mut big = WsClient::connect(&server, &ann.token).await?;
    big.send_raw("x".repeat(2 * 1024 * 1024)).await?;
    let (code, _) = big.until_closed().await?;
    assert_eq!(code, Some(1009));
    // That connection is gone and the server serves others.
    let mut after = WsClient::connect(&server, &ann.token).await?;
    assert_eq!(after.ping(7).await?, 7);
    assert!(!server.log().contains("panicked"), "{}", server.log());
    Ok(())
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_told_and_closed() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann] = register_all(&server, ["ver_ann"]).await?;
    let stream = WsClient::handshake(
        &server,
        Handshake {
            token: Some(&ann.token),
            origin: None,
            query: "?v=99",
        },
    )
    .await?;
    let mut stream = stream;
    use futures_util::StreamExt;
    let first = stream.next().await.expect("a frame")?;
    let frame: ServerFrame = serde_json::from_str(first.to_text()?)?;
    assert!(matches!(
        frame,
        ServerFrame::Error {
            code: ErrorCode::UnsupportedProtocol {
                supported: natter_common::PROTOCOL_VERSION
            },
            ..
        }
    ));
    let second = stream.next().await.expect("a close")?;
    assert!(
        matches!(second, tokio_tungstenite::tungstenite::Message::Close(Some(ref f)) if u16::from(f.code) == close::UNSUPPORTED_PROTOCOL)
    );
    Ok(())
}

/// Reads raw WebSocket messages until `count` events have arrived; returns
/// their seqs and how many messages carried them.
async fn raw_events(
    stream: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    count: usize,
    batches_allowed: bool,
) -> anyhow::Result<(Vec<i64>, usize)> {
    use futures_util::StreamExt;
    let (mut seqs, mut messages) = (Vec::new(), 0);
    while seqs.len() < count {
        let message = tokio::time::timeout(natter_tests::ws::FRAME_TIMEOUT, stream.next())
            .await?
            .expect("open")?;
        let Ok(text) = message.to_text() else { continue };
        let frame: ServerFrame = serde_json::from_str(text)?;
        assert!(
            batches_allowed || !matches!(frame, ServerFrame::Batch { .. }),
            "a protocol 1 client got a batch"
        );
        let before = seqs.len();
        seqs.extend(frame.unbatch().filter_map(|f| match f {
            ServerFrame::Event { event } => Some(event.seq),
            _ => None,
        }));
        messages += usize::from(seqs.len() > before);
    }
    Ok((seqs, messages))
}

#[tokio::test]
async fn bursts_arrive_batched_for_protocol_2_and_frame_by_frame_for_1() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["batch_ann", "batch_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let connect = |v: &'static str| {
        WsClient::handshake(
            &server,
            Handshake {
                token: Some(&bob.token),
                origin: None,
                query: v,
            },
        )
    };
    let (mut old, mut new) = (connect("?v=1").await?, connect("?v=2").await?);
    let mut sender = WsClient::connect(&server, &ann.token).await?;
    const BURST: usize = 300;
    for i in 0..BURST {
        sender.send_text(dm, &format!("b-{i}"), &format!("burst {i}")).await?;
    }
    sender.await_acks(BURST).await?;

    let expected: Vec<i64> = (1..=BURST as i64).collect();
    let (old_seqs, old_messages) = raw_events(&mut old, BURST, false).await?;
    let (new_seqs, new_messages) = raw_events(&mut new, BURST, true).await?;
    assert_eq!(old_seqs, expected, "protocol 1: every event, in order");
    assert_eq!(new_seqs, expected, "protocol 2: every event, in order");
    assert_eq!(old_messages, BURST, "protocol 1: one message per event");
    eprintln!("protocol 2 carried {BURST} events in {new_messages} messages");
    assert!(
        new_messages < BURST / 2,
        "a queued burst is merged into batches ({new_messages} messages)"
    );
    Ok(())
}

#[tokio::test]
async fn the_hello_names_the_version_the_connection_speaks() -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann] = register_all(&server, ["hello_ann"]).await?;
    for (query, version) in [("?v=1", 1), ("?v=2", 2), ("", natter_common::PROTOCOL_VERSION)] {
        let mut stream = WsClient::handshake(
            &server,
            Handshake {
                token: Some(&ann.token),
                origin: None,
                query,
            },
        )
        .await?;
        let first = stream.next().await.expect("a hello")?;
        match serde_json::from_str::<ServerFrame>(first.to_text()?)? {
            ServerFrame::Hello { protocol_version, .. } => assert_eq!(protocol_version, version, "{query:?}"),
            other => anyhow::bail!("expected a hello, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn read_receipts_reach_the_other_members_only() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["rr_ann", "rr_bob", "rr_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let path = format!("api/v1/conversations/{}/receipts", dm.0);
    let none: Vec<Receipt> = ann.get_json(&path).await?;
    assert!(none.is_empty(), "nobody has read anything yet: {none:?}");

    let seq = ann_ws.send_and_ack(dm, "rr-1", "did you see this?").await?;
    assert_eq!(bob_ws.next_event().await?.seq, seq);
    bob_ws
        .send(&ClientFrame::Read {
            conversation_id: dm,
            seq,
        })
        .await?;
    let receipt = ann_ws
        .next_where(|f| match f {
            ServerFrame::Receipt {
                conversation_id,
                user_id,
                read_seq,
            } => Some((conversation_id, user_id, read_seq)),
            _ => None,
        })
        .await?;
    assert_eq!(receipt, (dm, bob.id(), seq));
    let stored: Vec<Receipt> = ann.get_json(&path).await?;
    assert_eq!(
        stored,
        [Receipt {
            user_id: bob.id(),
            read_seq: seq
        }]
    );
    // Bob is not told about his own reading, only his devices' read state.
    let mut frames = Vec::new();
    bob_ws.send(&ClientFrame::Ping { nonce: 9 }).await?;
    bob_ws
        .next_where(|f| {
            let pong = matches!(f, ServerFrame::Pong { nonce: 9 });
            frames.push(f);
            pong.then_some(())
        })
        .await?;
    assert!(
        !frames.iter().any(|f| matches!(f, ServerFrame::Receipt { .. })),
        "{frames:?}"
    );
    // And his own list leaves him out.
    let bobs: Vec<Receipt> = bob.get_json(&path).await?;
    assert!(bobs.is_empty(), "{bobs:?}");
    // Outsiders learn nothing.
    expect_error(cat.get(&path).await?, StatusCode::NOT_FOUND).await?;
    Ok(())
}

#[tokio::test]
async fn presence_typing_and_membership_changes_are_live() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["live_ann", "live_bob", "live_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    assert!(ann_ws.online.is_empty());

    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    assert_eq!(bob_ws.online, vec![ann.id()]);
    let online = ann_ws
        .next_where(|f| {
            if let ServerFrame::Presence { user_id, online } = f {
                Some((user_id, online))
            } else {
                None
            }
        })
        .await?;
    assert_eq!(online, (bob.id(), true));

    bob_ws.send(&ClientFrame::Typing { conversation_id: dm }).await?;
    let typing = ann_ws
        .next_where(|f| {
            if let ServerFrame::Typing {
                conversation_id,
                user_id,
            } = f
            {
                Some((conversation_id, user_id))
            } else {
                None
            }
        })
        .await?;
    assert_eq!(typing, (dm, bob.id()));

    // A contact request reaches Cat live; being added to a group does too.
    let mut cat_ws = WsClient::connect(&server, &cat.token).await?;
    ann.post("api/v1/contact-requests", json!({"user_id": cat.id()}))
        .await?;
    cat_ws
        .next_where(|f| matches!(f, ServerFrame::ContactsChanged).then_some(()))
        .await?;
    befriend(&cat, &ann).await.ok();
    let group: Group = expect_json(
        ann.post("api/v1/groups", json!({"name": "Live", "member_ids": [bob.id()]}))
            .await?,
        StatusCode::CREATED,
    )
    .await?;
    ann.post(
        &format!("api/v1/groups/{}/members", group.id.0),
        json!({"user_ids": [cat.id()]}),
    )
    .await?;
    let joined = cat_ws.next_event().await?;
    assert_eq!(
        (joined.conversation_id, joined.body),
        (group.id, EventBody::MemberJoined { user: cat.id() })
    );

    bob_ws.kill();
    let offline = ann_ws
        .next_where(|f| match f {
            ServerFrame::Presence { user_id, online: false } => Some(user_id),
            _ => None,
        })
        .await?;
    assert_eq!(offline, bob.id());
    Ok(())
}

/// The `presence` frames among `frames`, as (user, online).
fn presence_in(frames: Vec<ServerFrame>) -> Vec<(natter_common::ids::UserId, bool)> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Presence { user_id, online } => Some((user_id, online)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn people_who_become_contacts_online_see_each_other_online() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat, dan] = register_all(&server, ["intro_ann", "intro_bob", "intro_cat", "intro_dan"]).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut cat_ws = WsClient::connect(&server, &cat.token).await?;
    assert!(ann_ws.online.is_empty() && bob_ws.online.is_empty() && cat_ws.online.is_empty());

    // Bob accepts Ann's request: by the time the accept is answered, each
    // has been told the other is online (without reconnecting).
    befriend(&ann, &bob).await?;
    assert_eq!(presence_in(ann_ws.until_pong(1).await?), [(bob.id(), true)]);
    assert_eq!(presence_in(bob_ws.until_pong(2).await?), [(ann.id(), true)]);
    assert!(
        presence_in(cat_ws.until_pong(3).await?).is_empty(),
        "not Cat's business"
    );

    // Two requests that meet make contacts at once: the same.
    cat.post("api/v1/contact-requests", json!({"user_id": ann.id()}))
        .await?;
    let outcome = ann
        .post("api/v1/contact-requests", json!({"user_id": cat.id()}))
        .await?;
    assert_eq!(outcome.status(), StatusCode::CREATED);
    assert_eq!(presence_in(ann_ws.until_pong(4).await?), [(cat.id(), true)]);
    assert_eq!(presence_in(cat_ws.until_pong(5).await?), [(ann.id(), true)]);

    // Dan is offline when he and Cat become contacts: Cat hears of him when
    // he connects (announced after his hello), as before, and not earlier.
    befriend(&cat, &dan).await?;
    assert!(presence_in(cat_ws.until_pong(6).await?).is_empty());
    let dan_ws = WsClient::connect(&server, &dan.token).await?;
    assert_eq!(dan_ws.online, vec![cat.id()]);
    let heard = cat_ws
        .next_where(|f| match f {
            ServerFrame::Presence { user_id, online } => Some((user_id, online)),
            _ => None,
        })
        .await?;
    assert_eq!(heard, (dan.id(), true));
    Ok(())
}

#[tokio::test]
async fn every_acked_message_survives_a_crash_exactly_once() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let users = register_all(&server, ["crash_a", "crash_b", "crash_c", "crash_d"]).await?;
    for other in &users[1..] {
        befriend(&users[0], other).await?;
    }
    let others: Vec<&Authed> = users[1..].iter().collect();
    let group = create_group(&users[0], "Crash", &others).await?;

    // Four clients send a burst; the server is killed while acks stream in.
    let mut tasks = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let mut ws = WsClient::connect(&server, &user.token).await?;
        let group = group.id;
        tasks.push(tokio::spawn(async move {
            for i in 0..400 {
                if ws
                    .send_text(group, &format!("u{n}-{i}"), &format!("{n}:{i}"))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let mut acked = HashSet::new();
            while let Ok(frame) = ws.next().await {
                if let ServerFrame::Sent { client_msg_id, .. } = frame {
                    acked.insert(client_msg_id);
                }
            }
            acked
        }));
    }
    // Wait until some acks have certainly been given, then crash.
    let mut watcher = WsClient::connect(&server, &users[0].token).await?;
    for _ in 0..200 {
        watcher.next_event().await?;
    }
    let server = server.crash_and_restart().await?;
    let mut acked = HashSet::new();
    for task in tasks {
        acked.extend(task.await?);
    }
    assert!(!acked.is_empty());

    let stored = full_history(&users[0], group.id).await?;
    eprintln!(
        "{} of 1600 sends acked before the crash; {} events stored",
        acked.len(),
        stored.len()
    );
    let ids: Vec<&str> = stored.iter().filter_map(|e| e.client_msg_id.as_deref()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no message stored twice");
    for id in &acked {
        assert!(unique.contains(id.as_str()), "acked message {id} lost in the crash");
    }
    let seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "seq gapless after recovery"
    );

    // Retrying everything with the same ids stores the missing ones once.
    let mut ws = WsClient::connect(&server, &users[1].token).await?;
    for i in 0..400 {
        ws.send_and_ack(group.id, &format!("u1-{i}"), &format!("1:{i}")).await?;
    }
    let after = full_history(&users[0], group.id).await?;
    let u1: Vec<_> = after
        .iter()
        .filter_map(|e| e.client_msg_id.as_deref())
        .filter(|id| id.starts_with("u1-"))
        .collect();
    assert_eq!(u1.len(), 400);
    assert_eq!(u1.iter().collect::<HashSet<_>>().len(), 400);
    Ok(())
}

#[tokio::test]
async fn signing_out_closes_that_sessions_sockets_only() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann] = register_all(&server, ["out_ann"]).await?;
    let phone = Authed::login(&server, "out_ann").await?;
    let mut laptop_ws = WsClient::connect(&server, &ann.token).await?;
    let mut phone_ws = WsClient::connect(&server, &phone.token).await?;

    assert_eq!(
        ann.post("api/v1/auth/logout", json!({})).await?.status(),
        StatusCode::NO_CONTENT
    );
    let (code, _) = laptop_ws.until_closed().await?;
    assert_eq!(code, Some(close::SESSION_ENDED));
    assert_eq!(phone_ws.ping(7).await?, 7);
    Ok(())
}

#[tokio::test]
async fn a_stopping_server_asks_clients_back_and_keeps_what_was_sent() -> anyhow::Result<()> {
    let mut server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["stop_ann", "stop_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    ann_ws
        .send_and_ack(dm, "before-stop", "see you after the restart")
        .await?;

    // Bob reads his event only now, and the close after it.
    let (stopped, bob_saw, ann_saw) = tokio::join!(server.stop(), bob_ws.until_closed(), ann_ws.until_closed());
    stopped?;
    let (code, events) = bob_saw?;
    assert_eq!(code, Some(close::SERVICE_RESTART), "bob's close");
    assert_eq!(
        events.iter().map(text_of).collect::<Vec<_>>(),
        ["see you after the restart"]
    );
    assert_eq!(ann_saw?.0, Some(close::SERVICE_RESTART), "ann's close");

    let server = server.start_again().await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    assert_eq!(
        bob_ws.sync(dm, 0).await?.iter().map(text_of).collect::<Vec<_>>(),
        ["see you after the restart"]
    );
    Ok(())
}

#[tokio::test]
async fn conversations_list_newest_activity_first_with_a_preview() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["list_ann", "list_bob", "list_cat"]).await?;
    let with_bob = befriend(&ann, &bob).await?;
    let with_cat = befriend(&ann, &cat).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.send_and_ack(with_cat, "c1", "to cat").await?;
    ws.send_and_ack(with_bob, "b1", "to bob, later").await?;

    let list: Vec<natter_common::api::Conversation> = ann.get_json("api/v1/conversations").await?;
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), [with_bob, with_cat]);
    let preview = list[0].last_event.as_ref().map(text_of);
    assert_eq!(preview, Some("to bob, later"));

    ws.send_and_ack(with_cat, "c2", "cat again").await?;
    let list: Vec<natter_common::api::Conversation> = ann.get_json("api/v1/conversations").await?;
    assert_eq!(list[0].id, with_cat, "new activity moves a conversation to the top");
    Ok(())
}

/// Typing is passed on at most once per conversation every two seconds,
/// however often the client sends it; another conversation has its own
/// allowance. Each notice is passed on at once, so a second one would reach
/// the peer before the message that follows it through the log.
#[tokio::test]
async fn typing_is_passed_on_once_per_conversation_in_a_burst() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["type_ann", "type_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let group = create_group(&ann, "Typists", &[&bob]).await?.id;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;

    for conversation in [dm, dm, group, dm, group] {
        ann_ws
            .send(&ClientFrame::Typing {
                conversation_id: conversation,
            })
            .await?;
    }
    ann_ws.post_text(dm, "after-typing", "done typing").await?;
    let mut seen = Vec::new();
    loop {
        match bob_ws.next().await? {
            ServerFrame::Typing { conversation_id, .. } => seen.push(conversation_id),
            ServerFrame::Event { event } if text_of(&event) == "done typing" => break,
            _ => {}
        }
    }
    assert_eq!(seen, [dm, group], "one notice per conversation");
    Ok(())
}
