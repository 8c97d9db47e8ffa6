//! A throwaway PostgreSQL for tests: one cluster per test process, in a
//! temporary directory, on a free loopback port, started on first use and
//! gone when the process ends (the postmaster is told to quit when its
//! parent dies); each caller gets a fresh database of its own.
//!
//! Debian's `postgresql` package provides the binaries
//! (`scripts/bootstrap.sh --browser` installs it). initdb refuses to run as
//! root, so as root the cluster runs as the `postgres` user.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

struct Cluster {
    port: u16,
    /// Kept for the process's life; removed by the next run (see `start`).
    _dir: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static DURABLE: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// The URL of a new, empty database on this process's cluster.
pub fn fresh_database() -> anyhow::Result<String> {
    database_on(&CLUSTER, false)
}

/// The same on a cluster that syncs its commits to disk, as a real one
/// does: for benchmarks (`natter-loadgen --nodes`), not for tests.
pub fn durable_database() -> anyhow::Result<String> {
    database_on(&DURABLE, true)
}

fn database_on(cell: &'static OnceLock<Result<Cluster, String>>, durable: bool) -> anyhow::Result<String> {
    let cluster = cell
        .get_or_init(|| {
            // The parent-death signal follows the thread that spawned the
            // postmaster, not the process: spawn it from a thread that
            // lives as long as the process does.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(start(durable).map_err(|err| format!("{err:#}")));
                loop {
                    std::thread::park();
                }
            });
            rx.recv()
                .unwrap_or_else(|_| Err("the PostgreSQL starter thread died".into()))
        })
        .as_ref()
        .map_err(|err| anyhow::anyhow!("cannot start PostgreSQL for tests: {err}"))?;
    let name = format!("natter_{}", NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
    psql(cluster.port, &format!("CREATE DATABASE {name}"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port))
}

/// The directory holding initdb and postgres.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (run scripts/bootstrap.sh --browser)")?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().context("no initdb under /usr/lib/postgresql")
}

/// The uid and gid to run the cluster as: ours, or `postgres`'s as root.
fn owner() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return Ok(None);
    }
    let out = Command::new("id").args(["-u", "postgres"]).output()?;
    let uid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("no postgres user")?;
    let out = Command::new("id").args(["-g", "postgres"]).output()?;
    let gid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("no postgres group")?;
    Ok(Some((uid, gid)))
}

fn start(durable: bool) -> anyhow::Result<Cluster> {
    let bin = bin_dir()?;
    let owner = owner()?;
    let root = std::env::temp_dir().join("natter-test-postgres");
    std::fs::create_dir_all(&root)?;
    remove_stale(&root);
    let pid = std::process::id();
    let dir = root.join(if durable {
        format!("{pid}-durable")
    } else {
        pid.to_string()
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    if let Some((uid, gid)) = owner {
        chown(&root, uid, gid)?;
        chown(&dir, uid, gid)?;
    }
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = owner {
        initdb.uid(uid).gid(gid);
    }
    let out = initdb.output().context("cannot run initdb")?;
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let port = free_port()?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
        .arg(format!("unix_socket_directories={}", dir.display()))
        // Throwaway data: no fsync (unless asked to be durable), and room
        // for many test connections.
        .args(if durable {
            &[][..]
        } else {
            &[
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ][..]
        })
        .args(["-c", "max_connections=300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("postgres.log"))?);
    if let Some((uid, gid)) = owner {
        postgres.uid(uid).gid(gid);
    }
    // SAFETY: prctl is async-signal-safe; it only sets this child's
    // parent-death signal (SIGQUIT: PostgreSQL's immediate shutdown).
    unsafe {
        postgres.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Not waited for: it lives as long as this process.
    let child = postgres.spawn().context("cannot start postgres")?;
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while psql(port, "SELECT 1").is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            bail!("postgres did not start in 30 s: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Cluster { port, _dir: dir })
}

/// Removes the clusters of test processes that have ended.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn chown(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).with_context(|| format!("chown {}", path.display()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs one statement as the superuser through psql.
fn psql(port: u16, sql: &str) -> anyhow::Result<()> {
    let psql = bin_dir()?.join("psql");
    let out = Command::new(psql)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!("{sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
