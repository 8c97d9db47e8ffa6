//! Several natter nodes on one PostgreSQL database (issue #16): each node a
//! real server process with its own data directory, all on one database
//! the harness starts, and with a NATS server between them. What one node
//! stores, every node serves; what one node delivers, every node delivers
//! to the connections it holds.

use std::collections::{BTreeMap, BTreeSet};

use std::time::{Duration, Instant};

use natter_common::{
    api::{MessageHit, Page, SessionInfo},
    events::{EventBody, MessageContent},
    frames::{close, ClientFrame, ServerFrame},
    ids::ConversationId,
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, full_history, register_all, Authed},
    metrics,
    nats::NatsServer,
    postgres,
    ws::WsClient,
    TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// Messages each sender sends.
const EACH: usize = 150;

/// Two nodes on a fresh database and one media folder, as a deployment
/// shares them, with sends unthrottled, and with a bus between them when
/// `nats` is given.
struct Nodes {
    a: TestServer,
    b: TestServer,
    _media: tempfile::TempDir,
}

async fn two_nodes(nats: Option<&NatsServer>) -> anyhow::Result<Nodes> {
    two_nodes_paced(nats, "100000", "100000").await
}

/// [`two_nodes`] with this send rate per second and burst.
async fn two_nodes_paced(nats: Option<&NatsServer>, rate: &str, burst: &str) -> anyhow::Result<Nodes> {
    let (mut servers, media) = start_nodes(2, nats, rate, burst).await?;
    let b = servers.pop().expect("two");
    let a = servers.pop().expect("two");
    Ok(Nodes { a, b, _media: media })
}

/// `count` nodes on a fresh database and one media folder.
async fn start_nodes(
    count: usize,
    nats: Option<&NatsServer>,
    rate: &str,
    burst: &str,
) -> anyhow::Result<(Vec<TestServer>, tempfile::TempDir)> {
    let url = tokio::task::spawn_blocking(postgres::fresh_database).await??;
    let media = tempfile::Builder::new().prefix("natter-shared-media-").tempdir()?;
    let media_dir = media.path().to_string_lossy().into_owned();
    let mut env = vec![
        ("NATTER_DATABASE_URL", url.as_str()),
        ("NATTER_MEDIA_DIR", media_dir.as_str()),
        ("NATTER_AUTH_RATE_PER_MINUTE", "1000"),
        ("NATTER_SEND_RATE_PER_SECOND", rate),
        ("NATTER_SEND_BURST", burst),
        ("NATTER_METRICS_TOKEN", metrics::TOKEN),
    ];
    if let Some(nats) = nats {
        env.push(("NATTER_NATS_URL", nats.url.as_str()));
    }
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        servers.push(TestServer::spawn_with(&env).await?);
    }
    Ok((servers, media))
}

/// Sends `EACH` messages without waiting, then collects every ack: the seq
/// each `client_msg_id` got.
async fn flood(client: &mut WsClient, group: ConversationId, prefix: &str) -> anyhow::Result<BTreeMap<String, i64>> {
    for n in 0..EACH {
        client
            .send_text(group, &format!("{prefix}-{n}"), &format!("{prefix} says {n}"))
            .await?;
    }
    let mut acked = BTreeMap::new();
    while acked.len() < EACH {
        let ack = client
            .next_where(|frame| match frame {
                ServerFrame::Sent { client_msg_id, seq, .. } => Some(Ok((client_msg_id, seq))),
                ServerFrame::Error { message, .. } => Some(Err(anyhow::anyhow!("refused: {message}"))),
                _ => None,
            })
            .await??;
        acked.insert(ack.0, ack.1);
    }
    Ok(acked)
}

