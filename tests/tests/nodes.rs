//! Several natter nodes on one PostgreSQL database (issue #16): each node a
//! real server process with its own data directory, all on one database
//! the harness starts. What one node stores, every node serves.

use std::collections::{BTreeMap, BTreeSet};

use natter_common::{events::EventBody, frames::ServerFrame, ids::ConversationId};
use natter_tests::{
    api::{befriend, create_group, full_history, register_all, Authed},
    postgres,
    ws::WsClient,
    TestServer,
};

/// Messages each sender sends.
const EACH: usize = 150;

/// Two nodes on a fresh database, with sends unthrottled.
async fn two_nodes() -> anyhow::Result<(TestServer, TestServer)> {
    let url = tokio::task::spawn_blocking(postgres::fresh_database).await??;
    let env = [
        ("NATTER_DATABASE_URL", url.as_str()),
        ("NATTER_AUTH_RATE_PER_MINUTE", "1000"),
        ("NATTER_SEND_RATE_PER_SECOND", "100000"),
        ("NATTER_SEND_BURST", "100000"),
    ];
    Ok((TestServer::spawn_with(&env).await?, TestServer::spawn_with(&env).await?))
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
    let (a, b) = two_nodes().await?;
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
