//! One server per data directory: two would be two writers on one SQLite
//! file and one media folder. The server holds an exclusive lock on
//! `<data>/natter.lock` while it runs (the kernel drops it when the process
//! ends, however it ends); `admin restore` takes the same lock, so it never
//! replaces a database under a running server.

use std::{fs::File, os::fd::AsRawFd, path::Path};

use anyhow::Context;

/// Held while the data directory is in use.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Takes the lock on `data_dir`, or fails at once if another process holds it.
    pub fn take(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("natter.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: a valid descriptor owned by `file`, which outlives the call.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if taken != 0 {
            anyhow::bail!("another natter-server is using {} (stop it first)", data_dir.display());
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataLock::take(dir.path()).unwrap();
        assert!(DataLock::take(dir.path()).is_err());
        drop(first);
        assert!(DataLock::take(dir.path()).is_ok());
    }
}
