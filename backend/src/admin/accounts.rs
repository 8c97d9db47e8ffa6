//! `admin users …` and `admin sessions …`: accounts by hand, on the same
//! database as a running server (SQLite in WAL mode takes both). A running
//! server ends a signed-out session's open WebSockets at its next session
//! check (`--session-check-secs`).

use std::io::Read;

use crate::db::Db;
use anyhow::{bail, Context};
use clap::Subcommand;
use natter_common::{
    ids::{SessionId, UserId},
    validate::{check_new_password, DisplayName, Username},
};
use rand::{distr::Alphanumeric, Rng};

use std::sync::Arc;

use crate::{
    auth::Passwords, bus::Bus, config::Config, data_lock::DataLock, db, hub, hub::Hub, log::Log, media::MediaStore,
    search::Feed, social,
};

#[derive(Debug, Subcommand)]
pub enum UsersTask {
    /// Accounts by username.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One account.
    Show { username: String },
    /// Create an account; prints a new password unless one comes on stdin.
    Create {
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (printed, or read from stdin) and sign out everywhere.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Refuse sign-ins and sign out everywhere; history stays.
    Disable { username: String },
    /// Allow sign-ins again.
    Enable { username: String },
    /// Delete the account as `DELETE /api/v1/me` does: its groups are left
    /// through the log, run here. On SQLite the server must be stopped; on
    /// PostgreSQL the nodes may run, and hear of it on their bus.
    Delete { username: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionsTask {
    /// Sign a user out: one session (`--id`) or all of them.
    Revoke {
        username: String,
        #[arg(long)]
        id: Option<i64>,
    },
}

pub async fn users(config: &Config, db: &Db, task: UsersTask) -> anyhow::Result<()> {
    let now = db::now_ms();
    match task {
        UsersTask::List { limit } => {
            println!(
                "{:>8}  {:<32}  {:<10}  {:>8}  display name",
                "id", "username", "state", "sessions"
            );
            for a in db::users::accounts(db, now, limit).await? {
                let state = if a.disabled_at.is_some() { "disabled" } else { "active" };
                println!(
                    "{:>8}  {:<32}  {state:<10}  {:>8}  {}",
                    a.id, a.username, a.sessions, a.display_name
                );
            }
        }
        UsersTask::Show { username } => {
            let a = find(db, &username).await?;
            println!("id:           {}", a.id);
            println!("username:     {}", a.username);
            println!("display name: {}", a.display_name);
            println!("created at:   {} (Unix ms)", a.created_at);
            match a.disabled_at {
                Some(at) => println!("state:        disabled at {at} (Unix ms)"),
                None => println!("state:        active"),
            }
            println!("sessions:     {}", a.sessions);
        }
        UsersTask::Create {
            username,
            display_name,
            password_stdin,
        } => {
            let name = Username::parse(&username).map_err(|e| anyhow::anyhow!(e.message))?;
            let display = DisplayName::parse(display_name.as_deref().unwrap_or(&username))
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let (password, generated) = password(password_stdin)?;
            let hash = Passwords::new()?.hash(password.clone()).await?;
            match db::users::create(db, &name, &display, &hash, now).await? {
                db::users::Created::Ok(row) => println!("created {} (id {})", row.username, row.id),
                db::users::Created::UsernameTaken => bail!("the username {username} is taken"),
            }
            if generated {
                println!("password: {password}");
            }
        }
        UsersTask::ResetPassword {
            username,
            password_stdin,
        } => {
            let a = find(db, &username).await?;
            let (password, generated) = password(password_stdin)?;
            let hash = Passwords::new()?.hash(password.clone()).await?;
            db::users::set_password(db, UserId(a.id), &hash, now).await?;
            let ended = db::sessions::revoke_all(db, UserId(a.id)).await?;
            println!("new password set for {}; {ended} sessions signed out", a.username);
            end_on_nodes(config, ended, UserId(a.id), None).await;
            if generated {
                println!("password: {password}");
            }
        }
        UsersTask::Disable { username } => {
            let a = find(db, &username).await?;
            db::users::set_disabled(db, UserId(a.id), Some(now)).await?;
            let ended = db::sessions::revoke_all(db, UserId(a.id)).await?;
            println!("disabled {}; {ended} sessions signed out", a.username);
            end_on_nodes(config, ended, UserId(a.id), None).await;
        }
        UsersTask::Enable { username } => {
            let a = find(db, &username).await?;
            db::users::set_disabled(db, UserId(a.id), None).await?;
            println!("enabled {}", a.username);
        }
        UsersTask::Delete { username } => {
            // SQLite takes one writer, the server's, which must be stopped;
            // PostgreSQL takes several, so the nodes keep running.
            let _lock = match db {
                Db::Sqlite(_) => Some(DataLock::take(&config.data_dir)?),
                Db::Postgres(_) => None,
            };
            let a = find(db, &username).await?;
            let user = UserId(a.id);
            // On the bus the running nodes hear the groups' `member_removed`
            // as they happen, and close the account's connections.
            let bus = match &config.nats_url {
                Some(url) => Some(Bus::connect(url).await?.0),
                None => None,
            };
            // The log's own writer, here, as one more node.
            let media = MediaStore::open(&config.media_dir())?;
            let hub = Hub::new(db.clone(), bus.clone());
            let log = Log::start(db, hub.clone(), media.clone(), Arc::new(Feed::default()), None)?;
            let deleted = social::leaving::delete_account(&log, db, &media, user).await;
            log.stop().await;
            deleted.map_err(|err| anyhow::anyhow!("{err}"))?;
            hub.end_user(user);
            println!("deleted {}; their messages stay, from Deleted user", a.username);
            if let Some(bus) = bus {
                match bus.settle().await {
                    Ok(()) => println!("the running nodes were told"),
                    Err(err) => eprintln!(
                        "the running nodes may not have been told ({err:#}); they close the account's connections at their next session check"
                    ),
                }
            }
        }
    }
    Ok(())
}

pub async fn sessions(config: &Config, db: &Db, task: SessionsTask) -> anyhow::Result<()> {
    match task {
        SessionsTask::Revoke { username, id } => {
            let a = find(db, &username).await?;
            let ended = match id {
                Some(id) => u64::from(db::sessions::revoke(db, UserId(a.id), SessionId(id)).await?),
                None => db::sessions::revoke_all(db, UserId(a.id)).await?,
            };
            println!("{ended} sessions of {} signed out", a.username);
            end_on_nodes(config, ended, UserId(a.id), id.map(SessionId)).await;
        }
    }
    Ok(())
}

/// Closes the signed-out user's open connections at once on the nodes that
/// share a bus, when `ended` sessions were signed out. Without one (or if it
/// can't be reached), each server ends them at its next session check
/// (`--session-check-secs`).
async fn end_on_nodes(config: &Config, ended: u64, user: UserId, session: Option<SessionId>) {
    let (Some(url), true) = (&config.nats_url, ended > 0) else {
        return;
    };
    match hub::nodes::end_sessions_on_nodes(url, user, session).await {
        Ok(()) => println!("the running nodes were told to close their connections"),
        Err(err) => eprintln!(
            "the running nodes were not told ({err:#}); they close those connections at their next session check"
        ),
    }
}

async fn find(db: &Db, username: &str) -> anyhow::Result<db::users::Account> {
    db::users::account(db, db::now_ms(), username)
        .await?
        .with_context(|| format!("no user {username}"))
}

/// A password from stdin (checked like one chosen in the app), or a new
/// random one; and whether it was generated.
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        let generated: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        return Ok((generated, true));
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = input.trim_end_matches(['\n', '\r']).to_owned();
    check_new_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
    Ok((password, false))
}