/// Writers on two nodes appending to one conversation at once: every
/// message acknowledged once, each with its own seq, the log gap-free and
/// the same through either node; a resend through the other node is the
/// same message, not a second one.
#[tokio::test]
async fn two_nodes_append_to_one_conversation_without_gaps_or_repeats() -> anyhow::Result<()> {
    let Nodes { a, b, _media } = two_nodes(None).await?;
    let [owner, ann, ben] = register_all(&a, ["owner", "ann", "ben"]).await?;
    befriend(&owner, &ann).await?;
    befriend(&owner, &ben).await?;
    let group = create_group(&owner, "Both nodes", &[&ann, &ben]).await?.id;
    let before = full_history(&owner, group).await?.len() as i64;

    // Ann writes through node A, Ben through node B, at the same time.
    let ben_on_b = Authed::from_token(&b, &ben.token).await?;
    let mut ann_ws = WsClient::connect(&a, &ann.token).await?;
    let mut ben_ws = WsClient::connect(&b, &ben_on_b.token).await?;
    let (ann_acks, ben_acks) = tokio::try_join!(flood(&mut ann_ws, group, "ann"), flood(&mut ben_ws, group, "ben"))?;

    let seqs: BTreeSet<i64> = ann_acks.values().chain(ben_acks.values()).copied().collect();
    assert_eq!(seqs.len(), 2 * EACH, "every ack has a seq of its own");
    let expected: BTreeSet<i64> = (before + 1..=before + 2 * EACH as i64).collect();
    assert_eq!(seqs, expected, "the acked seqs follow the log without a gap");

    // Either node serves the same log, each message once, at its acked seq.
    let through_a = full_history(&owner, group).await?;
    let through_b = full_history(&ben_on_b, group).await?;
    let ids =
        |events: &[natter_common::events::Event]| events.iter().map(|e| (e.seq, e.id.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&through_a), ids(&through_b));
    assert_eq!(
        through_a.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=before + 2 * EACH as i64).collect::<Vec<_>>()
    );
    for event in &through_a {
        if let (Some(id), EventBody::Message { .. }) = (&event.client_msg_id, &event.body) {
            let acked = ann_acks.get(id).or_else(|| ben_acks.get(id));
            assert_eq!(acked, Some(&event.seq), "{id} is stored where it was acked");
        }
    }

    // Ann's first message again, through the other node: the same message.
    let ann_on_b = Authed::from_token(&b, &ann.token).await?;
    let mut ann_ws_b = WsClient::connect(&b, &ann_on_b.token).await?;
    let again = ann_ws_b.post_text(group, "ann-0", "ann says 0").await?;
    assert_eq!(again.seq, ann_acks["ann-0"]);
    assert_eq!(full_history(&owner, group).await?.len(), through_a.len());
    Ok(())
}

/// The next event on `client` that `pick` accepts; others are skipped.
async fn event_where(client: &mut WsClient, mut pick: impl FnMut(&EventBody) -> bool) -> anyhow::Result<EventBody> {
    loop {
        let event = client.next_event().await?;
        if pick(&event.body) {
            return Ok(event.body);
        }
    }
}

