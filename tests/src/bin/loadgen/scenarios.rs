//! The scenarios. Each provisions what it needs, drives the server, and
//! returns its numbers.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::{stream, StreamExt};
use natter_common::{
    events::MessageContent,
    frames::{ClientFrame, ConversationState, ServerFrame},
    ids::ConversationId,
};
use rand::Rng;

use crate::{
    client::{self, now_micros, Inbox, Sink},
    harness::{Options, OwnCpu, Provision, Server},
    report::{micros, per_second, Report},
};

/// Connections opened at once while connecting many.
const CONNECT_PARALLEL: usize = 128;
/// Longest any scenario waits for its traffic to arrive.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

async fn connect_all(server: &Server, count: usize) -> anyhow::Result<Vec<(Sink, Inbox)>> {
    connect_placed(server, count, |i| server.addr_for(i)).await
}

/// The first `count` users connected, the `i`th to `place(i)`.
async fn connect_placed(
    server: &Server,
    count: usize,
    place: impl Fn(usize) -> std::net::SocketAddr,
) -> anyhow::Result<Vec<(Sink, Inbox)>> {
    let tokens: Vec<String> = server.data.users.iter().take(count).map(|u| u.token.clone()).collect();
    let place = &place;
    stream::iter(tokens.into_iter().enumerate())
        .map(|(i, token)| async move { client::connect(place(i), &token, i).await })
        .buffered(CONNECT_PARALLEL)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn text(micros: u64) -> MessageContent {
    MessageContent::Text {
        text: micros.to_string(),
    }
}

/// When a delivery reader stops (besides the stream ending).
#[derive(Clone, Copy)]
enum Until {
    /// After this many deliveries.
    Count(u64),
    /// At this instant.
    Time(tokio::time::Instant),
}

/// Watches the generator's own scheduling until `until`: the longest a
/// 10 ms timer fired late, in ms. A large value means the generator, not
/// the server, stalled, and its latencies include that.
fn own_lag(until: tokio::time::Instant) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut expected = tokio::time::Instant::now() + Duration::from_millis(10);
        while tokio::time::Instant::now() < until {
            tick.tick().await;
            let now = tokio::time::Instant::now();
            worst = worst.max(now.saturating_duration_since(expected));
            expected = now + Duration::from_millis(10);
        }
        (worst.as_secs_f64() * 1e6).round() / 1e3
    })
}

/// What the delivery readers of a run have counted.
#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    acks: AtomicU64,
    /// WebSocket messages that carried deliveries (batches merge several).
    messages: AtomicU64,
}

impl Counters {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn deliveries_per_message(&self) -> f64 {
        let per = Self::get(&self.delivered) as f64 / Self::get(&self.messages).max(1) as f64;
        (per * 100.0).round() / 100.0
    }
}

/// Latencies one reader saw, in microseconds.
#[derive(Default)]
struct Seen {
    /// Send to delivery at the other end.
    deliveries: Vec<u64>,
    /// Send to the sender's `sent` ack (for stamped ids).
    acks: Vec<u64>,
}

/// Counts deliveries (and acks) on a connection, recording latencies, until
/// `until`. Messages are scanned, not parsed.
fn read_deliveries(mut inbox: Inbox, until: Until, counters: Arc<Counters>) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            let text = match until {
                Until::Count(expected) if seen.deliveries.len() as u64 >= expected => break,
                Until::Count(_) => inbox.next_text().await,
                Until::Time(at) => match tokio::time::timeout_at(at, inbox.next_text()).await {
                    Ok(text) => text,
                    Err(_) => break,
                },
            };
            let Ok(Some(text)) = text else { break };
            let now = now_micros();
            let before = seen.deliveries.len();
            let mut acked = 0;
            client::scan(
                &text,
                |at| seen.deliveries.push(now.saturating_sub(at)),
                |at| {
                    acked += 1;
                    seen.acks.extend(at.map(|at| now.saturating_sub(at)));
                },
            );
            let delivered = (seen.deliveries.len() - before) as u64;
            counters.delivered.fetch_add(delivered, Ordering::Relaxed);
            counters.acks.fetch_add(acked, Ordering::Relaxed);
            if delivered > 0 {
                counters.messages.fetch_add(1, Ordering::Relaxed);
            }
        }
        seen
    })
}

