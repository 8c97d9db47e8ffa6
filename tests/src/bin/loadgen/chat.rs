//! The `chat` scenario: people using the browser app rather than the bare
//! protocol. Each user has a DM with the next; at the given total rate a
//! user types (a `typing` frame, as the composer sends) and then sends; a
//! user who has the conversation open (a share of them) marks each message
//! read on arrival, as the app does; and some users reconnect all along
//! (presence churn: offline and online announced to their contacts), each
//! opening their conversation again with a history fetch over REST. What
//! the server spends per message then includes everything a message costs
//! in the app, not only its fan-out.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use natter_common::{
    events::{EventBody, MessageContent},
    frames::{ClientFrame, ServerFrame},
    ids::ConversationId,
};
use rand::Rng;

use crate::{
    client::{self, now_micros},
    harness::{Options, OwnCpu, Provision, Server},
    report::{micros, per_second, Report},
    scenarios,
};

/// How the users behave.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub users: u32,
    /// Messages per second, all users together.
    pub rate: u32,
    pub seconds: u32,
    /// Percent of users who have their conversation open (and so read
    /// each message as it arrives).
    pub open_percent: u32,
    /// Reconnects per second, all users together.
    pub reconnects: u32,
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    delivered: AtomicU64,
    acked: AtomicU64,
    reads: AtomicU64,
    typing: AtomicU64,
    reconnects: AtomicU64,
    histories: AtomicU64,
    failures: AtomicU64,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Latencies one user saw, in microseconds.
#[derive(Default)]
struct Seen {
    deliveries: Vec<u64>,
    acks: Vec<u64>,
    histories: Vec<u64>,
}

