//! A throwaway NATS server for tests of several nodes: Debian's
//! `nats-server` (`scripts/bootstrap.sh --browser` installs it) on a port of
//! its choosing on loopback, stopped when dropped (or when the test process
//! dies).

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

pub struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("natter-nats-").tempdir()?;
        let (child, url) = spawn(dir.path(), "-1")?;
        Ok(Self { child, url, _dir: dir })
    }

    /// Kills the server (clients see it vanish).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections stay open, notes wait in
    /// the nodes' buffers, as on a congested network.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGCONT)
    }

    fn signal(&self, signal: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill has no memory effects; the pid is our own child's.
        if unsafe { libc::kill(pid, signal) } != 0 {
            anyhow::bail!("cannot signal nats-server: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Starts it again on the same port, after [`Self::kill`].
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let port = self.url.rsplit(':').next().unwrap_or_default().to_owned();
        let (child, _) = spawn(self._dir.path(), &port)?;
        self.child = child;
        Ok(())
    }
}

/// Starts nats-server on `port` (`-1`: one of its choosing) and waits for
/// it to listen; returns it and its URL.
fn spawn(dir: &Path, port: &str) -> anyhow::Result<(Child, String)> {
    let ports_dir = dir.join(format!("ports-{port}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir_all(&ports_dir)?;
    let mut command = Command::new("nats-server");
    command
        .args(["-a", "127.0.0.1", "-p", port, "--ports_file_dir"])
        .arg(&ports_dir)
        .arg("-l")
        .arg(dir.join("nats.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; it only sets this child's
    // parent-death signal.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .context("cannot start nats-server (run scripts/bootstrap.sh --browser)")?;
    let ports = ports_dir.join(format!("nats-server_{}.ports", child.id()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Written whole once the server listens.
        let found = std::fs::read_to_string(&ports)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|ports| ports["nats"][0].as_str().map(str::to_owned));
        if let Some(url) = found {
            return Ok((child, url));
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("nats.log")).unwrap_or_default();
            bail!("nats-server did not start in 20 s: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