pub async fn idle(options: &Options, connections: u32) -> anyhow::Result<Report> {
    let server = Server::start(options, Provision::users(connections)).await?;
    let rss_before = server.rss();
    let own = OwnCpu::start();
    let start = Instant::now();
    let held = connect_all(&server, connections as usize).await?;
    let elapsed = start.elapsed();
    // Let allocations settle before reading memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss();
    let per_conn = (rss_after.saturating_sub(rss_before)) as f64 / f64::from(connections.max(1)) / 1024.0;
    let mut report = Report::new("idle");
    report
        .add("connections", held.len(), "")
        .add(
            "connect_seconds",
            (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "s",
        )
        .add("server_rss_before_mib", rss_before / (1024 * 1024), "MiB")
        .add("server_rss_after_mib", rss_after / (1024 * 1024), "MiB")
        .add(
            "server_rss_per_connection_kib",
            (per_conn * 100.0).round() / 100.0,
            "KiB",
        )
        .generator(&own);
    drop(held);
    Ok(report)
}

/// `rate`: messages per second from all senders together; `None` sends as
/// fast as the sockets take them (throughput, but latency then measures the
/// queue).
pub async fn fanout(
    options: &Options,
    members: u32,
    senders: u32,
    messages: u32,
    rate: Option<u32>,
) -> anyhow::Result<Report> {
    let members = members.max(2);
    let senders = senders.clamp(1, members);
    let server = Server::start(options, Provision::group(members)).await?;
    let group = ConversationId(server.data.group.context("no group provisioned")?);
    let connections = connect_all(&server, members as usize).await?;
    let rss_connected = server.rss();
    let total = u64::from(senders) * u64::from(messages);
    let counters = Arc::new(Counters::default());
    let mut sinks = Vec::new();
    let mut readers = Vec::new();
    for (i, (sink, stream)) in connections.into_iter().enumerate() {
        // A sender does not get its own messages back, only the others'.
        let expected = if (i as u32) < senders {
            total - u64::from(messages)
        } else {
            total
        };
        readers.push(read_deliveries(stream, Until::Count(expected), counters.clone()));
        sinks.push(sink);
    }
    let expected_deliveries = total * u64::from(members) - total;
    let nodes_cpu = server.nodes_cpu();
    let threads = server.cpu_by_thread();
    let (server_cpu, own, switches) = (server.cpu(), OwnCpu::start(), server.context_switches());
    let start = Instant::now();
    let mut sending = Vec::new();
    let period = rate.map(|r| Duration::from_secs_f64(f64::from(senders) / f64::from(r.max(1))));
    for mut sink in sinks.drain(..senders as usize) {
        sending.push(tokio::spawn(async move {
            let mut tick = period.map(|p| {
                let phase = Duration::from_secs_f64(rand::rng().random::<f64>() * p.as_secs_f64());
                tokio::time::interval_at(tokio::time::Instant::now() + phase, p)
            });
            for i in 0..messages {
                if let Some(tick) = tick.as_mut() {
                    tick.tick().await;
                }
                let frame = ClientFrame::Send {
                    client_msg_id: format!("f{i}"),
                    conversation_id: group,
                    content: text(now_micros()),
                    reply_to: None,
                };
                client::send(&mut sink, &frame).await?;
            }
            anyhow::Ok(sink)
        }));
    }
    let mut latencies = Vec::with_capacity(expected_deliveries as usize);
    let collect = async {
        for reader in readers {
            latencies.extend(reader.await?.deliveries);
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DRAIN_LIMIT, collect)
        .await
        .context("deliveries did not finish in time")??;
    let elapsed = start.elapsed();
    let server_cpu = server.cpu() - server_cpu;
    let nodes_cpu = server.nodes_cpu() - nodes_cpu;
    let count = Counters::get(&counters.delivered);
    let mut report = Report::new("fanout");
    report
        .add("members", members, "")
        .add("senders", senders, "")
        .add("target_rate", rate.unwrap_or(0), "/s")
        .add("messages", total, "")
        .add("deliveries", count, "")
        .add("deliveries_per_second", per_second(count, elapsed), "/s")
        .add("deliveries_per_ws_message", counters.deliveries_per_message(), "")
        .add(
            "server_cpu_us_per_delivery",
            micros(server_cpu) / count.max(1) as f64,
            "µs",
        )
        .add(
            "server_context_switches_per_message",
            (server.context_switches() - switches) / total.max(1),
            "",
        )
        .generator(&own)
        .add("elapsed_seconds", elapsed.as_secs_f64(), "s")
        .latencies("latency", latencies);
    if options.nodes > 1 {
        // Of that, the natter nodes' own share (the rest is PostgreSQL's and NATS's).
        report.add(
            "nodes_cpu_us_per_delivery",
            micros(nodes_cpu) / count.max(1) as f64,
            "µs",
        );
    }
    by_thread(&mut report, &server, &threads, "delivery", count);
    // What the burst left behind, with everyone still connected, once the
    // allocator has had time to give back what was freed (it waits a moment
    // before returning pages). In all, too: it stays the same whatever the
    // members (eighteenth session), so it is not held per connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = server.rss().saturating_sub(rss_connected) as f64 / 1024.0;
    report.add("server_rss_kept_mib", kept / 1024.0, "MiB");
    report.add("server_rss_kept_per_member_kib", kept / f64::from(members), "KiB");
    drop(sending);
    Ok(report)
}

/// Where the server's CPU went since `before`, by thread (named threads of
/// every node summed by name), per `what` of `count`.
pub fn by_thread(report: &mut Report, server: &Server, before: &BTreeMap<String, Duration>, what: &str, count: u64) {
    for (name, after) in server.cpu_by_thread() {
        let used = after.saturating_sub(before.get(&name).copied().unwrap_or_default());
        if !used.is_zero() {
            let key = format!("server_cpu_us_per_{what}_{}", name.replace('-', "_"));
            report.add(key, micros(used) / count.max(1) as f64, "µs");
        }
    }
}

pub async fn dm(options: &Options, clients: u32, rate: u32, seconds: u32) -> anyhow::Result<Report> {
    let clients = clients.max(2);
    let server = Server::start(options, Provision::pairs(clients)).await?;
    // Client i writes to the pair it starts (i with i+1).
    let conversations: Vec<ConversationId> = server.data.pairs.iter().map(|p| ConversationId(p.2)).collect();
    let connections = connect_all(&server, clients as usize).await?;
    let counters = Arc::new(Counters::default());
    let period = Duration::from_secs_f64(f64::from(clients) / f64::from(rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    let sent = Arc::new(AtomicU64::new(0));
    // Readers keep going a little past the last send so in-flight messages land.
    let read_until = tokio::time::Instant::from_std(deadline) + Duration::from_secs(3);
    let threads = server.cpu_by_thread();
    let (server_cpu, own, switches) = (server.cpu(), OwnCpu::start(), server.context_switches());
    let start = Instant::now();
    let lag = own_lag(read_until);
    let mut tasks = Vec::new();
    let mut readers = Vec::new();
    for (i, (mut sink, stream)) in connections.into_iter().enumerate() {
        readers.push(read_deliveries(stream, Until::Time(read_until), counters.clone()));
        let Some(&conversation) = conversations.get(i) else {
            continue;
        };
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let phase = Duration::from_secs_f64(rand::rng().random::<f64>() * period.as_secs_f64());
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                let at = now_micros();
                let frame = ClientFrame::Send {
                    client_msg_id: client::stamped_id(at),
                    conversation_id: conversation,
                    content: text(at),
                    reply_to: None,
                };
                if client::send(&mut sink, &frame).await.is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            sink
        }));
    }
    let mut sinks = Vec::new();
    for task in tasks {
        sinks.push(task.await?);
    }
    let (mut latencies, mut ack_latencies) = (Vec::new(), Vec::new());
    for reader in readers {
        let seen = reader.await?;
        latencies.extend(seen.deliveries);
        ack_latencies.extend(seen.acks);
    }
    let elapsed = start.elapsed();
    let count = Counters::get(&counters.delivered);
    let mut report = Report::new("dm");
    report
        .add("clients", clients, "")
        .add("target_rate", rate, "/s")
        .add("sent", sent.load(Ordering::Relaxed), "")
        .add("acked", Counters::get(&counters.acks), "")
        .add("delivered", count, "")
        .add("deliveries_per_ws_message", counters.deliveries_per_message(), "")
        .add(
            "acked_per_second",
            per_second(Counters::get(&counters.acks), Duration::from_secs(u64::from(seconds))),
            "/s",
        )
        .add("server_cpu_seconds", (server.cpu() - server_cpu).as_secs_f64(), "s")
        .add(
            "server_cpu_us_per_message",
            micros(server.cpu() - server_cpu) / Counters::get(&counters.acks).max(1) as f64,
            "µs",
        )
        .add(
            "server_context_switches_per_message",
            (server.context_switches() - switches) / Counters::get(&counters.acks).max(1),
            "",
        )
        .generator(&own)
        .add("elapsed_seconds", elapsed.as_secs_f64(), "s")
        .add("loadgen_max_lag_ms", lag.await?, "ms")
        .latencies("latency", latencies)
        .latencies("ack", ack_latencies);
    by_thread(&mut report, &server, &threads, "message", Counters::get(&counters.acks));
    drop(sinks);
    Ok(report)
}

/// What nodes cost at rest with many conversations followed: `clients`
/// online, each a contact of the next `contacts` (a direct conversation per
/// pair, so `clients × contacts` conversations), and no traffic for
/// `seconds`, from `settle` seconds after the last one connected. What is
/// left is upkeep: each node's refill sweep (the newest
/// seq of every conversation its people are in, every 2 s) and presence
/// rounds; on one node, with no bus, there is none.
pub async fn upkeep(
    options: &Options,
    clients: u32,
    contacts: u32,
    settle: u32,
    seconds: u32,
) -> anyhow::Result<Report> {
    let provision = Provision {
        ring: contacts,
        ..Provision::users(clients)
    };
    let server = Server::start(options, provision).await?;
    let connecting = Instant::now();
    let held = connect_all(&server, clients as usize).await?;
    let connect_seconds = connecting.elapsed().as_secs_f64();
    // The connections' own aftermath (each one's presence told to its
    // contacts, on PostgreSQL ~45 s of work here) is not upkeep.
    tokio::time::sleep(Duration::from_secs(u64::from(settle))).await;
    let (server_cpu, nodes_cpu) = (server.cpu(), server.nodes_cpu());
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(u64::from(seconds.max(1)))).await;
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = server.cpu() - server_cpu;
    let nodes_cpu = server.nodes_cpu() - nodes_cpu;
    let share = |cpu: Duration| (cpu.as_secs_f64() / elapsed * 1000.0).round() / 10.0;
    let mut report = Report::new("upkeep");
    report
        .add("clients", held.len(), "")
        .add("connect_seconds", (connect_seconds * 10.0).round() / 10.0, "s")
        .add("conversations", server.data.pairs.len(), "")
        .add("seconds", seconds, "s")
        .add("server_cpu_percent", share(server_cpu), "%")
        .add("nodes_cpu_percent", share(nodes_cpu), "%")
        // Read apart from the nodes' own: a tick of theirs may fall between.
        .add(
            "database_and_bus_cpu_percent",
            share(server_cpu.saturating_sub(nodes_cpu)),
            "%",
        );
    drop(held);
    Ok(report)
}