pub async fn run(options: &Options, how: Behaviour) -> anyhow::Result<Report> {
    let users = how.users.max(2);
    let server = Server::start(options, Provision::pairs(users)).await?;
    // User i writes in the DM it starts (with i + 1) and reads in both of its DMs.
    let conversations: Vec<ConversationId> = server.data.pairs.iter().map(|p| ConversationId(p.2)).collect();
    let tokens: Vec<String> = server.data.users.iter().map(|u| u.token.clone()).collect();
    let counts = Arc::new(Counts::default());
    let send_period = Duration::from_secs_f64(f64::from(users) / f64::from(how.rate.max(1)));
    let reconnect_period = Duration::from_secs_f64(f64::from(users) / f64::from(how.reconnects.max(1)));
    let http = reqwest::Client::new();

    // Everyone connects first (not measured).
    let mut connections = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(128) {
        let base = connections.len();
        let opened = futures_util::future::join_all(
            chunk
                .iter()
                .enumerate()
                .map(|(k, token)| client::connect(server.addr_for(base + k), token, base + k)),
        )
        .await;
        for connection in opened {
            connections.push(connection?);
        }
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(how.seconds));
    // Users keep reading a little past the last send so in-flight messages land.
    let read_until = deadline + Duration::from_secs(3);
    let (server_cpu, threads, own) = (server.cpu(), server.cpu_by_thread(), OwnCpu::start());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections.len());
    for (i, (mut sink, mut inbox)) in connections.into_iter().enumerate() {
        let counts = counts.clone();
        let (token, addr, url, http) = (tokens[i].clone(), server.addr_for(i), server.url.clone(), http.clone());
        let writes_in = conversations.get(i).copied();
        let open = rand::rng().random_range(0..100) < how.open_percent;
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let now = tokio::time::Instant::now();
            let phase = |period: Duration| now + period.mul_f64(rand::rng().random::<f64>());
            let mut sends = tokio::time::interval_at(phase(send_period), send_period);
            sends.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut reconnects = tokio::time::interval_at(phase(reconnect_period), reconnect_period);
            reconnects.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(read_until) => break,
                    _ = sends.tick(), if writes_in.is_some() && tokio::time::Instant::now() < deadline => {
                        let Some(conversation) = writes_in else { continue };
                        let at = now_micros();
                        let typing = ClientFrame::Typing { conversation_id: conversation };
                        let send = ClientFrame::Send {
                            client_msg_id: client::stamped_id(at),
                            conversation_id: conversation,
                            content: MessageContent::Text { text: at.to_string() },
                            reply_to: None,
                        };
                        if client::send(&mut sink, &typing).await.is_err() || client::send(&mut sink, &send).await.is_err() {
                            counts.failures.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        counts.typing.fetch_add(1, Ordering::Relaxed);
                        counts.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    _ = reconnects.tick(), if tokio::time::Instant::now() < deadline => {
                        drop(sink);
                        let Ok((new_sink, new_inbox)) = client::connect(addr, &token, i).await else {
                            counts.failures.fetch_add(1, Ordering::Relaxed);
                            break;
                        };
                        (sink, inbox) = (new_sink, new_inbox);
                        counts.reconnects.fetch_add(1, Ordering::Relaxed);
                        // Opening the conversation again: its newest page.
                        if let Some(conversation) = writes_in {
                            let asked = Instant::now();
                            let page = http
                                .get(format!("{url}api/v1/conversations/{}/events?limit=50", conversation.0))
                                .bearer_auth(&token)
                                .send()
                                .await
                                .and_then(reqwest::Response::error_for_status);
                            let read = match page {
                                Ok(page) => page.bytes().await.is_ok(),
                                Err(_) => false,
                            };
                            if read {
                                seen.histories.push(asked.elapsed().as_micros() as u64);
                                counts.histories.fetch_add(1, Ordering::Relaxed);
                            } else {
                                counts.failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    frame = inbox.next() => {
                        let Ok(Some(frame)) = frame else { break };
                        let arrived = now_micros();
                        match frame {
                            ServerFrame::Event { event } => {
                                let EventBody::Message { content: MessageContent::Text { text }, .. } = &event.body else {
                                    continue;
                                };
                                if let Ok(at) = text.parse::<u64>() {
                                    seen.deliveries.push(arrived.saturating_sub(at));
                                    counts.delivered.fetch_add(1, Ordering::Relaxed);
                                }
                                if open {
                                    let read = ClientFrame::Read { conversation_id: event.conversation_id, seq: event.seq };
                                    if client::send(&mut sink, &read).await.is_ok() {
                                        counts.reads.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            ServerFrame::Sent { client_msg_id, .. } => {
                                counts.acked.fetch_add(1, Ordering::Relaxed);
                                if let Some(at) = client_msg_id.strip_prefix('t').and_then(|at| at.parse::<u64>().ok()) {
                                    seen.acks.push(arrived.saturating_sub(at));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            seen
        }));
    }
    let mut seen = Seen::default();
    for task in tasks {
        let one = task.await?;
        seen.deliveries.extend(one.deliveries);
        seen.acks.extend(one.acks);
        seen.histories.extend(one.histories);
    }
    let elapsed = start.elapsed();
    let cpu = server.cpu() - server_cpu;
    let sent = get(&counts.sent);
    let mut report = Report::new("chat");
    report
        .add("users", users, "")
        .add("target_rate", how.rate, "/s")
        .add("open_percent", how.open_percent, "%")
        .add("sent", sent, "")
        .add("acked", get(&counts.acked), "")
        .add("delivered", get(&counts.delivered), "")
        .add("reads_sent", get(&counts.reads), "")
        .add("typing_sent", get(&counts.typing), "")
        .add("reconnects", get(&counts.reconnects), "")
        .add("history_fetches", get(&counts.histories), "")
        .add("failures", get(&counts.failures), "")
        .add(
            "acked_per_second",
            per_second(get(&counts.acked), Duration::from_secs(u64::from(how.seconds))),
            "/s",
        )
        .add("server_cpu_seconds", cpu.as_secs_f64(), "s")
        .add("server_cpu_us_per_message", micros(cpu) / sent.max(1) as f64, "µs");
    scenarios::by_thread(&mut report, &server, &threads, "message", sent);
    report
        .generator(&own)
        .add("elapsed_seconds", elapsed.as_secs_f64(), "s")
        .latencies("latency", seen.deliveries)
        .latencies("ack", seen.acks)
        .latencies("history", seen.histories);
    Ok(report)
}
