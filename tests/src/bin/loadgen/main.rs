//! `natter-loadgen`: drives a real natter-server over real WebSockets the way
//! clients do, and reports throughput, latency, memory and CPU — its own CPU
//! included, so it is visible when the generator is the bottleneck.
//!
//! It starts its own server (a fresh data directory, accounts provisioned in
//! bulk with `natter-server admin provision`), on 127.0.0.1 only, and every
//! scenario has bounded counts and durations.

mod chat;
mod client;
mod harness;
mod report;
mod scenarios;
mod search;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "natter-loadgen",
    about = "Load generator and benchmark driver for natter-server"
)]
struct Cli {
    /// The server binary to run.
    #[arg(long, default_value = "target/release/natter-server", global = true)]
    server: PathBuf,
    /// Pin the server to this CPU (through `taskset`).
    #[arg(long, global = true)]
    server_cpu: Option<u32>,
    /// Run this many server nodes, on a PostgreSQL database (syncing to disk)
    /// with a NATS server between them, connections spread round robin;
    /// server CPU then counts PostgreSQL's and NATS's too.
    #[arg(long, default_value_t = 1, global = true)]
    nodes: u32,
    /// Run the scenario this many times (a fresh server each time) and
    /// finish with the median of every number.
    #[arg(long, default_value_t = 1, global = true)]
    runs: u32,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Scenario {
    /// Hold N authenticated connections; server memory per connection.
    Idle {
        #[arg(long, default_value_t = 1000)]
        connections: u32,
    },
    /// Direct messages between N clients at a total rate for a while.
    Dm {
        #[arg(long, default_value_t = 1000)]
        clients: u32,
        /// Messages per second, all clients together.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// One group of G online members; S of them send M messages each.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        members: u32,
        #[arg(long, default_value_t = 4)]
        senders: u32,
        #[arg(long, default_value_t = 250)]
        messages: u32,
        /// Messages per second, all senders together (default: as fast as possible).
        #[arg(long)]
        rate: Option<u32>,
    },
    /// Acked messages per second from many concurrent senders.
    Durable {
        #[arg(long, default_value_t = 64)]
        senders: u32,
        #[arg(long, default_value_t = 500)]
        messages: u32,
    },
    /// N clients drop at once and reconnect while traffic continues.
    Storm {
        #[arg(long, default_value_t = 2000)]
        clients: u32,
        /// Messages per second, all clients together.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// With several nodes: everyone starts on the first, which is
        /// killed (`kill -9`) instead of the clients dropping, and moves to
        /// the others.
        #[arg(long)]
        kill: bool,
    },
    /// Message search over a stored corpus in English and Chinese: how fast
    /// it is indexed, query latency by kind, and index lag under live sends.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        stored: u32,
        #[arg(long, default_value_t = 1000)]
        conversations: u32,
        /// How many of the conversations the searching user is in.
        #[arg(long, default_value_t = 50)]
        member_of: u32,
        /// Queries of each kind (word, words, prefix, cjk1, cjk2, mixed).
        #[arg(long, default_value_t = 200)]
        queries: u32,
        /// Live messages per second while measuring index lag.
        #[arg(long, default_value_t = 5000)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// Users behaving like the browser app: typing before each message,
    /// reading what arrives in an open conversation, reconnecting and
    /// fetching history; server CPU per message with all of it.
    Chat {
        #[arg(long, default_value_t = 10_000)]
        users: u32,
        /// Messages per second, all users together.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        /// Percent of users with their conversation open.
        #[arg(long, default_value_t = 30)]
        open_percent: u32,
        /// Reconnects per second, all users together.
        #[arg(long, default_value_t = 20)]
        reconnects: u32,
    },
    /// Many conversations followed and no traffic: what nodes' upkeep
    /// (the refill sweep, presence rounds) costs at rest.
    Upkeep {
        #[arg(long, default_value_t = 10_000)]
        clients: u32,
        /// Each client is a contact of the next this many (a conversation per pair).
        #[arg(long, default_value_t = 10)]
        contacts: u32,
        /// Seconds after the last connection before measuring.
        #[arg(long, default_value_t = 60)]
        settle: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u32,
    },
    /// Random-depth history pages from a long conversation.
    History {
        #[arg(long, default_value_t = 100_000)]
        stored: u32,
        #[arg(long, default_value_t = 2000)]
        fetches: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Tens of thousands of sockets need more descriptors than the default.
    // As root the hard limit can rise too; the server, started from here, inherits it.
    if rlimit::setrlimit(rlimit::Resource::NOFILE, 1_048_576, 1_048_576).is_err() {
        let _ = rlimit::increase_nofile_limit(1_048_576);
    }
    let options = harness::Options {
        server: cli.server,
        server_cpu: cli.server_cpu,
        nodes: cli.nodes,
    };
    let mut reports = Vec::new();
    for _ in 0..cli.runs.max(1) {
        client::fresh_sources();
        let report = run(&options, cli.scenario).await?;
        report.print();
        reports.push(report);
    }
    if reports.len() > 1 {
        report::Report::median(&reports).print();
    }
    Ok(())
}

async fn run(options: &harness::Options, scenario: Scenario) -> anyhow::Result<report::Report> {
    match scenario {
        Scenario::Idle { connections } => scenarios::idle(options, connections).await,
        Scenario::Dm { clients, rate, seconds } => scenarios::dm(options, clients, rate, seconds).await,
        Scenario::Fanout {
            members,
            senders,
            messages,
            rate,
        } => scenarios::fanout(options, members, senders, messages, rate).await,
        Scenario::Durable { senders, messages } => scenarios::durable(options, senders, messages).await,
        Scenario::Storm { clients, rate, kill } => scenarios::storm(options, clients, rate, kill).await,
        Scenario::Chat {
            users,
            rate,
            seconds,
            open_percent,
            reconnects,
        } => {
            let how = chat::Behaviour {
                users,
                rate,
                seconds,
                open_percent,
                reconnects,
            };
            chat::run(options, how).await
        }
        Scenario::History { stored, fetches } => scenarios::history(options, stored, fetches).await,
        Scenario::Upkeep {
            clients,
            contacts,
            settle,
            seconds,
        } => scenarios::upkeep(options, clients, contacts, settle, seconds).await,
        Scenario::Search {
            stored,
            conversations,
            member_of,
            queries,
            rate,
            seconds,
        } => {
            let corpus = search::Corpus {
                stored,
                conversations,
                member_of,
            };
            search::run(options, corpus, queries, rate, seconds).await
        }
    }
}
