//! Uploaded images: where they live on disk and how an upload becomes a
//! stored, metadata-free image with a thumbnail.

mod process;

pub use process::{process, Processed, Refused};

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The media folder: `<data>/media/<sha256>` (image), `<sha256>.thumb`, and
/// `tmp/` for uploads in flight.
#[derive(Clone)]
pub struct MediaStore {
    root: PathBuf,
    /// Decodes running at once: each may take hundreds of MiB (a
    /// 40-megapixel image, its re-encoding and its thumbnail), so twenty
    /// uploads at once must queue rather than all decode together.
    decodes: Arc<Semaphore>,
}

/// Images decoded at once.
const DECODES_AT_ONCE: usize = 2;
/// An upload's temporary file older than this is a crash's leftover: far
/// longer than the longest upload timeout anyone sets.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

impl MediaStore {
    /// Opens (creating) the folder `root`. Leftovers of uploads a crash
    /// interrupted are removed once older than any upload may take, so that
    /// another node's uploads in progress in a shared folder stay.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("tmp")).with_context(|| format!("cannot create {}", root.display()))?;
        if let Ok(entries) = std::fs::read_dir(root.join("tmp")) {
            for entry in entries.flatten() {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|at| at.elapsed().unwrap_or_default());
                if age.is_ok_and(|age| age > LEFTOVER_AGE) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self::at(root))
    }

    /// The folder `root` as it is, for reading and copying files (a backup
    /// beside a running server): nothing is created or cleaned, unlike
    /// [`MediaStore::open`].
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            decodes: Arc::new(Semaphore::new(DECODES_AT_ONCE)),
        }
    }

    /// Waits for a turn to decode an image; the turn ends when the permit drops.
    pub async fn decode_turn(&self) -> OwnedSemaphorePermit {
        self.decodes
            .clone()
            .acquire_owned()
            .await
            .expect("the decode semaphore is never closed")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn image_path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn thumb_path(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.thumb"))
    }

    /// Removes an image and its thumbnail (no message shows it any more).
    pub async fn remove(&self, id: &str) {
        for path in [self.image_path(id), self.thumb_path(id)] {
            if let Err(err) = tokio::fs::remove_file(&path).await {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%err, path = %path.display(), "cannot remove a deleted image");
                }
            }
        }
    }

    /// Writes a file atomically (temp file, then rename), unless it exists.
    pub fn put(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
        std::io::Write::write_all(&mut tmp, bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// True for a well-formed media id (64 lowercase hex digits).
pub fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
