//! Message search: an index fed from the conversation logs by its own
//! thread ([`index`]), the words it compares ([`words`]), and finding a
//! caller's messages in it ([`Search::find`]).

mod index;
mod snippet;
pub mod words;

use std::{collections::HashSet, path::Path, str::FromStr, sync::Arc};

use anyhow::Context;
use natter_common::{
    api::MessageHit,
    events::{EventBody, MessageContent},
    ids::{ConversationId, UserId},
};
use sqlx::{sqlite::SqliteConnectOptions, SqlitePool};

pub use index::Feed;
use words::Query;

use crate::db::{self, log_tx::LogConn, Db};

/// Past this many conversations a caller's scope is checked on each hit
/// rather than written into the index query (an OR of that many terms).
const SCOPE_IN_QUERY_MAX: usize = 500;
/// Index entries looked at per request at most; past it, a page ends early
/// with a cursor to go on from.
const EXAMINED_MAX: usize = 2000;

/// The search index: cheap to clone.
#[derive(Clone)]
pub struct Search {
    /// Reads the index.
    index: SqlitePool,
    feed: Arc<Feed>,
    indexer: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

/// What to look in besides the query's words.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub conversation: Option<ConversationId>,
    pub from: Option<UserId>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// Only hits before this one (a page's `next_cursor`).
    pub cursor: Option<i64>,
    pub limit: u32,
}

/// A page of hits, and where the next one starts.
pub struct Found {
    pub hits: Vec<MessageHit>,
    pub next_cursor: Option<i64>,
}

impl Search {
    /// Opens (or creates, or rebuilds) the index (beside an SQLite
    /// database, else in `data_dir`: each node keeps its own) and starts its
    /// indexer thread.
    pub async fn start(db: &Db, data_dir: &Path) -> anyhow::Result<Self> {
        let path = match db {
            Db::Sqlite(pool) => pool.connect_options().get_filename().with_extension("search.db"),
            Db::Postgres(_) => data_dir.join("natter.search.db"),
        };
        let main = LogConn::open(db).context("the search indexer cannot open the database")?;
        let index = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                index::open(&path).with_context(|| format!("cannot open the search index {}", path.display()))
            })
            .await??
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .read_only(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let reader = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .context("cannot read the search index")?;
        let feed = Arc::new(Feed::default());
        let indexing = feed.clone();
        let indexer = std::thread::Builder::new()
            .name("natter-indexer".into())
            .spawn(move || index::run(main, index, indexing))
            .context("cannot start the search indexer")?;
        Ok(Self {
            index: reader,
            feed,
            indexer: Arc::new(std::sync::Mutex::new(Some(indexer))),
        })
    }

    /// Where the log's writer says which conversations changed.
    pub fn feed(&self) -> Arc<Feed> {
        self.feed.clone()
    }

    /// Stops indexing after the batch at hand (at shutdown); what is
    /// indexed so far stays, and the rest is indexed at the next start.
    pub async fn stop(&self) {
        self.index.close().await;
        self.feed.stop();
        let indexer = self
            .indexer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(indexer) = indexer {
            let _ = tokio::task::spawn_blocking(move || indexer.join()).await;
        }
    }

    /// Messages matching `query` in `conversations` (the caller's, or the
    /// one asked for), newest first, as they read now.
    pub async fn find(
        &self,
        db: &Db,
        query: &Query,
        conversations: &[ConversationId],
        filters: &Filters,
    ) -> sqlx::Result<Found> {
        let mut found = Found {
            hits: Vec::new(),
            next_cursor: None,
        };
        if conversations.is_empty() {
            return Ok(found);
        }
        let mut expr = query.fts("body");
        let checked: Option<HashSet<ConversationId>> = if conversations.len() <= SCOPE_IN_QUERY_MAX {
            let scope: Vec<String> = conversations.iter().map(|c| format!("c{}", c.0)).collect();
            expr.push_str(&format!(" AND scope : ({})", scope.join(" OR ")));
            None
        } else {
            Some(conversations.iter().copied().collect())
        };
        if let Some(from) = filters.from {
            // Quoted: an id is any i64, and `u-1` bare is a syntax error.
            expr.push_str(&format!(" AND scope : \"u{}\"", from.0));
        }
        let low = filters.after.map_or(0, index::key_at);
        let mut high = filters.cursor.unwrap_or(i64::MAX);
        if let Some(before) = filters.before {
            high = high.min(index::key_at(before));
        }
        let limit = filters.limit as usize;
        let mut examined = 0;
        loop {
            // One more than a page, to know whether another follows.
            let chunk = (limit - found.hits.len() + 1).max(16);
            let candidates: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT d.key, d.conversation_id, d.seq
                 FROM (SELECT rowid AS key FROM hits
                       WHERE hits MATCH ?1 AND rowid >= ?2 AND rowid < ?3
                       ORDER BY rowid DESC LIMIT ?4) h
                 JOIN docs d ON d.key = h.key
                 ORDER BY d.key DESC",
            )
            .bind(&expr)
            .bind(low)
            .bind(high)
            .bind(chunk as i64)
            .fetch_all(&self.index)
            .await?;
            let exhausted = candidates.len() < chunk;
            for (key, conversation, seq) in candidates {
                if found.hits.len() == limit {
                    // One left over: the page is full and another follows.
                    return Ok(found);
                }
                examined += 1;
                high = key;
                let conversation = ConversationId(conversation);
                if checked.as_ref().is_some_and(|set| !set.contains(&conversation)) {
                    continue;
                }
                if let Some(hit) = hit(db, query, conversation, seq).await? {
                    found.hits.push(hit);
                    found.next_cursor = Some(key);
                }
            }
            if exhausted {
                found.next_cursor = None;
                return Ok(found);
            }
            if examined >= EXAMINED_MAX {
                // Enough for one request: the next page goes on from here.
                found.next_cursor = Some(high);
                return Ok(found);
            }
        }
    }
}

/// The message at `seq` as a hit, if it still reads as the query asks (the
/// index may not have caught up with an edit or a deletion yet).
async fn hit(db: &Db, query: &Query, conversation: ConversationId, seq: i64) -> sqlx::Result<Option<MessageHit>> {
    let Some((event, edited_at)) = db::events::at(db, conversation, seq).await? else {
        return Ok(None);
    };
    let EventBody::Message {
        content: MessageContent::Text { text },
        ..
    } = event.body
    else {
        return Ok(None);
    };
    Ok(query.matches(&text).map(|matches| MessageHit {
        conversation_id: conversation,
        seq,
        id: event.id,
        sender: event.sender,
        created_at: event.created_at,
        edited_at,
        snippet: snippet::around(&text, &matches),
    }))
}