pub async fn durable(options: &Options, senders: u32, messages: u32) -> anyhow::Result<Report> {
    let senders = senders.max(1);
    // Half the users send; this measures the commit path.
    let server = Server::start(options, Provision::pairs(senders * 2)).await?;
    let pairs = server.data.pairs.clone();
    let connections = connect_all(&server, senders as usize).await?;
    let (server_cpu, threads, own) = (server.cpu(), server.cpu_by_thread(), OwnCpu::start());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, (mut sink, mut stream)) in connections.into_iter().enumerate() {
        let conversation = ConversationId(pairs[i % pairs.len()].2);
        tasks.push(tokio::spawn(async move {
            let writer = tokio::spawn(async move {
                for n in 0..messages {
                    let frame = ClientFrame::Send {
                        client_msg_id: format!("w{n}"),
                        conversation_id: conversation,
                        content: text(now_micros()),
                        reply_to: None,
                    };
                    client::send(&mut sink, &frame).await?;
                }
                anyhow::Ok(sink)
            });
            let mut acked = 0u32;
            while acked < messages {
                match stream.next().await? {
                    Some(ServerFrame::Sent { .. }) => acked += 1,
                    Some(ServerFrame::Error { message, .. }) => anyhow::bail!("send refused: {message}"),
                    Some(_) => {}
                    None => anyhow::bail!("connection ended"),
                }
            }
            let _sink = writer.await??;
            anyhow::Ok(u64::from(acked))
        }));
    }
    let mut acked = 0;
    for task in tasks {
        acked += tokio::time::timeout(DRAIN_LIMIT, task)
            .await
            .context("acks did not finish in time")???;
    }
    let elapsed = start.elapsed();
    let mut report = Report::new("durable");
    report
        .add("senders", senders, "")
        .add("acked", acked, "")
        .add("acked_per_second", per_second(acked, elapsed), "/s")
        .add(
            "server_cpu_us_per_message",
            micros(server.cpu() - server_cpu) / acked.max(1) as f64,
            "µs",
        )
        .generator(&own)
        .add("elapsed_seconds", elapsed.as_secs_f64(), "s");
    by_thread(&mut report, &server, &threads, "message", acked);
    Ok(report)
}