/// Someone on node A and someone on node B chat live: messages, typing and
/// membership changes cross the bus; a member added through one node can
/// type to members on the other at once (that node forgot its cached
/// members); search on one node finds what was sent through the other; a
/// session signed out through one node loses its socket on the other.
#[tokio::test]
async fn people_on_two_nodes_chat_live_through_the_bus() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media } = two_nodes(Some(&nats)).await?;
    let [owner, ann, ben, cid] = register_all(&a, ["owner", "ann", "ben", "cid"]).await?;
    for other in [&ann, &ben, &cid] {
        befriend(&owner, other).await?;
    }
    let group = create_group(&owner, "Both nodes", &[&ann, &ben]).await?.id;
    let ben_b = Authed::from_token(&b, &ben.token).await?;
    let cid_b = Authed::from_token(&b, &cid.token).await?;
    let mut ann_ws = WsClient::connect(&a, &ann.token).await?;
    let mut ben_ws = WsClient::connect(&b, &ben_b.token).await?;

    // A message each way.
    ann_ws.post_text(group, "from-a", "hello from node A").await?;
    let got = event_where(&mut ben_ws, |body| matches!(body, EventBody::Message { .. })).await?;
    assert!(format!("{got:?}").contains("hello from node A"), "{got:?}");
    ben_ws.post_text(group, "from-b", "hello from node B").await?;
    let got = event_where(&mut ann_ws, |body| matches!(body, EventBody::Message { .. })).await?;
    assert!(format!("{got:?}").contains("hello from node B"), "{got:?}");

    // Typing through node B reaches node A.
    ben_ws.send(&ClientFrame::Typing { conversation_id: group }).await?;
    let typing = ann_ws
        .next_where(|frame| match frame {
            ServerFrame::Typing { user_id, .. } => Some(user_id),
            _ => None,
        })
        .await?;
    assert_eq!(typing, ben.id());

    // Owner adds Cid through node A while Cid is connected to node B.
    let mut cid_ws = WsClient::connect(&b, &cid_b.token).await?;
    let response = owner
        .post(
            &format!("api/v1/groups/{}/members", group.0),
            json!({"user_ids": [cid.id()]}),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let joined = event_where(&mut cid_ws, |body| matches!(body, EventBody::MemberJoined { .. })).await?;
    assert_eq!(joined, EventBody::MemberJoined { user: cid.id() });
    // Node B had the old members in memory (from Ben's message); Cid's
    // typing there reaches Ann on node A only if it forgot them.
    cid_ws.send(&ClientFrame::Typing { conversation_id: group }).await?;
    let typing = ann_ws
        .next_where(|frame| match frame {
            ServerFrame::Typing { user_id, .. } if user_id != ben.id() => Some(user_id),
            _ => None,
        })
        .await?;
    assert_eq!(typing, cid.id());

    // A picture uploaded through node A is there through node B.
    let picture = ann.upload_png(64, 48, 7).await?;
    let sent = ann_ws
        .post(
            group,
            "picture",
            MessageContent::Image {
                media_id: picture.id.clone(),
            },
        )
        .await?;
    assert!(sent.is_ok(), "{sent:?}");
    let thumb = reqwest::Client::new()
        .get(b.at(&format!("media/{}/thumb", picture.id)))
        .bearer_auth(&ben.token)
        .send()
        .await?;
    assert_eq!(thumb.status(), StatusCode::OK);
    assert!(!thumb.bytes().await?.is_empty());

    // Node B's search index learns of a message stored by node A.
    ann_ws.post_text(group, "findable", "the quokka crossed nodes").await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Page<MessageHit> = ben_b.get_json("api/v1/search/messages?q=quokka").await?;
        if found.items.len() == 1 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "node B never indexed node A's message");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ann signs out through node B: her socket on node A closes.
    let response = reqwest::Client::new()
        .post(b.at("api/v1/auth/logout"))
        .bearer_auth(&ann.token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (code, _) = ann_ws.until_closed().await?;
    assert_eq!(code, Some(natter_common::frames::close::SESSION_ENDED));
    Ok(())
}

/// The presence frame for `user` that `client` gets next.
async fn presence_of(client: &mut WsClient, user: natter_common::ids::UserId) -> anyhow::Result<bool> {
    client
        .next_where(|frame| match frame {
            ServerFrame::Presence { user_id, online } if user_id == user => Some(online),
            _ => None,
        })
        .await
}

/// A user is online while any node has a connection of theirs: online
/// lists count other nodes' users, and leaving one node of two is not going
/// offline.
#[tokio::test]
async fn presence_counts_every_node() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media } = two_nodes(Some(&nats)).await?;
    let [ann, ben] = register_all(&a, ["ann", "ben"]).await?;
    let dm = befriend(&ann, &ben).await?;
    let mut ben_ws = WsClient::connect(&b, &ben.token).await?;

    // Ann comes online on node A: Ben, on B, is told.
    let mut ann_a = WsClient::connect(&a, &ann.token).await?;
    assert!(presence_of(&mut ben_ws, ann.id()).await?);

    // Ann opens a second device on node B. Once Ben's typing (sent after
    // it, from B) reaches Ann on A, node A has heard of it too.
    let ann_b = WsClient::connect(&b, &ann.token).await?;
    ben_ws.send(&ClientFrame::Typing { conversation_id: dm }).await?;
    ann_a
        .next_where(|frame| matches!(frame, ServerFrame::Typing { .. }).then_some(()))
        .await?;

    // Ann leaves node A: still online, on B, as node A itself says.
    ann_a.close().await?;
    let ben_on_a = WsClient::connect(&a, &ben.token).await?;
    assert_eq!(ben_on_a.online, vec![ann.id()], "node A counts Ann on node B");
    drop(ben_on_a);

    // Ann leaves node B too: now she is offline. Ben hears it once: the
    // next word of her is that she is back.
    ann_b.close().await?;
    assert!(!presence_of(&mut ben_ws, ann.id()).await?);
    let _back = WsClient::connect(&b, &ann.token).await?;
    assert!(presence_of(&mut ben_ws, ann.id()).await?, "one offline, then online");
    Ok(())
}

