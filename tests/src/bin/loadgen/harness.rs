//! Starting a provisioned server, or several nodes of one on PostgreSQL
//! and NATS (`--nodes`), and reading their resource use from /proc.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub struct Options {
    pub server: PathBuf,
    pub server_cpu: Option<u32>,
    /// Nodes to run; more than one puts them on a (durable) PostgreSQL
    /// database with a NATS server between them.
    pub nodes: u32,
}

#[derive(Debug, Deserialize)]
pub struct Provisioned {
    pub users: Vec<User>,
    pub pairs: Vec<(i64, i64, i64)>,
    pub group: Option<i64>,
    pub history_conversation: Option<i64>,
    #[serde(default)]
    pub corpus: Option<Corpus>,
}

/// A search corpus (`admin provision --corpus-…`).
#[derive(Debug, Deserialize)]
pub struct Corpus {
    pub searcher_groups: Vec<i64>,
    pub messages: u32,
    /// Found once the index has caught up with the corpus.
    pub last_word: String,
    /// Queries by kind, drawn from the corpus's text.
    pub queries: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub token: String,
}

pub struct Provision {
    pub users: u32,
    pub ring: u32,
    pub group_size: u32,
    pub history: u32,
    /// Groups and messages of a search corpus, and how many groups the first user is in.
    pub corpus: Option<(u32, u32, u32)>,
}

impl Provision {
    /// `users` accounts and nothing else.
    pub fn users(users: u32) -> Self {
        Self {
            users,
            ring: 0,
            group_size: 0,
            history: 0,
            corpus: None,
        }
    }

    /// `users` accounts, each a contact of the next (a DM per pair).
    pub fn pairs(users: u32) -> Self {
        Self {
            ring: 1,
            ..Self::users(users)
        }
    }

    /// `users` accounts, all in one group.
    pub fn group(users: u32) -> Self {
        Self {
            group_size: users,
            ..Self::users(users)
        }
    }
}

pub struct Server {
    nodes: Vec<Node>,
    /// The first node's.
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub data: Provisioned,
    _dir: tempfile::TempDir,
    _nats: Option<natter_tests::nats::NatsServer>,
}

/// One server process.
struct Node {
    child: Child,
    addr: std::net::SocketAddr,
    /// The CPU time it had used when it was killed.
    cpu_at_kill: Option<Duration>,
    threads: Threads,
    _dir: Option<tempfile::TempDir>,
}

impl Node {
    fn cpu(&self) -> Duration {
        self.cpu_at_kill
            .unwrap_or_else(|| self.threads.total(self.child.id().unwrap_or(0)))
    }
}

impl Server {
    pub async fn start(options: &Options, provision: Provision) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("natter-loadgen-").tempdir()?;
        let out = dir.path().join("provisioned.json");
        // Several nodes share a database that syncs to disk, as a real one
        // does, a media folder, and a bus.
        let (database, nats) = if options.nodes > 1 {
            let url = tokio::task::spawn_blocking(natter_tests::postgres::durable_database).await??;
            (Some(url), Some(natter_tests::nats::NatsServer::start()?))
        } else {
            (None, None)
        };
        let shared = |command: &mut Command| {
            if let Some(url) = &database {
                command.env("NATTER_DATABASE_URL", url);
            }
            if let Some(nats) = &nats {
                command
                    .env("NATTER_NATS_URL", &nats.url)
                    .env("NATTER_MEDIA_DIR", dir.path().join("media"));
            }
        };
        let mut provisioning = Command::new(&options.server);
        shared(&mut provisioning);
        let status = provisioning
            .arg("--data-dir")
            .arg(dir.path())
            .args(["admin", "provision"])
            .args([
                "--users",
                &provision.users.to_string(),
                "--ring",
                &provision.ring.to_string(),
            ])
            .args([
                "--group-size",
                &provision.group_size.to_string(),
                "--history",
                &provision.history.to_string(),
            ])
            .args(provision.corpus.iter().flat_map(|(groups, messages, member_of)| {
                [
                    "--corpus-groups".to_owned(),
                    groups.to_string(),
                    "--corpus-messages".to_owned(),
                    messages.to_string(),
                    "--corpus-member-of".to_owned(),
                    member_of.to_string(),
                ]
            }))
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .await
            .with_context(|| format!("running {}", options.server.display()))?;
        if !status.success() {
            bail!("provisioning failed");
        }
        let data: Provisioned = serde_json::from_slice(&std::fs::read(&out)?)?;