pub async fn history(options: &Options, stored: u32, fetches: u32) -> anyhow::Result<Report> {
    let stored = stored.max(100);
    let provision_start = Instant::now();
    let server = Server::start(
        options,
        Provision {
            history: stored,
            ..Provision::pairs(2)
        },
    )
    .await?;
    let provisioned = provision_start.elapsed();
    let conversation = server.data.history_conversation.context("no history provisioned")?;
    let token = server.data.users[0].token.clone();
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(fetches as usize);
    let own = OwnCpu::start();
    for _ in 0..fetches {
        let before = rand::rng().random_range(51..=i64::from(stored) + 1);
        let url = format!(
            "{}api/v1/conversations/{conversation}/events?before={before}&limit=50",
            server.url
        );
        let start = Instant::now();
        let response = http.get(&url).bearer_auth(&token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "history fetch failed: {}",
            response.status()
        );
        let page: natter_common::api::History = response.json().await?;
        latencies.push(start.elapsed().as_micros() as u64);
        anyhow::ensure!(page.events.len() == 50, "short page at {before}");
    }
    let mut report = Report::new("history");
    report
        .add("stored_messages", stored, "")
        .add("provision_seconds", provisioned.as_secs_f64(), "s")
        .add("fetches", fetches, "")
        .generator(&own)
        .latencies("history", latencies);
    Ok(report)
}