/// A node stopping (SIGTERM) asks its clients back (1012) and tells the
/// other nodes once that its people are offline: at once, not after the
/// 30 s of silence that counts a killed node as gone. Someone also on
/// another node stays online.
#[tokio::test]
async fn a_stopping_node_tells_the_others_its_people_went_offline() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { mut a, b, _media } = two_nodes(Some(&nats)).await?;
    let [ann, ben, cat] = register_all(&a, ["leave_ann", "leave_ben", "leave_cat"]).await?;
    befriend(&ann, &ben).await?;
    befriend(&cat, &ben).await?;
    let mut ben_ws = WsClient::connect(&b, &ben.token).await?;
    let mut ann_a = WsClient::connect(&a, &ann.token).await?;
    assert!(presence_of(&mut ben_ws, ann.id()).await?);
    let _cat_a = WsClient::connect(&a, &cat.token).await?;
    assert!(presence_of(&mut ben_ws, cat.id()).await?);
    let _cat_b = WsClient::connect(&b, &cat.token).await?;

    let (stopped, ann_saw) = tokio::join!(a.stop(), ann_a.until_closed());
    stopped?;
    assert_eq!(ann_saw?.0, Some(close::SERVICE_RESTART));
    // A killed node's people count as gone after 30 s of its silence.
    let told = tokio::time::timeout(Duration::from_secs(10), presence_of(&mut ben_ws, ann.id()))
        .await
        .map_err(|_| anyhow::anyhow!("node B did not hear at once that node A's people left"))??;
    assert!(!told, "ann went offline with node A");
    let ben_again = WsClient::connect(&b, &ben.token).await?;
    assert_eq!(ben_again.online, vec![cat.id()], "cat is still on node B");
    Ok(())
}

/// An operator disabling an account (`natter-server admin`, a process of
/// its own) closes that person's sockets on every node at once, not at each
/// node's next session check (a minute away here); and revoking one
/// session closes only that session's sockets.
#[tokio::test]
async fn the_admin_command_signs_people_out_on_every_node() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media } = two_nodes(Some(&nats)).await?;
    let [ann, ben] = register_all(&a, ["ann", "ben"]).await?;
    let ann_phone = Authed::login(&b, "ann").await?;
    let mut laptop_a = WsClient::connect(&a, &ann.token).await?;
    let mut phone_b = WsClient::connect(&b, &ann_phone.token).await?;
    let mut ben_b = WsClient::connect(&b, &ben.token).await?;
    let admin = |args: &[&str]| -> anyhow::Result<()> {
        let out = a
            .admin_command()
            .env("NATTER_NATS_URL", &nats.url)
            .args(args)
            .output()?;
        anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    };

    // Ann's phone session alone, by its id.
    let sessions: Vec<SessionInfo> = ann_phone.get_json("api/v1/sessions").await?;
    let phone = sessions.iter().find(|s| s.current).expect("the phone's own session");
    admin(&["sessions", "revoke", "ann", "--id", &phone.id.0.to_string()])?;
    let (code, _) = phone_b.until_closed().await?;
    assert_eq!(code, Some(close::SESSION_ENDED), "the phone, on node B");
    assert_eq!(laptop_a.ping(1).await?, 1, "the laptop's session stays");

    admin(&["users", "disable", "ann"])?;
    let (code, _) = laptop_a.until_closed().await?;
    assert_eq!(code, Some(close::SESSION_ENDED), "the laptop, on node A");
    assert_eq!(ben_b.ping(2).await?, 2, "Ben stays");
    Ok(())
}

/// An operator deleting an account while the nodes run (PostgreSQL takes
/// the admin command's writer beside theirs): the account's groups hear it
/// leave live on every node, through the bus, and its sockets close at once.
#[tokio::test]
async fn an_account_deleted_by_the_admin_leaves_live_on_every_node() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media: media } = two_nodes(Some(&nats)).await?;
    let [ann, ben, cat] = register_all(&a, ["ann", "ben", "cat"]).await?;
    befriend(&ben, &ann).await?;
    befriend(&ben, &cat).await?;
    let group = create_group(&ben, "Gone", &[&ann, &cat]).await?.id;
    let mut ann_a = WsClient::connect(&a, &ann.token).await?;
    let mut cat_a = WsClient::connect(&a, &cat.token).await?;
    let mut ben_b = WsClient::connect(&b, &ben.token).await?;

    let out = a
        .admin_command()
        .env("NATTER_NATS_URL", &nats.url)
        .env("NATTER_MEDIA_DIR", media.path())
        .args(["users", "delete", "ann"])
        .output()?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // At once: the nodes' own session check is a minute away.
    let (code, _) = tokio::time::timeout(Duration::from_secs(10), ann_a.until_closed())
        .await
        .map_err(|_| anyhow::anyhow!("Ann's socket stayed open"))??;
    assert_eq!(code, Some(close::SESSION_ENDED), "Ann's socket, on node A");
    let left = |body: &EventBody| matches!(body, EventBody::MemberLeft { user } | EventBody::MemberRemoved { user } if *user == ann.id());
    for (who, client) in [("Ben, on node B", &mut ben_b), ("Cat, on node A", &mut cat_a)] {
        let event = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let event = client.next_event().await?;
                if left(&event.body) {
                    return anyhow::Ok(event);
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("{who} did not hear Ann leave"))??;
        assert_eq!(event.conversation_id, group, "{who}");
    }
    Ok(())
}

