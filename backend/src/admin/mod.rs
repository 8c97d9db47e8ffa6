//! `natter-server admin …`: operator tasks run against the same database
//! as the server, without the server running. `provision` creates test
//! accounts, sessions, contacts, a group and history in bulk for the load
//! generator (thousands of argon2 logins would measure argon2, not natter).

mod accounts;
mod backup;
mod corpus;

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use natter_common::{
    api::Role,
    events::{EventBody, MessageContent},
    ids::{ConversationId, UserId},
    validate::{DisplayName, GroupName, Username},
};
use serde::Serialize;

use crate::{
    auth::token,
    config::Config,
    db::{self, log_tx::LogConn, Db},
};

/// Operator tasks. `users`, `sessions`, `stats` and `backup` work beside a
/// running server; `restore` needs it stopped.
#[derive(Debug, Subcommand)]
pub enum AdminTask {
    /// Create load-test users with sessions, contacts, a group and history.
    Provision(ProvisionArgs),
    /// Accounts: list, show, create, reset a password, disable, enable.
    #[command(subcommand)]
    Users(accounts::UsersTask),
    /// Sign users out.
    #[command(subcommand)]
    Sessions(accounts::SessionsTask),
    /// Users, conversations, messages and images held.
    Stats,
    /// A consistent copy of the database and its images, taken while the server runs.
    Backup { dir: PathBuf },
    /// Put a backup in place (the server must be stopped).
    Restore { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// How many users (named `<prefix>0`, `<prefix>1`, …).
    #[arg(long)]
    pub users: u32,
    #[arg(long, default_value = "lg")]
    pub prefix: String,
    /// Make each user a contact of the next `ring` users (0: no contacts).
    #[arg(long, default_value_t = 1)]
    pub ring: u32,
    /// Make the first user a contact of every other user (with or without `ring`).
    #[arg(long)]
    pub star: bool,
    /// Put the first this-many users in one group (0: no group).
    #[arg(long, default_value_t = 0)]
    pub group_size: u32,
    /// Store this many messages in the first pair's direct conversation.
    #[arg(long, default_value_t = 0)]
    pub history: u32,
    /// Create this many groups for a search corpus (see `--corpus-messages`).
    #[arg(long, default_value_t = 0)]
    pub corpus_groups: u32,
    /// Messages in English, Chinese and both, spread over the corpus groups.
    #[arg(long, default_value_t = 0)]
    pub corpus_messages: u32,
    /// The first user is in this many of the corpus groups.
    #[arg(long, default_value_t = 50)]
    pub corpus_member_of: u32,
    /// Where to write the JSON description (users, tokens, conversations).
    #[arg(long)]
    pub out: PathBuf,
}

/// What the load generator reads back.
#[derive(Debug, Serialize)]
pub struct Provisioned {
    pub users: Vec<ProvisionedUser>,
    /// `[user_a, user_b, conversation]` for every contact pair.
    pub pairs: Vec<(i64, i64, i64)>,
    pub group: Option<i64>,
    pub history_conversation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<corpus::Corpus>,
}

#[derive(Debug, Serialize)]
pub struct ProvisionedUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

pub async fn run(config: &Config, task: AdminTask) -> anyhow::Result<()> {
    let pool = || async {
        std::fs::create_dir_all(&config.data_dir)?;
        Db::connect(&config.database_url()).await
    };
    match task {
        AdminTask::Provision(args) => provision(config, args).await,
        AdminTask::Users(task) => accounts::users(config, &pool().await?, task).await,
        AdminTask::Sessions(task) => accounts::sessions(config, &pool().await?, task).await,
        AdminTask::Stats => backup::stats(config, &pool().await?).await,
        AdminTask::Backup { dir } => backup::backup(config, &pool().await?, &dir).await,
        AdminTask::Restore { dir } => backup::restore(config, &dir),
    }
}

async fn provision(config: &Config, args: ProvisionArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Db::connect(&config.database_url()).await?;
    // One hash for everyone: provisioning measures nothing about argon2.
    let hash = crate::auth::Passwords::new()?.hash("load-test-password".into()).await?;
    let now = db::now_ms();
    let expires = now + 7 * 24 * 3600 * 1000;
    let mut users = Vec::with_capacity(args.users as usize);

    let mut tx = db.begin_write().await?;
    for i in 0..args.users {
        let name = format!("{}{i}", args.prefix);
        let username = Username::parse(&name).context("prefix makes invalid usernames")?;
        let display = DisplayName::parse(&name)?;
        let db::users::Created::Ok(row) = db::users::create(&mut tx, &username, &display, &hash, now).await? else {
            anyhow::bail!("user {name} exists already: use another --prefix or a fresh data dir");
        };
        let (token, token_hash) = token::generate();
        let new = db::sessions::NewSession {
            user_id: UserId(row.id),
            token_hash: &token_hash,
            device_name: "load generator",
            now,
            expires_at: expires,
        };
        db::sessions::create(&mut tx, new).await?;
        users.push(ProvisionedUser {
            id: row.id,
            username: name,
            token,
        });
    }

    let mut pairs = Vec::new();
    let n = users.len();
    let ring = (0..n).flat_map(|i| (1..=args.ring as usize).map(move |step| (i, (i + step) % n)));
    let star = (1..n).filter(|_| args.star).map(|j| (0, j));
    // Each pair once, however the ring wraps or overlaps the star.
    let mut linked = std::collections::HashSet::new();
    for (i, j) in ring.chain(star) {
        if j == i || !linked.insert((i.min(j), i.max(j))) {
            continue;
        }
        let (a, b) = (UserId(users[i].id), UserId(users[j].id));
        let conversation = db::conversations::direct(&mut tx, a, b, now).await?;
        db::contacts::add_pair(&mut tx, a, b, conversation, now).await?;
        pairs.push((a.0, b.0, conversation.0));
    }

    let group = if args.group_size > 0 {
        let name = GroupName::parse(&format!("{} load group", args.prefix))?;
        let id = db::conversations::create_group(&mut tx, &name, now).await?;
        for (k, user) in users.iter().take(args.group_size as usize).enumerate() {
            let role = if k == 0 { Role::Owner } else { Role::Member };
            db::members::add(&mut tx, id, UserId(user.id), role, now).await?;
        }
        Some(id.0)
    } else {
        None
    };
    tx.commit().await?;

    let history_conversation = match (args.history, pairs.first()) {
        (0, _) | (_, None) => None,
        (count, Some(&(a, _, conversation))) => {
            fill_history(&db, ConversationId(conversation), UserId(a), count).await?;
            Some(conversation)
        }
    };

    let corpus = if args.corpus_groups > 0 {
        let plan = corpus::Plan {
            groups: args.corpus_groups,
            messages: args.corpus_messages,
            member_of: args.corpus_member_of,
        };
        let ids: Vec<UserId> = users.iter().map(|u| UserId(u.id)).collect();
        Some(corpus::write(&db, &ids, &plan).await?)
    } else {
        None
    };

    // The server starts as it would on a database that has been running.
    db::maintenance::settle_after_bulk_writes(&db).await?;

    let description = Provisioned {
        users,
        pairs,
        group,
        history_conversation,
        corpus,
    };
    let mut file = std::fs::File::create(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    file.write_all(&serde_json::to_vec(&description)?)?;
    println!(
        "provisioned {} users, {} contact pairs{} into {}",
        description.users.len(),
        description.pairs.len(),
        description.group.map(|g| format!(", group {g}")).unwrap_or_default(),
        args.out.display()
    );
    Ok(())
}

/// Appends `count` text messages, 10 000 per transaction, through the
/// log's own append (the server is not running, so nothing is delivered).
async fn fill_history(db: &Db, conversation: ConversationId, sender: UserId, count: u32) -> anyhow::Result<()> {
    let mut conn = LogConn::open(db)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut written = 0;
        while written < count {
            let batch = (count - written).min(10_000);
            let tx = conn.write()?;
            for k in 0..batch {
                let text = format!("history message {}", written + k);
                let body = EventBody::Message {
                    content: MessageContent::Text { text },
                    reply_to: None,
                    mentions: vec![],
                };
                db::append::event(&tx, conversation, sender, None, body, db::now_ms())?;
            }
            tx.commit()?;
            written += batch;
        }
        Ok(())
    })
    .await?
}