/// One storm client's record: what it saw, what it had acked.
#[derive(Default)]
struct StormLog {
    /// Seqs seen per conversation (live or synced).
    seen: std::collections::HashMap<ConversationId, std::collections::BTreeSet<i64>>,
    /// Seqs of this client's own acked messages, per conversation, and
    /// when each ack came.
    acked: Vec<(ConversationId, i64, tokio::time::Instant)>,
    /// When the last sync went out: what was acked before then is in its
    /// answer.
    settling_since: Option<tokio::time::Instant>,
    /// Time from the drop until reconnected, and until caught up too.
    reconnect: Duration,
    resync: Duration,
    /// Syncs still answering since the reconnect, and when the drop was.
    syncing: usize,
    dropped_at: Option<tokio::time::Instant>,
    /// Error frames received, by message.
    errors: Vec<String>,
    /// Syncs to send next (outside `select!`, where a send could be cancelled).
    follow_ups: Vec<(ConversationId, i64)>,
}

/// Reads frames until `until`, recording events and acks, and noting the
/// follow-up sync an `events` frame with `more` asks for. Cancel-safe.
/// Returns false when the stream ended.
async fn storm_read(stream: &mut Inbox, log: &mut StormLog, until: tokio::time::Instant) -> bool {
    loop {
        match tokio::time::timeout_at(until, stream.next()).await {
            Err(_) => return true,
            Ok(Ok(Some(frame))) => match frame {
                ServerFrame::Event { event } => {
                    log.seen.entry(event.conversation_id).or_default().insert(event.seq);
                }
                ServerFrame::Events {
                    conversation_id,
                    events,
                    more,
                } => {
                    let seen = log.seen.entry(conversation_id).or_default();
                    let last = events.last().map(|e| e.seq);
                    seen.extend(events.iter().map(|e| e.seq));
                    if let (true, Some(after_seq)) = (more, last) {
                        log.follow_ups.push((conversation_id, after_seq));
                    } else if log.syncing > 0 {
                        log.syncing -= 1;
                        // The first catch-up after the drop, not the last sync.
                        if let (0, Some(at), true) = (log.syncing, log.dropped_at, log.resync.is_zero()) {
                            log.resync = at.elapsed();
                        }
                    }
                }
                ServerFrame::Sent {
                    conversation_id, seq, ..
                } => {
                    log.acked.push((conversation_id, seq, tokio::time::Instant::now()));
                    log.seen.entry(conversation_id).or_default().insert(seq);
                }
                _ => {}
            },
            Ok(_) => return false,
        }
    }
}