/// Messages each sender sends before and after a node dies.
const CRASH_SENDS: usize = 300;

/// A node killed mid-stream: its clients move to the other node and resend
/// what was not acknowledged, with the same ids. Nothing acknowledged is
/// lost or moved, nothing is stored twice, the log has no gap, and people
/// on the surviving node stay connected throughout.
#[tokio::test]
async fn a_node_killed_mid_stream_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { mut a, b, _media } = two_nodes(Some(&nats)).await?;
    let [owner, s1, s2, s3] = register_all(&a, ["owner", "sara", "sean", "suzy"]).await?;
    for sender in [&s1, &s2, &s3] {
        befriend(&owner, sender).await?;
    }
    let group = create_group(&owner, "Crash", &[&s1, &s2, &s3]).await?.id;
    let mut watcher = WsClient::connect(&b, &owner.token).await?;

    // Three senders on node A send a burst each, collecting acks until
    // their connection dies.
    let mut tasks = Vec::new();
    for (n, sender) in [&s1, &s2, &s3].into_iter().enumerate() {
        let mut ws = WsClient::connect(&a, &sender.token).await?;
        tasks.push(tokio::spawn(async move {
            for i in 0..CRASH_SENDS {
                if ws
                    .send_text(group, &format!("s{n}-{i}"), &format!("{n}:{i}"))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let mut acked = BTreeMap::new();
            while let Ok(frame) = ws.next().await {
                if let ServerFrame::Sent { client_msg_id, seq, .. } = frame {
                    acked.insert(client_msg_id, seq);
                }
            }
            acked
        }));
    }
    // Node A is killed once the watcher on node B has seen a good part live.
    for _ in 0..200 {
        watcher.next_event().await?;
    }
    a.crash().await?;
    let mut acked = BTreeMap::new();
    for task in tasks {
        acked.extend(task.await?);
    }
    assert!(!acked.is_empty());

    // Each sender reconnects, to node B, and resends everything.
    for (n, sender) in [&s1, &s2, &s3].into_iter().enumerate() {
        let mut ws = WsClient::connect(&b, &sender.token).await?;
        for i in 0..CRASH_SENDS {
            let id = format!("s{n}-{i}");
            let ack = ws.post_text(group, &id, &format!("{n}:{i}")).await?;
            if let Some(seq) = acked.get(&id) {
                assert_eq!(ack.seq, *seq, "{id} was acknowledged at {seq} before the crash");
            }
        }
    }

    let stored = full_history(&Authed::from_token(&b, &owner.token).await?, group).await?;
    let ids: Vec<&str> = stored.iter().filter_map(|e| e.client_msg_id.as_deref()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no message stored twice");
    assert_eq!(unique.len(), 3 * CRASH_SENDS, "every message stored once");
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "no gap"
    );
    eprintln!(
        "{} of {} sends acknowledged before node A died",
        acked.len(),
        3 * CRASH_SENDS
    );
    // The watcher on node B never lost its connection.
    assert_eq!(watcher.ping(7).await?, 7);
    Ok(())
}

