//! The `search` scenario: a stored corpus in English and Chinese is indexed
//! from scratch at start (how fast), searched by a user in some of its
//! conversations (latency by kind of query), and then followed while
//! messages arrive at a steady rate (how far the index lags behind).

use std::time::{Duration, Instant};

use anyhow::Context;
use natter_common::{
    api::{MessageHit, Page},
    events::MessageContent,
    frames::{ClientFrame, ServerFrame},
    ids::ConversationId,
};

use crate::{
    client,
    harness::{Options, OwnCpu, Provision, Server},
    report::{micros, per_second, Report},
};

/// What to store before searching.
pub struct Corpus {
    pub stored: u32,
    pub conversations: u32,
    pub member_of: u32,
}

const KINDS: [&str; 6] = ["word", "words", "prefix", "cjk1", "cjk2", "mixed"];
/// Longest the first indexing of the corpus may take.
const INDEX_LIMIT: Duration = Duration::from_secs(1800);
/// Longest the index may lag behind live messages before the run fails.
const LAG_LIMIT: Duration = Duration::from_secs(120);
/// Connections (of the searching user) that send the live messages.
const LIVE_CONNECTIONS: usize = 4;
/// The word only the last live message has.
const LIVE_DONE: &str = "zzlivedone";

pub async fn run(options: &Options, corpus: Corpus, queries: u32, rate: u32, seconds: u32) -> anyhow::Result<Report> {
    let provision_start = Instant::now();
    let server = Server::start(
        options,
        Provision {
            corpus: Some((corpus.conversations, corpus.stored, corpus.member_of)),
            ..Provision::users(100)
        },
    )
    .await?;
    let provisioned = provision_start.elapsed();
    let (started, cpu_at_start) = (Instant::now(), server.cpu());
    let data = server.data.corpus.as_ref().context("no corpus provisioned")?;
    let searcher = Searcher {
        http: reqwest::Client::new(),
        url: format!("{}api/v1/search/messages", server.url),
        token: server.data.users[0].token.clone(),
    };

    searcher.until_found(&data.last_word, INDEX_LIMIT).await?;
    let indexed = started.elapsed();
    let index_cpu = server.cpu() - cpu_at_start;
    let size = |names: &[&str]| -> u64 {
        names
            .iter()
            .filter_map(|name| std::fs::metadata(server.data_dir().join(name)).ok())
            .map(|m| m.len())
            .sum()
    };
    let database = size(&["natter.db", "natter.db-wal"]);
    let index = size(&["natter.search.db", "natter.search.db-wal"]);

    let mut report = Report::new("search");
    report
        .add("stored_messages", data.messages, "")
        .add("conversations", corpus.conversations, "")
        .add("searcher_conversations", data.searcher_groups.len() as u64, "")
        .add("provision_seconds", provisioned.as_secs_f64(), "s")
        .add("index_build_seconds", indexed.as_secs_f64(), "s")
        .add(
            "index_build_per_second",
            per_second(u64::from(data.messages), indexed),
            "/s",
        )
        .add(
            "index_cpu_us_per_message",
            micros(index_cpu) / f64::from(data.messages.max(1)),
            "µs",
        )
        .add("database_mib", mib(database), "MiB")
        .add("index_mib", mib(index), "MiB")
        .add(
            "index_share_of_database",
            (index as f64 / database.max(1) as f64 * 100.0).round() / 100.0,
            "",
        );

    let own = OwnCpu::start();
    for kind in KINDS {
        let list = data.queries.get(kind).map(Vec::as_slice).unwrap_or_default();
        anyhow::ensure!(!list.is_empty(), "the corpus has no {kind} queries");
        let mut latencies = Vec::new();
        let mut hits = 0;
        for query in list.iter().cycle().take(queries as usize) {
            let (page, took) = searcher.search(query).await?;
            latencies.push(took.as_micros() as u64);
            hits += page.items.len();
        }
        report.latencies(&format!("search_{kind}"), latencies).add(
            format!("search_{kind}_hits_mean"),
            hits as f64 / f64::from(queries.max(1)),
            "",
        );
    }
    report.generator(&own);

    // Live: the searching user sends into their conversations at `rate`.
    let groups: Vec<ConversationId> = data.searcher_groups.iter().copied().map(ConversationId).collect();
    let words = data.queries.get("word").cloned().unwrap_or_default();
    let total = rate.max(1) as usize * seconds.max(1) as usize;
    let mut sinks = Vec::new();
    let mut readers = Vec::new();
    for i in 0..LIVE_CONNECTIONS {
        let (sink, mut inbox) = client::connect(server.addr, &searcher.token, i).await?;
        let expected = total / LIVE_CONNECTIONS + usize::from(i < total % LIVE_CONNECTIONS);
        sinks.push(sink);
        readers.push(tokio::spawn(async move {
            let mut acked = 0;
            while acked < expected {
                match inbox.next().await? {
                    Some(ServerFrame::Sent { .. }) => acked += 1,
                    Some(ServerFrame::Error { message, .. }) => anyhow::bail!("send refused: {message}"),
                    Some(_) => {}
                    None => anyhow::bail!("connection ended"),
                }
            }
            anyhow::Ok(())
        }));
    }
    let cpu_before_live = server.cpu();
    let live_start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (rate as usize / 100).max(1);
    let mut sent = 0;
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick.min(total - sent) {
            let word = words.get(sent % words.len().max(1)).map_or("live", String::as_str);
            let text = if sent + 1 == total {
                format!("live {sent} {word} {LIVE_DONE}")
            } else {
                format!("live {sent} {word} 会议 notes")
            };
            let frame = ClientFrame::Send {
                client_msg_id: format!("live{sent}"),
                conversation_id: groups[sent % groups.len()],
                content: MessageContent::Text { text },
                reply_to: None,
            };
            client::send(&mut sinks[sent % LIVE_CONNECTIONS], &frame).await?;
            sent += 1;
        }
    }
    for reader in readers {
        tokio::time::timeout(LAG_LIMIT, reader)
            .await
            .context("acks did not arrive in time")???;
    }
    let acked = Instant::now();
    let sending = acked - live_start;
    searcher.until_found(LIVE_DONE, LAG_LIMIT).await?;
    let lag = acked.elapsed();
    report
        .add("live_messages", total as u64, "")
        .add("live_per_second", per_second(total as u64, sending), "/s")
        .add(
            "live_server_cpu_us_per_message",
            micros(server.cpu() - cpu_before_live) / total as f64,
            "µs",
        )
        .add(
            "index_lag_after_last_ack_ms",
            (lag.as_secs_f64() * 1e6).round() / 1e3,
            "ms",
        );
    Ok(report)
}

struct Searcher {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Searcher {
    async fn search(&self, q: &str) -> anyhow::Result<(Page<MessageHit>, Duration)> {
        let start = Instant::now();
        let response = self
            .http
            .get(&self.url)
            .query(&[("q", q), ("limit", "20")])
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "search {q:?}: {}", response.status());
        let page: Page<MessageHit> = response.json().await?;
        Ok((page, start.elapsed()))
    }

    /// Searches for `word` until a message has it.
    async fn until_found(&self, word: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if !self.search(word).await?.0.items.is_empty() {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{word:?} was not indexed within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1048576.0 * 10.0).round() / 10.0
}