/// N clients chatting in pairs all lose their connections at once and come
/// back while traffic goes on; every acked message must reach its peer
/// exactly once in the end. With `kill`, they lose them because the node
/// they all are on is killed, and come back on the others.
pub async fn storm(options: &Options, clients: u32, rate: u32, kill: bool) -> anyhow::Result<Report> {
    if kill && options.nodes < 2 {
        anyhow::bail!("--kill needs --nodes 2 or more: somewhere to move to");
    }
    let clients = clients.max(2);
    let mut server = Server::start(options, Provision::pairs(clients)).await?;
    let pairs = server.data.pairs.clone();
    let period = Duration::from_secs_f64(f64::from(clients) / f64::from(rate.max(1)));
    let first = server.addr_for(0);
    let connections = if kill {
        connect_placed(&server, clients as usize, |_| first).await?
    } else {
        connect_all(&server, clients as usize).await?
    };
    let start = tokio::time::Instant::now();
    let drop_at = start + Duration::from_secs(2);
    let stop_sending_at = drop_at + Duration::from_secs(4);
    let end_at = stop_sending_at + Duration::from_secs(3);
    let give_up_at = end_at + Duration::from_secs(60);
    let reconnects = Arc::new(tokio::sync::Semaphore::new(CONNECT_PARALLEL));
    let (server_cpu, own) = (server.cpu(), OwnCpu::start());
    let mut tasks = Vec::new();
    for (i, (sink, stream)) in connections.into_iter().enumerate() {
        let token = server.data.users[i].token.clone();
        // Back on the next node (the same one when there is one): with
        // several, everyone moves at once; off the killed one, to the others.
        let addr = if kill {
            server.survivor_for(i)
        } else {
            server.addr_for(i + 1)
        };
        let mine = ConversationId(pairs[i].2);
        let theirs = ConversationId(pairs[(i + pairs.len() - 1) % pairs.len()].2);
        let reconnects = reconnects.clone();
        tasks.push(tokio::spawn(async move {
            let mut log = StormLog::default();
            // Both conversations are synced after the drop, even if quiet so far.
            log.seen.insert(mine, Default::default());
            log.seen.insert(theirs, Default::default());
            let (mut sink, mut stream) = (sink, stream);
            let mut n = 0u64;
            let mut tick = tokio::time::interval(period);
            let (mut dropped, mut settled, mut lost_node) = (false, false, false);
            loop {
                let now = tokio::time::Instant::now();
                // Once the traffic has drained and this client has caught up,
                // a last sync settles what was still in flight (a delivery
                // through another node can trail its ack); done when it is
                // answered. A client still syncing at the hard limit counts
                // as a failure.
                if now >= end_at && dropped && log.syncing == 0 && !settled {
                    settled = true;
                    log.settling_since = Some(tokio::time::Instant::now());
                    sync_all(&mut sink, &mut log).await?;
                    continue;
                }
                if (now >= end_at && settled && log.syncing == 0) || now >= give_up_at {
                    break;
                }
                if !dropped && (lost_node || (!kill && now >= drop_at)) {
                    // Everyone at once: the TCP connection just goes (or
                    // went, with the node). The time to resync counts from
                    // the kill, noticing it included.
                    dropped = true;
                    drop(sink);
                    drop(stream);
                    log.dropped_at = Some(if kill { drop_at } else { tokio::time::Instant::now() });
                    // New connections come from fresh source addresses: the old
                    // ones' ports sit in TIME_WAIT.
                    let permit = reconnects.acquire().await?;
                    let (s, r, states) = client::connect_for_states(addr, &token, i + clients as usize).await?;
                    drop(permit);
                    log.reconnect = log.dropped_at.map_or(Duration::ZERO, |at| at.elapsed());
                    (sink, stream) = (s, r);
                    sync_behind(&mut sink, &mut log, &states).await?;
                    continue;
                }
                // Back at the top in time to settle, and soon after that to
                // see it done, however slowly this client sends.
                let next_stop = match (dropped || kill, now < end_at) {
                    (false, _) => drop_at,
                    (true, true) => end_at,
                    (true, false) => give_up_at.min(now + Duration::from_millis(50)),
                };
                tokio::select! {
                    _ = tick.tick(), if now < stop_sending_at => {
                        let frame = ClientFrame::Send {
                            client_msg_id: format!("s{i}-{n}"),
                            conversation_id: mine,
                            content: text(now_micros()),
                            reply_to: None,
                        };
                        n += 1;
                        // Into a killed node's socket: unacked, so not counted.
                        let sent = client::send(&mut sink, &frame).await;
                        match sent {
                            Err(_) if kill && !dropped => lost_node = true,
                            sent => sent?,
                        }
                    }
                    alive = storm_read(&mut stream, &mut log, next_stop.min(now + period)) => {
                        match alive {
                            true => {}
                            false if kill && !dropped => lost_node = true,
                            false => anyhow::bail!("connection ended"),
                        }
                    }
                }
                for (conversation_id, after_seq) in std::mem::take(&mut log.follow_ups) {
                    client::send(
                        &mut sink,
                        &ClientFrame::Sync {
                            conversation_id,
                            after_seq,
                        },
                    )
                    .await?;
                }
            }
            anyhow::Ok(log)
        }));
    }
    if kill {
        tokio::time::sleep_until(drop_at).await;
        server.kill_first().await?;
    }
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await??);
    }
    // A last sync per conversation settles what was still in flight.
    let mut lost = 0u64;
    let mut acked_total = 0u64;
    let mut resync_max = Duration::ZERO;
    let mut unfinished = 0u64;
    let mut by_conversation: std::collections::HashMap<ConversationId, Vec<usize>> = std::collections::HashMap::new();
    for (i, log) in logs.iter().enumerate() {
        for conversation in log.seen.keys() {
            by_conversation.entry(*conversation).or_default().push(i);
        }
        if log.syncing > 0 || log.dropped_at.is_none() {
            unfinished += 1;
            if unfinished == 1 {
                eprintln!(
                    "client {i} did not finish resyncing: {} syncs open, errors {:?}",
                    log.syncing, log.errors
                );
            }
        }
        resync_max = resync_max.max(log.resync);
    }
    let (mut duplicated, mut acked_after_last_sync) = (0u64, 0u64);
    for (i, log) in logs.iter().enumerate() {
        acked_total += log.acked.len() as u64;
        let mut unique = std::collections::HashSet::new();
        for (conversation, seq, acked_at) in &log.acked {
            if !unique.insert((*conversation, *seq)) {
                duplicated += 1;
            }
            // Every other member of the conversation must have it, if it
            // was acked before their last sync went out (later, it may have
            // been committed after that sync read the log: a slow writer,
            // not a loss).
            for &peer in by_conversation.get(conversation).into_iter().flatten() {
                if peer == i || logs[peer].seen.get(conversation).is_some_and(|s| s.contains(seq)) {
                    continue;
                }
                if logs[peer].settling_since.is_some_and(|since| *acked_at < since) {
                    lost += 1;
                    if lost <= 3 {
                        eprintln!("lost: {conversation:?} seq {seq} acked by client {i}, never seen by client {peer}");
                    }
                } else {
                    acked_after_last_sync += 1;
                }
            }
        }
    }
    let mut report = Report::new("storm");
    report
        .add("clients", clients, "")
        .add("node_killed", u32::from(kill), "")
        .add("rate", rate, "/s")
        .add("acked", acked_total, "")
        .add("resync_seconds_max", resync_max.as_secs_f64(), "s")
        .latencies(
            "reconnect",
            logs.iter().map(|l| l.reconnect.as_micros() as u64).collect(),
        )
        .latencies("resync", logs.iter().map(|l| l.resync.as_micros() as u64).collect())
        .add("unfinished", unfinished, "")
        .add("lost", lost, "")
        .add("acked_after_last_sync", acked_after_last_sync, "")
        .add("duplicated", duplicated, "")
        .add("server_cpu_seconds", (server.cpu() - server_cpu).as_secs_f64(), "s")
        .generator(&own);
    Ok(report)
}