/// With NATS down, node A stores messages (acknowledged) whose notes die
/// with it: node A is killed before NATS is back. Node B finds them in the
/// database and delivers them anyway, each once and in order; once NATS is
/// back, live delivery between nodes resumes.
#[tokio::test]
async fn events_whose_notes_were_lost_reach_everyone_anyway() -> anyhow::Result<()> {
    let mut nats = NatsServer::start()?;
    let Nodes { mut a, mut b, _media } = two_nodes(Some(&nats)).await?;
    let [ann, ben] = register_all(&a, ["ann", "ben"]).await?;
    let dm = befriend(&ann, &ben).await?;
    let mut ben_ws = WsClient::connect(&b, &ben.token).await?;
    let mut ann_ws = WsClient::connect(&a, &ann.token).await?;
    let first = ann_ws.post_text(dm, "before", "before the outage").await?;
    assert_eq!(ben_ws.next_event().await?.seq, first.seq, "live through the bus");

    nats.kill()?;
    // Cut off, node B is not ready and takes no new sockets.
    ready_within(&b, false).await?;
    let refused = WsClient::connect(&b, &ben.token).await;
    assert!(refused.is_err(), "a node without its bus refuses WebSockets");
    let mut acked = Vec::new();
    for n in 0..5 {
        acked.push(
            ann_ws
                .post_text(dm, &format!("during-{n}"), &format!("during {n}"))
                .await?
                .seq,
        );
    }
    a.crash().await?;
    nats.start_again()?;
    ready_within(&b, true).await?;

    // Each lost event reaches Ben on node B once, in order, soon: node B
    // knows it may have missed notes while it was away from NATS (and
    // looks again only every minute otherwise).
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), async {
        while got.len() < acked.len() {
            got.push(ben_ws.next_event().await?.seq);
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("only {got:?} of {acked:?} came"))??;
    assert_eq!(got, acked);

    // Node A comes back; live delivery through the bus resumes, and nothing
    // from before arrives again.
    let a = a.start_again().await?;
    let mut ann_ws = WsClient::connect(&a, &ann.token).await?;
    let after = ann_ws.post_text(dm, "after", "after the outage").await?;
    assert_eq!(ben_ws.next_event().await?.seq, after.seq);

    // Node B stops on its second connection to NATS: its last notes are
    // confirmed on it, not taken for lost because it is not the first one.
    drop(ben_ws);
    b.stop().await?;
    let log = b.log();
    assert!(
        !log.contains("may not have reached"),
        "node B's last notes were confirmed: {log}"
    );
    Ok(())
}

