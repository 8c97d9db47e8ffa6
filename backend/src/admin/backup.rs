//! `admin stats`, `admin backup <dir>` and `admin restore <dir>`.
//!
//! A backup is taken while the server runs: `VACUUM INTO` copies the
//! database as of one read transaction (so every message acknowledged
//! before the backup started is in it), then the images that copy refers
//! to are copied beside it. The search index is not backed up: it is
//! rebuilt from the logs at start.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags};
use sqlx::{sqlite::SqliteConnectOptions, SqlitePool};

use crate::{config::Config, data_lock::DataLock, media::MediaStore};

const BACKUP_DB: &str = "natter.db";

/// Prints what the server holds.
pub async fn stats(config: &Config, pool: &SqlitePool) -> anyhow::Result<()> {
    let count = |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await };
    let users = count("SELECT count(*) FROM users").await?;
    let disabled = count("SELECT count(*) FROM users WHERE disabled_at IS NOT NULL").await?;
    let direct = count("SELECT count(*) FROM conversations WHERE kind = 'direct'").await?;
    let groups = count("SELECT count(*) FROM conversations WHERE kind = 'group'").await?;
    let messages = count("SELECT count(*) FROM events WHERE kind = 'message'").await?;
    let events = count("SELECT count(*) FROM events").await?;
    let images = count("SELECT count(*) FROM media").await?;
    let image_bytes = count("SELECT coalesce(sum(size), 0) FROM media").await?;
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
pub async fn backup(config: &Config, pool: &SqlitePool, dir: &Path) -> anyhow::Result<()> {
    let target = dir.join(BACKUP_DB);
    if target.exists() {
        bail!("{} exists already: back up into a new directory", target.display());
    }
    std::fs::create_dir_all(dir.join("media")).with_context(|| format!("cannot create {}", dir.display()))?;
    let target_text = target.to_str().context("the backup path is not UTF-8")?;
    sqlx::query("VACUUM INTO ?1")
        .bind(target_text)
        .execute(pool)
        .await
        .context("copying the database failed")?;

    let copy = open_checked(&target)?;
    let messages: i64 = copy.query_row("SELECT count(*) FROM events WHERE kind = 'message'", [], |r| r.get(0))?;
    let ids: Vec<String> = copy
        .prepare("SELECT id FROM media")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let store = MediaStore::at(&config.data_dir);
    let backup_store = MediaStore::at(dir);
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
    drop(open_checked(&source)?);
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
    let store = MediaStore::open(&config.data_dir)?;
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

/// Opens a database file read-only and checks it through.
fn open_checked(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        bail!("{} fails its integrity check: {verdict}", path.display());
    }
    Ok(conn)
}

fn database_path(config: &Config) -> anyhow::Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(&config.database_url())?;
    Ok(options.get_filename().to_owned())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