        let mut nodes = Vec::with_capacity(options.nodes.max(1) as usize);
        for i in 0..options.nodes.max(1) {
            // The first node keeps the provisioned data directory; the
            // others get their own (each node's search index and lock).
            let own = (i > 0)
                .then(|| tempfile::Builder::new().prefix("natter-loadgen-node-").tempdir())
                .transpose()?;
            let data_dir = own.as_ref().map_or(dir.path(), |own| own.path()).to_owned();
            let mut command = match options.server_cpu {
                Some(cpu) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", &cpu.to_string()]).arg(&options.server);
                    c
                }
                None => Command::new(&options.server),
            };
            shared(&mut command);
            let (child, addr) = spawn_node(command, &data_dir).await?;
            nodes.push(Node {
                child,
                addr,
                cpu_at_kill: None,
                threads: Threads::default(),
                _dir: own,
            });
        }
        let addr = nodes[0].addr;
        Ok(Self {
            nodes,
            url: format!("http://{addr}/"),
            addr,
            data,
            _dir: dir,
            _nats: nats,
        })
    }

    /// The node the `i`th connection goes to: round robin.
    pub fn addr_for(&self, i: usize) -> std::net::SocketAddr {
        self.nodes[i % self.nodes.len()].addr
    }

    /// The node the `i`th connection moves to when the first is killed:
    /// round robin over the others.
    pub fn survivor_for(&self, i: usize) -> std::net::SocketAddr {
        self.nodes[1 + i % (self.nodes.len() - 1).max(1)].addr
    }

    /// `kill -9` of the first node: its connections just end.
    pub async fn kill_first(&mut self) -> anyhow::Result<()> {
        let node = &mut self.nodes[0];
        node.cpu_at_kill = Some(node.cpu());
        node.child.start_kill()?;
        node.child.wait().await?;
        Ok(())
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes.iter().map(|node| node.child.id().unwrap_or(0))
    }

    /// Resident memory in bytes, of every node.
    pub fn rss(&self) -> u64 {
        self.pids().map(|pid| rss_of(&format!("/proc/{pid}/status"))).sum()
    }

    /// CPU time used so far (user + system), of every node and, with
    /// several, of PostgreSQL's and NATS's processes too: all that serving
    /// the load costs.
    pub fn cpu(&self) -> Duration {
        let nodes = self.nodes_cpu();
        if self.nodes.len() == 1 {
            return nodes;
        }
        nodes + cpu_of_named(&["postgres", "nats-server"])
    }

    /// CPU time used so far by the nodes' threads, by thread name (tokio's
    /// workers share one): where a message's microseconds go.
    pub fn cpu_by_thread(&self) -> BTreeMap<String, Duration> {
        let mut by_name = BTreeMap::new();
        for node in &self.nodes {
            for (name, cpu) in node.threads.observe(node.child.id().unwrap_or(0)) {
                *by_name.entry(name).or_default() += cpu;
            }
        }
        by_name
    }

    /// CPU time used so far by the natter nodes alone.
    pub fn nodes_cpu(&self) -> Duration {
        self.nodes.iter().map(Node::cpu).sum()
    }

    /// Context switches so far, over all the nodes' threads: with the
    /// server on one core, hand-offs between threads cost more than the
    /// work they carry.
    pub fn context_switches(&self) -> u64 {
        self.pids().map(context_switches_of).sum()
    }
}

/// Starts one server process on `data_dir` and waits until it listens.
async fn spawn_node(mut command: Command, data_dir: &Path) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--bind", "127.0.0.1:0", "--static-dir", "/nonexistent"])
        // The server's own log level, for looking inside a run.
        .env(
            "RUST_LOG",
            std::env::var("NATTER_LOADGEN_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        // The load is the point: no per-user send limit in the way.
        .env("NATTER_SEND_RATE_PER_SECOND", "1000000")
        .env("NATTER_SEND_BURST", "1000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("natter listening on ") {
                return anyhow::Ok(url.trim().to_owned());
            }
        }
        bail!("server exited before listening")
    })
    .await??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = url.trim_start_matches("http://").trim_end_matches('/').parse()?;
    Ok((child, addr))
}

/// The /proc directories of a process's threads (none once it is gone).
fn tasks_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.flatten().map(|task| task.path()).collect())
        .unwrap_or_default()
}

