//! The load generator runs every scenario at a tiny size against the real
//! server, so it can't rot. No timing is asserted: only that each scenario
//! completes and reports numbers that add up.

use std::process::Command;

use natter_tests::server::server_binary;
use serde_json::Value;

fn run(args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_natter-loadgen"))
        .arg("--server")
        .arg(server_binary())
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "loadgen {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(json)?)
}

#[test]
fn idle_holds_every_connection() -> anyhow::Result<()> {
    let result = run(&["idle", "--connections", "40"])?;
    assert_eq!(result["connections"], 40);
    assert!(result["server_rss_after_mib"].as_u64() > Some(0));
    Ok(())
}

#[test]
fn fanout_delivers_to_every_other_member() -> anyhow::Result<()> {
    let result = run(&["fanout", "--members", "12", "--senders", "3", "--messages", "10"])?;
    assert_eq!(result["messages"], 30);
    assert_eq!(result["deliveries"], 30 * 11);
    assert!(result["latency_p99_ms"].as_f64().is_some());
    assert!(result["server_rss_kept_per_member_kib"].as_f64().is_some());
    assert!(result["server_rss_kept_mib"].as_f64().is_some());
    // Paced, twice: the last line is the median of the two runs.
    let paced = run(&[
        "--runs",
        "2",
        "fanout",
        "--members",
        "6",
        "--senders",
        "2",
        "--messages",
        "5",
        "--rate",
        "100",
    ])?;
    assert_eq!(paced["scenario"], "fanout (median of 2 runs)");
    assert_eq!(paced["deliveries"].as_f64(), Some(10.0 * 5.0));
    Ok(())
}

#[test]
fn dm_acks_and_delivers_what_it_sends() -> anyhow::Result<()> {
    let result = run(&["dm", "--clients", "10", "--rate", "50", "--seconds", "1"])?;
    let sent = result["sent"].as_u64().unwrap_or(0);
    assert!(sent > 0);
    assert_eq!(result["acked"].as_u64(), Some(sent));
    assert_eq!(result["delivered"].as_u64(), Some(sent));
    // 50 messages a second keep no CPU busy: the generator is no limit here.
    let share = result["loadgen_cpu_share"].as_f64().unwrap_or(-1.0);
    assert!((0.0..0.9).contains(&share), "generator CPU share {share}");
    assert_eq!(result["loadgen_limited"], false);
    Ok(())
}

#[test]
fn durable_acks_everything() -> anyhow::Result<()> {
    let result = run(&["durable", "--senders", "3", "--messages", "20"])?;
    assert_eq!(result["acked"], 60);
    Ok(())
}

#[test]
fn history_pages_at_random_depths() -> anyhow::Result<()> {
    let result = run(&["history", "--stored", "500", "--fetches", "20"])?;
    assert_eq!(result["fetches"], 20);
    assert!(result["history_p50_ms"].as_f64().is_some());
    Ok(())
}

#[test]
fn storm_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let result = run(&["storm", "--clients", "20", "--rate", "100"])?;
    assert!(result["acked"].as_u64() > Some(0));
    assert_eq!(result["lost"], 0);
    assert_eq!(result["duplicated"], 0);
    Ok(())
}

#[test]
fn search_indexes_a_corpus_and_finds_every_kind_of_query() -> anyhow::Result<()> {
    let result = run(&[
        "search",
        "--stored",
        "3000",
        "--conversations",
        "40",
        "--member-of",
        "10",
        "--queries",
        "10",
        "--rate",
        "200",
        "--seconds",
        "1",
    ])?;
    assert_eq!(result["stored_messages"], 3000);
    assert_eq!(result["searcher_conversations"], 10);
    assert_eq!(result["live_messages"], 200);
    for kind in ["word", "prefix", "cjk1", "cjk2"] {
        assert!(
            result[format!("search_{kind}_hits_mean")].as_f64() > Some(0.0),
            "{kind} queries find nothing: {result}"
        );
    }
    assert!(result["index_mib"].as_f64() > Some(0.0));
    Ok(())
}

#[test]
fn chat_reads_types_and_reconnects_like_the_app() -> anyhow::Result<()> {
    let result = run(&[
        "chat",
        "--users",
        "20",
        "--rate",
        "40",
        "--seconds",
        "2",
        "--open-percent",
        "100",
        "--reconnects",
        "10",
    ])?;
    let sent = result["sent"].as_u64().unwrap_or(0);
    assert!(sent > 0);
    assert_eq!(result["typing_sent"].as_u64(), Some(sent));
    assert_eq!(result["failures"].as_u64(), Some(0));
    // Everyone has the conversation open: every delivery is read.
    assert_eq!(result["reads_sent"], result["delivered"]);
    assert!(result["reconnects"].as_u64() > Some(0));
    assert_eq!(result["history_fetches"], result["reconnects"]);
    assert!(result["server_cpu_us_per_message"].as_f64() > Some(0.0));
    Ok(())
}

/// Three nodes on PostgreSQL and NATS: fan-out with its members spread
/// over them, a storm that moves everyone to another node at once, and
/// one that kills the node everyone is on.
#[test]
fn nodes_share_fanout_and_a_storm_moves_between_them() -> anyhow::Result<()> {
    let result = run(&[
        "--nodes",
        "3",
        "fanout",
        "--members",
        "12",
        "--senders",
        "3",
        "--messages",
        "10",
    ])?;
    assert_eq!(result["deliveries"], 30 * 11, "{result}");
    for kill in [&[][..], &["--kill"]] {
        let result = run(&[&["--nodes", "3", "storm", "--clients", "12", "--rate", "60"], kill].concat())?;
        assert_eq!(result["node_killed"], u64::from(!kill.is_empty()), "{result}");
        assert!(result["acked"].as_u64() > Some(0), "{result}");
        assert_eq!(result["unfinished"], 0, "{result}");
        assert_eq!(result["lost"], 0, "{result}");
        assert_eq!(result["duplicated"], 0, "{result}");
    }
    Ok(())
}

/// Two nodes at rest with every conversation followed: upkeep is measured
/// over the time asked, with every client held.
#[test]
fn upkeep_holds_its_clients_at_rest() -> anyhow::Result<()> {
    let result = run(&[
        "--nodes",
        "2",
        "upkeep",
        "--clients",
        "12",
        "--contacts",
        "3",
        "--settle",
        "1",
        "--seconds",
        "1",
    ])?;
    assert_eq!(result["clients"], 12, "{result}");
    assert_eq!(result["conversations"], 36, "{result}");
    assert!(result["server_cpu_percent"].as_f64().is_some(), "{result}");
    Ok(())
}