/// Waits (up to 30 s: NATS clients reconnect with a growing delay) for
/// `node`'s `/readyz` to say `ready`.
async fn ready_within(node: &TestServer, ready: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = reqwest::get(node.at("readyz")).await?.status();
        if status.is_success() == ready {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "readyz still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The send limit holds across nodes: a user with a socket on each of two
/// nodes gets one budget, not one per node.
#[tokio::test]
async fn a_user_on_two_nodes_gets_one_send_budget() -> anyhow::Result<()> {
    let Nodes { a, b, _media } = two_nodes_paced(None, "1", "10").await?;
    let [ann, bob] = register_all(&a, ["pace_ann", "pace_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut on_a = WsClient::connect(&a, &ann.token).await?;
    let mut on_b = WsClient::connect(&b, &ann.token).await?;
    let started = Instant::now();
    let (mut accepted, mut waits) = (0, Vec::new());
    for n in 0..10 {
        for (client, node) in [(&mut on_a, "a"), (&mut on_b, "b")] {
            let text = MessageContent::Text { text: "hello".into() };
            match client.post(dm, &format!("{node}-{n}"), text).await? {
                Ok(_) => accepted += 1,
                Err(ErrorCode::RateLimited { retry_after_ms }) => waits.push(retry_after_ms),
                Err(other) => anyhow::bail!("refused: {other:?}"),
            }
        }
    }
    // The burst, and what the rate refilled meanwhile; one budget per node
    // would have taken all twenty.
    let most = 10 + started.elapsed().as_secs() as usize + 1;
    assert!((10..=most).contains(&accepted), "{accepted} of 20 accepted");
    assert!(waits.iter().all(|ms| (1..=1_000).contains(ms)), "{waits:?}");
    // What was refused was not stored.
    let history = full_history(&bob, dm).await?;
    assert_eq!(history.len(), accepted, "{history:?}");
    Ok(())
}

/// With a bus, a node counts alone the sends of someone it alone holds (no
/// statement on the shared count), and asks the shared count for someone
/// with a socket on another node too; the limit holds for both.
#[tokio::test]
async fn a_node_counts_alone_the_sends_of_people_only_it_holds() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media } = two_nodes_paced(Some(&nats), "1", "10").await?;
    let [ann, cat, ben] = register_all(&a, ["solo_ann", "solo_cat", "solo_ben"]).await?;
    let ann_dm = befriend(&ann, &ben).await?;
    let cat_dm = befriend(&cat, &ben).await?;
    let mut ben_b = WsClient::connect(&b, &ben.token).await?;
    let _cat_b = WsClient::connect(&b, &cat.token).await?;
    let mut cat_a = WsClient::connect(&a, &cat.token).await?;
    // Ben's typing, told by node B after Cat's socket there, reaching Cat
    // on A: node A has heard that Cat is on B too.
    ben_b
        .send(&ClientFrame::Typing {
            conversation_id: cat_dm,
        })
        .await?;
    cat_a
        .next_where(|frame| matches!(frame, ServerFrame::Typing { .. }).then_some(()))
        .await?;
    for n in 0..3 {
        let text = MessageContent::Text { text: "hi".into() };
        cat_a
            .post(cat_dm, &format!("cat-{n}"), text)
            .await?
            .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    }

    let mut ann_a = WsClient::connect(&a, &ann.token).await?;
    let started = Instant::now();
    let mut accepted = 0;
    for n in 0..20 {
        let text = MessageContent::Text { text: "hello".into() };
        match ann_a.post(ann_dm, &format!("ann-{n}"), text).await? {
            Ok(_) => accepted += 1,
            Err(ErrorCode::RateLimited { .. }) => {}
            Err(other) => anyhow::bail!("refused: {other:?}"),
        }
    }
    let most = 10 + started.elapsed().as_secs() as usize + 1;
    assert!((10..=most).contains(&accepted), "{accepted} of 20 accepted");

    let counted = metrics::scrape(&a).await?;
    let place = |place: &str| metrics::value(&counted, "natter_sends_counted_total", &[("where", place)]);
    assert_eq!(place("shared"), 3.0, "Cat's sends, on the shared count");
    assert_eq!(place("here"), accepted as f64, "Ann's, on node A's own");
    let history = full_history(&ben, ann_dm).await?;
    assert_eq!(history.len(), accepted, "what was refused was not stored");
    Ok(())
}

/// What one connection saw of a conversation: the seqs of the events it
/// was sent, in arrival order, and those of its own acknowledged sends.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<i64>,
    acked: Vec<i64>,
}

/// Sends `count` messages into `conversation` without waiting, then reads
/// until its own are acknowledged and `expected` events of others came.
async fn send_and_watch(
    mut client: WsClient,
    conversation: ConversationId,
    prefix: String,
    count: usize,
    expected: usize,
) -> anyhow::Result<Seen> {
    for n in 0..count {
        client
            .send_text(conversation, &format!("{prefix}-{n}"), &format!("{prefix} says {n}"))
            .await?;
    }
    let mut seen = Seen::default();
    while seen.acked.len() < count || seen.events.len() < expected {
        // What came until the wait ran out is what the assertions judge.
        let Ok(frame) = client.next().await else { break };
        match frame {
            ServerFrame::Sent { seq, .. } => seen.acked.push(seq),
            ServerFrame::Event { event } if event.conversation_id == conversation => seen.events.push(event.seq),
            ServerFrame::Error { message, .. } => anyhow::bail!("{prefix}: refused: {message}"),
            _ => {}
        }
    }
    Ok(seen)
}

/// Each connection was sent every event of the others once and in seq
/// order, and with its own sends they are every seq after `start`.
fn assert_whole_and_in_order(who: &str, seen: &Seen, start: i64, end: i64) {
    assert!(
        seen.events.windows(2).all(|w| w[0] < w[1]),
        "{who}: events out of order or twice: {:?}",
        seen.events
    );
    let mut all: Vec<i64> = seen.events.iter().chain(&seen.acked).copied().collect();
    all.sort_unstable();
    let whole: Vec<i64> = (start + 1..=end).collect();
    assert_eq!(all, whole, "{who}: not every seq once: {seen:?}");
}

/// Three nodes; a group whose 30 members are spread over them all send at
/// once, and a DM whose two people (one with a second device on a third
/// node) send at once: every connection is sent every event once and in
/// seq order (no jump a client would have to sync over), and the log is
/// 1..N without a gap.
#[tokio::test]
async fn three_nodes_deliver_every_event_once_and_in_seq_order() -> anyhow::Result<()> {
    const MEMBERS: usize = 30;
    const EACH: usize = 15;
    let nats = NatsServer::start()?;
    let (nodes, _media) = start_nodes(3, Some(&nats), "100000", "100000").await?;
    let mut people = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        people.push(Authed::register(&nodes[i % 3], &format!("tri_{i}")).await?);
    }
    let mut dm = ConversationId(0);
    for (i, other) in people.iter().enumerate().skip(1) {
        let direct = befriend(&people[0], other).await?;
        if i == 1 {
            dm = direct;
        }
    }
    let others: Vec<&Authed> = people.iter().skip(1).collect();
    let group = create_group(&people[0], "three nodes", &others).await?.id;

    // The group: member i on node i % 3.
    let mut clients = Vec::with_capacity(MEMBERS);
    for (i, person) in people.iter().enumerate() {
        clients.push(WsClient::connect(&nodes[i % 3], &person.token).await?);
    }
    let start = clients[0].state(group).map_or(0, |state| state.last_seq);
    let watching: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            tokio::spawn(send_and_watch(
                client,
                group,
                format!("g{i}"),
                EACH,
                (MEMBERS - 1) * EACH,
            ))
        })
        .collect();
    let end = start + (MEMBERS * EACH) as i64;
    for (i, watching) in watching.into_iter().enumerate() {
        let seen = watching.await??;
        assert_whole_and_in_order(&format!("member {i} on node {}", i % 3), &seen, start, end);
    }
    let history = full_history(&people[0], group).await?;
    let seqs: Vec<i64> = history.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=end).collect::<Vec<_>>(), "the log has a gap or a repeat");

    // The DM: person 0 on nodes 0 and 2 (a phone and a laptop), person 1
    // on node 1, all sending at once; each device sees the others' sends,
    // its owner's other device's included.
    let start = full_history(&people[0], dm).await?.last().map_or(0, |event| event.seq);
    let devices = [(0, 0), (0, 2), (1, 1)];
    let mut clients = Vec::new();
    for (person, node) in devices {
        clients.push(WsClient::connect(&nodes[node], &people[person].token).await?);
    }
    let watching: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, client)| tokio::spawn(send_and_watch(client, dm, format!("d{k}"), EACH, 2 * EACH)))
        .collect();
    for (k, watching) in watching.into_iter().enumerate() {
        let seen = watching.await??;
        assert_whole_and_in_order(&format!("DM device {k}"), &seen, start, start + 3 * EACH as i64);
    }
    Ok(())
}

