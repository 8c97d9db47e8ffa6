//! `admin stats`, `admin backup <dir>` and `admin restore <dir>`.
//!
//! A backup is taken while the server runs: `VACUUM INTO` copies the
//! database as of one read transaction (so every message acknowledged
//! before the backup started is in it), then the images that copy refers
//! to are copied beside it, and the VAPID key (push subscriptions are bound
//! to it). The search index is not backed up: it is rebuilt from the logs
//! at start.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;

use crate::{
    config::Config,
    data_lock::DataLock,
    db::{self, maintenance::Checked, Db},
    media::MediaStore,
};

const BACKUP_DB: &str = "natter.db";

/// Prints what the server holds.
pub async fn stats(config: &Config, db: &Db) -> anyhow::Result<()> {
    let db::maintenance::Counts {
        users,
        disabled,
        direct,
        groups,
        messages,
        events,
        images,
        image_bytes,
    } = db::maintenance::counts(db).await?;
    let database = file_size(&database_path(config)?) + file_size(&database_path(config)?.with_extension("db-wal"));
    println!("users:          {users} ({disabled} disabled)");
    println!("conversations:  {} ({direct} direct, {groups} groups)", direct + groups);
    println!("messages:       {messages} ({events} events in all)");
    println!("images:         {images} ({image_bytes} bytes, thumbnails besides)");
    println!("database bytes: {database}");
    Ok(())
}

/// Copies the database (consistently, while the server may run) and the
/// images it refers to into `dir`, which must not hold a backup already.
pub async fn backup(config: &Config, db: &Db, dir: &Path) -> anyhow::Result<()> {
    let Some(pool) = db.sqlite() else {
        bail!("on PostgreSQL, back up with pg_dump (and copy the media directory and vapid.key)");
    };
    let target = dir.join(BACKUP_DB);
    if target.exists() {
        bail!("{} exists already: back up into a new directory", target.display());
    }
    std::fs::create_dir_all(dir.join("media")).with_context(|| format!("cannot create {}", dir.display()))?;
    db::maintenance::copy_to(pool, &target).await?;
    let copy = Checked::open(&target)?;
    let messages = copy.messages()?;
    let ids = copy.media_ids()?;
    copy_key(&config.data_dir, dir)?;
    let store = MediaStore::at(&config.media_dir());
    let backup_store = MediaStore::at(&dir.join("media"));
    let mut missing = 0;
    for id in &ids {
        for (from, to) in [
            (store.image_path(id), backup_store.image_path(id)),
            (store.thumb_path(id), backup_store.thumb_path(id)),
        ] {
            // An image deleted (with its message) since the copy was taken.
            if std::fs::copy(&from, &to).is_err() {
                missing += 1;
            }
        }
    }
    println!(
        "backed up {messages} messages and {} images into {} (integrity ok{})",
        ids.len(),
        dir.display(),
        if missing > 0 {
            format!("; {missing} image files deleted meanwhile")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Puts the backup in `dir` in place of the database and adds its images,
/// refusing while a server uses the data directory.
pub fn restore(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let _lock = DataLock::take(&config.data_dir)?;
    let source = dir.join(BACKUP_DB);
    drop(Checked::open(&source)?);
    let target = database_path(config)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Copied beside, then renamed over: never half a database in place.
    let staging = target.with_extension("db.restoring");
    std::fs::copy(&source, &staging).with_context(|| format!("cannot copy to {}", staging.display()))?;
    for stale in ["db-wal", "db-shm", "search.db", "search.db-wal", "search.db-shm"] {
        let _ = std::fs::remove_file(target.with_extension(stale));
    }
    std::fs::rename(&staging, &target)?;
    // The restored subscriptions were made with the backup's key.
    copy_key(dir, &config.data_dir)?;
    let store = MediaStore::open(&config.media_dir())?;
    let mut images = 0;
    if let Ok(entries) = std::fs::read_dir(dir.join("media")) {
        for entry in entries.flatten().filter(|e| e.path().is_file()) {
            let name = entry.file_name();
            let to = store.image_path(&name.to_string_lossy());
            if !to.exists() {
                std::fs::copy(entry.path(), &to)?;
                images += 1;
            }
        }
    }
    println!(
        "restored {} from {} ({images} image files added); the search index is rebuilt at start",
        target.display(),
        dir.display()
    );
    Ok(())
}

/// Copies the VAPID key from one directory to another, if there is one,
/// readable by its owner only.
fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    let source = from.join(crate::push::vapid::KEY_FILE);
    if !source.exists() {
        return Ok(());
    }
    let target = to.join(crate::push::vapid::KEY_FILE);
    std::fs::copy(&source, &target).with_context(|| format!("cannot copy {}", source.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn database_path(config: &Config) -> anyhow::Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(&config.database_url())?;
    Ok(options.get_filename().to_owned())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