fn context_switches_of(pid: u32) -> u64 {
    tasks_of(pid)
        .into_iter()
        .filter_map(|task| std::fs::read_to_string(task.join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The CPU time of this generator's own processes with one of these names
/// (its PostgreSQL and NATS, started from here, and their children), not
/// those of anyone else on the machine (tests run side by side, and their
/// servers come and go).
fn cpu_of_named(names: &[&str]) -> Duration {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    // Each process's parent and name, and whether it has one of the names.
    let mut parents = std::collections::HashMap::new();
    let mut named = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": the name may hold spaces and parentheses.
        let (Some((head, rest)), Some(comm_start)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        let parent = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        parents.insert(pid, parent.unwrap_or(0));
        if names.contains(&&head[comm_start + 1..]) {
            named.push(pid);
        }
    }
    let ours = |mut pid: u32| {
        let me = std::process::id();
        while let Some(&parent) = parents.get(&pid) {
            if parent == me {
                return true;
            }
            pid = parent;
        }
        false
    };
    named
        .into_iter()
        .filter(|pid| ours(*pid))
        // With the children they reaped: PostgreSQL's backends come and go,
        // and the postmaster keeps the time of those that went.
        .map(|pid| cpu_fields(&format!("/proc/{pid}/stat"), 11..15))
        .sum()
}

/// The generator's own CPU time (user + system) over a stretch of wall
/// time, to tell when it, rather than the server, limits a result.
pub struct OwnCpu {
    threads: Threads,
    cpu: Duration,
    start: std::time::Instant,
}

impl OwnCpu {
    pub fn start() -> Self {
        let threads = Threads::default();
        Self {
            cpu: threads.total(std::process::id()),
            threads,
            start: std::time::Instant::now(),
        }
    }

    /// CPU seconds used since the start, and what share that is of all the
    /// CPUs this process may run on (its affinity mask, e.g. `taskset`).
    pub fn used(&self) -> (f64, f64) {
        let cpu = self
            .threads
            .total(std::process::id())
            .saturating_sub(self.cpu)
            .as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let wall = self.start.elapsed().as_secs_f64() * cores as f64;
        (cpu, if wall > 0.0 { cpu / wall } else { 0.0 })
    }
}

fn rss_of(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// A process's CPU time, added up from its threads' own counts
/// ([`thread_cpu`]). A thread that has exited keeps its count as last read,
/// and a count that goes down is taken for a new thread under the same id,
/// the old one's kept, so the sum never goes back. Missed: what a thread did
/// after its last reading before it exited, and all of a thread that came
/// and went between two readings (the threads that come and go are pools'
/// idle ones).
#[derive(Default)]
struct Threads(std::sync::Mutex<ThreadCounts>);

#[derive(Default)]
struct ThreadCounts {
    /// By thread id: its name and CPU time when last read.
    live: BTreeMap<u32, (String, Duration)>,
    /// By name: what threads whose id was taken again had used.
    retired: BTreeMap<String, Duration>,
}

impl Threads {
    /// Reads each thread's name and CPU time where it still runs; CPU time
    /// by thread name.
    fn observe(&self, pid: u32) -> BTreeMap<String, Duration> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for task in tasks_of(pid) {
            let Some(tid) = task.file_name().and_then(|n| n.to_str()?.parse::<u32>().ok()) else {
                continue;
            };
            // Gone between the listing and the reads: its last count stands.
            let (Ok(name), Some(cpu)) = (std::fs::read_to_string(task.join("comm")), thread_cpu(&task)) else {
                continue;
            };
            let name = name.trim().to_owned();
            if let Some((old_name, old)) = counts.live.insert(tid, (name, cpu)) {
                if old > cpu {
                    // Less than before: another thread under the same id.
                    *counts.retired.entry(old_name).or_default() += old;
                }
            }
        }
        let mut by_name = counts.retired.clone();
        for (name, cpu) in counts.live.values() {
            *by_name.entry(name.clone()).or_default() += *cpu;
        }
        by_name
    }

    fn total(&self, pid: u32) -> Duration {
        self.observe(pid).values().sum()
    }
}

/// A thread's CPU time as the scheduler counts it, in nanoseconds
/// (`schedstat`'s first field): `stat`'s 10 ms ticks are a tenth of a run
/// whose server works for 0.1 s. The ticks where the kernel keeps no such
/// count.
fn thread_cpu(task: &Path) -> Option<Duration> {
    // `schedstat` first: were `stat` read first and the thread gone before
    // `schedstat`, its ticks (less than its last count) would pass for a
    // new thread under its id. Gone before both, it has no reading.
    let ran = std::fs::read_to_string(task.join("schedstat"))
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos);
    match ran {
        Some(ran) if !ran.is_zero() => Some(ran),
        // No count kept (or none yet): the ticks.
        _ => ticks(&task.join("stat").to_string_lossy(), 11..13),
    }
}

/// The sum of these fields of a `stat` file, counted from the one after the
/// `)` that closes the command name: 11 and 12 are utime and stime (fields
/// 14 and 15 in proc(5)), 13 and 14 the same for reaped children.
fn cpu_fields(path: &str, fields: std::ops::Range<usize>) -> Duration {
    ticks(path, fields).unwrap_or_default()
}

/// [`cpu_fields`], or none when the file is gone.
fn ticks(path: &str, fields: std::ops::Range<usize>) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(fields.start)
        .take(fields.len())
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux.
}