/// An event never overtakes the ones before it: with the bus frozen, node
/// B's own events wait for node A's before them (read from the database
/// after a moment) instead of reaching B's people first, and so does the
/// sender's ack.
#[tokio::test]
async fn an_event_waits_for_the_ones_before_it_when_their_note_is_late() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let Nodes { a, b, _media } = two_nodes(Some(&nats)).await?;
    let [ann, bob, cat] = register_all(&a, ["late_ann", "late_bob", "late_cat"]).await?;
    befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let group = create_group(&ann, "late notes", &[&bob, &cat]).await?.id;
    let mut on_a = WsClient::connect(&a, &ann.token).await?;
    let mut on_b = WsClient::connect(&b, &bob.token).await?;
    let mut watcher = WsClient::connect(&b, &cat.token).await?;
    let start = watcher.state(group).map_or(0, |state| state.last_seq);

    nats.pause()?;
    // Ann's sends (odd) are committed on A, their notes stuck; Bob's (even)
    // are committed on B. Bob sees Ann's events and his own acks.
    let mut bob_saw = Vec::new();
    for n in 0..5 {
        on_a.post_text(group, &format!("ann-{n}"), "from A").await?;
        on_b.send_text(group, &format!("bob-{n}"), "from B").await?;
        loop {
            match on_b.next().await? {
                ServerFrame::Sent { seq, .. } => {
                    bob_saw.push(seq);
                    break;
                }
                ServerFrame::Event { event } => bob_saw.push(event.seq),
                _ => {}
            }
        }
    }
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        seqs.push(watcher.next_event().await?.seq);
    }
    nats.resume()?;
    let whole: Vec<i64> = (start + 1..=start + 10).collect();
    assert_eq!(seqs, whole, "the watcher: in seq order");
    assert_eq!(bob_saw, whole, "the sender: his acks in their events' places");
    Ok(())
}
