//! `TestServer`: spawns the compiled server binary and tears it down on drop.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{bail, Context};
use serde::Deserialize;
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::workspace_root;

/// Path of the server binary: `NATTER_SERVER_BIN`, else the debug build in
/// the workspace target directory (`make test` builds it first).
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("NATTER_SERVER_BIN") {
        return path.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug").join("natter-server")
}

/// What `natter-server admin provision` wrote (see `backend/src/admin.rs`).
#[derive(Debug, Deserialize)]
pub struct Provisioned {
    pub users: Vec<ProvisionedUser>,
    /// `[user_a, user_b, conversation]` for every contact pair.
    pub pairs: Vec<(i64, i64, i64)>,
    pub group: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProvisionedUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

/// Settings for tests that send in bulk: rate limits out of the way.
pub const FAST: [(&str, &str); 3] = [
    ("NATTER_AUTH_RATE_PER_MINUTE", "1000"),
    ("NATTER_SEND_RATE_PER_SECOND", "100000"),
    ("NATTER_SEND_BURST", "100000"),
];

pub struct TestServer {
    child: Child,
    /// Base URL with a trailing slash, e.g. `http://127.0.0.1:41234/`.
    pub url: String,
    data: DataDir,
    env: Vec<(String, String)>,
}

/// Where the trunk-built app is: `NATTER_TEST_DIST` or `<workspace>/dist`.
pub fn app_dir() -> PathBuf {
    std::env::var("NATTER_TEST_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("dist"))
}

/// The trunk-built app ([`app_dir`]), which must be there.
fn app_dist() -> anyhow::Result<String> {
    let dist = app_dir();
    if !dist.join("index.html").exists() {
        bail!(
            "{} has no built app: run `make test`, which builds it with trunk",
            dist.display()
        );
    }
    Ok(dist.to_string_lossy().into_owned())
}

/// Settings that serve the app in `dist` with generous login limits, then
/// `env`, which wins (later entries are set later on the command).
fn app_settings<'a>(dist: &'a str, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![("NATTER_STATIC_DIR", dist), ("NATTER_AUTH_RATE_PER_MINUTE", "1000")];
    settings.extend_from_slice(env);
    settings
}

/// `NATTER_TEST_DATABASE=postgres` runs a suite on PostgreSQL: each server
/// (and what is provisioned for it) gets a fresh database, kept across its
/// restarts.
async fn add_database(env: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let on_postgres = std::env::var("NATTER_TEST_DATABASE").is_ok_and(|db| db == "postgres");
    if on_postgres && !env.iter().any(|(key, _)| key == "NATTER_DATABASE_URL") {
        let url = tokio::task::spawn_blocking(crate::postgres::fresh_database).await??;
        env.push(("NATTER_DATABASE_URL".into(), url));
    }
    Ok(())
}

enum DataDir {
    Owned(TempDir),
    Borrowed(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            Self::Owned(dir) => dir.path(),
            Self::Borrowed(path) => path,
        }
    }
}