/// Catches up on every conversation of the client from what it holds; the
/// answers count `log.syncing` down.
async fn sync_all(sink: &mut Sink, log: &mut StormLog) -> anyhow::Result<()> {
    log.syncing = log.seen.len();
    for (conversation, seen) in &log.seen {
        let frame = ClientFrame::Sync {
            conversation_id: *conversation,
            after_seq: contiguous(seen),
        };
        client::send(sink, &frame).await?;
    }
    Ok(())
}

/// Catches up, as the app does after a reconnect, on the conversations
/// whose last seq by the hello is past what the client holds; caught up
/// at once when none is.
async fn sync_behind(sink: &mut Sink, log: &mut StormLog, states: &[ConversationState]) -> anyhow::Result<()> {
    let behind: Vec<(ConversationId, i64)> = states
        .iter()
        .filter_map(|state| {
            let held = log.seen.get(&state.conversation_id).map_or(0, contiguous);
            (state.last_seq > held).then_some((state.conversation_id, held))
        })
        .collect();
    log.syncing = behind.len();
    if behind.is_empty() {
        log.resync = log.reconnect;
    }
    for (conversation_id, after_seq) in behind {
        client::send(
            sink,
            &ClientFrame::Sync {
                conversation_id,
                after_seq,
            },
        )
        .await?;
    }
    Ok(())
}

/// The highest seq held with nothing missing below it.
fn contiguous(seen: &std::collections::BTreeSet<i64>) -> i64 {
    let mut last = 0;
    for &seq in seen {
        if seq != last + 1 {
            break;
        }
        last = seq;
    }
    last
}