impl TestServer {
    /// A server with a fresh data directory and no web app.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(&[]).await
    }

    /// A server with extra `NATTER_*` environment settings.
    pub async fn spawn_with(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("natter-test-").tempdir()?;
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start(DataDir::Owned(dir), env).await
    }

    /// A server on an existing data directory (e.g. one an `admin restore`
    /// filled), which the caller keeps.
    pub async fn spawn_in(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start(DataDir::Borrowed(dir.to_owned()), env).await
    }

    /// Provisions accounts in bulk into a fresh data directory with
    /// `natter-server admin provision <args>` (admin tasks run only while no
    /// server uses the directory), then starts a server with `env` on it.
    pub async fn provisioned(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(Self, Provisioned)> {
        let dir = tempfile::Builder::new().prefix("natter-test-").tempdir()?;
        let out = dir.path().join("provisioned.json");
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        add_database(&mut env).await?;
        let output = Command::new(server_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().filter(|(key, _)| key == "NATTER_DATABASE_URL").cloned())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["admin", "provision"])
            .args(args)
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running natter-server admin provision")?;
        if !output.status.success() {
            bail!(
                "provisioning {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let data: Provisioned = serde_json::from_slice(&std::fs::read(&out)?)?;
        Ok((Self::start(DataDir::Owned(dir), env).await?, data))
    }

    /// A server that serves the trunk-built app from `NATTER_TEST_DIST` or
    /// `<workspace>/dist`, with generous login limits.
    pub async fn with_app() -> anyhow::Result<Self> {
        Self::with_app_and(&[]).await
    }

    /// [`Self::with_app`] with extra `NATTER_*` settings (e.g. [`FAST`]),
    /// which win over the defaults it sets.
    pub async fn with_app_and(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dist = app_dist()?;
        Self::spawn_with(&app_settings(&dist, env)).await
    }

    /// [`Self::provisioned`], serving the app as [`Self::with_app_and`] does.
    pub async fn provisioned_with_app(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(Self, Provisioned)> {
        let dist = app_dist()?;
        Self::provisioned(args, &app_settings(&dist, env)).await
    }

    /// Stops this server (SIGTERM, then waits) and starts a new one on the same
    /// data directory and settings, as an operator's restart would.
    pub async fn restart(mut self) -> anyhow::Result<Self> {
        self.stop().await?;
        self.start_again().await
    }

    async fn start(data: DataDir, mut env: Vec<(String, String)>) -> anyhow::Result<Self> {
        add_database(&mut env).await?;
        let binary = server_binary();
        if !binary.exists() {
            bail!(
                "{} is missing: build it with `cargo build -p natter-backend` (make test does)",
                binary.display()
            );
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.path().join("server.log"))?;
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NATTER_BIND", "127.0.0.1:0")
            .env("NATTER_DATA_DIR", data.path())
            .env("NATTER_STATIC_DIR", data.path().join("no-dist"))
            .env(
                "RUST_LOG",
                std::env::var("NATTER_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("natter listening on ") {
                    return anyhow::Ok(url.trim().to_owned());
                }
            }
            bail!(
                "server exited before listening; see {}",
                data.path().join("server.log").display()
            )
        })
        .await
        .context("server did not start within 60 s")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, url, data, env })
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// `natter-server admin` on this server's data directory and database
    /// (its PostgreSQL one, if any); the caller adds the task.
    pub fn admin_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(server_binary());
        command
            .envs(self.env.iter().filter(|(key, _)| key == "NATTER_DATABASE_URL").cloned())
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("admin");
        command
    }

    /// Absolute URL for a path like `api/v1/me`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    /// The largest resident memory the server has had so far, in bytes
    /// (`VmHWM`), on Linux.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM in /proc/<pid>/status")?;
        Ok(kib * 1024)
    }

    /// The server's log so far (its stderr), for assertions and failure output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL, as a crash would, and starts it again
    /// on the same data directory.
    pub async fn crash_and_restart(mut self) -> anyhow::Result<Self> {
        self.crash().await?;
        self.start_again().await
    }

    /// Kills the server (SIGKILL) and waits for it to be gone: a crash.
    pub async fn crash(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Starts anew on the same data directory, settings and port, so
    /// clients' URLs stay valid.
    pub async fn start_again(&mut self) -> anyhow::Result<Self> {
        let data = std::mem::replace(&mut self.data, DataDir::Borrowed(PathBuf::new()));
        let mut env = std::mem::take(&mut self.env);
        let addr = self.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        env.retain(|(k, _)| k != "NATTER_BIND");
        env.push(("NATTER_BIND".into(), addr));
        Self::start(data, env).await
    }

    /// Graceful stop: SIGTERM, then wait for the process to exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let status = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()?;
            if !status.success() {
                bail!("kill -TERM {pid} failed");
            }
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("server did not stop within 30 s of SIGTERM")??;
        Ok(())
    }
}
