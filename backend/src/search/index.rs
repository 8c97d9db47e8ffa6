//! The indexer: a thread that follows the conversation logs and keeps the
//! search index in step with messages as they are now — a new message is
//! added, an edit replaces its message's words, a deletion removes them.
//!
//! It runs beside the log's writer, not inside its transactions: the writer
//! only notes which conversations changed ([`Feed::touched`]), and the
//! indexer reads what is new in each from its own progress mark (by seq),
//! so a send waits for nothing here. At start it looks at every
//! conversation once, which also builds a new index from the whole log.
//!
//! The index lives in its own SQLite file: derived data, rebuilt when its
//! schema changes or it is deleted, whose writes never hold the log's lock.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, Condvar, Mutex, PoisonError},
    time::Duration,
};

use natter_common::{
    events::{EventBody, MessageContent},
    ids::ConversationId,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::words;
use crate::db::{
    self,
    events::Stored,
    log_tx::{self, LogConn},
};

/// Bump to rebuild every index from the log (a change of words or schema).
const SCHEMA_VERSION: i64 = 1;

/// Events indexed per transaction.
const BATCH: usize = 2000;
/// Once caught up, how long new changes gather before they are indexed:
/// each transaction writes a segment that FTS5 later merges, so a few
/// larger ones cost far less than one per message.
const LINGER: Duration = Duration::from_millis(100);

/// A document's key is its message's time in ms shifted left this far, plus
/// a counter: keys sort newest first, and a time filter is a key range.
pub const KEY_SHIFT: u32 = 21;
/// Keys per millisecond.
const KEY_SPAN: i64 = 1 << KEY_SHIFT;

const SCHEMA: &str = "
    -- Which message a document is, and the terms it was indexed with: the
    -- index needs them to take a document out completely (an edit or a
    -- deletion has overwritten the text in the log by then). A message's
    -- document is found by its key's time, with no index of its own.
    CREATE TABLE docs (
        key             INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL,
        seq             INTEGER NOT NULL,
        sender_id       INTEGER NOT NULL,
        -- The message's terms (words.rs), space-separated.
        body            TEXT    NOT NULL,
        -- Where it is, as terms: a search is limited to the caller's
        -- conversations (and a sender) inside the index.
        scope           TEXT    GENERATED ALWAYS AS ('c' || conversation_id || ' u' || sender_id) VIRTUAL
    );
    CREATE VIRTUAL TABLE hits USING fts5(
        body, scope, content = 'docs', content_rowid = 'key', tokenize = 'ascii',
        -- No per-document sizes: results are newest first, never ranked.
        columnsize = 0
    );
    -- How far each conversation's log is indexed.
    CREATE TABLE progress (
        conversation_id INTEGER PRIMARY KEY,
        seq             INTEGER NOT NULL
    );
";

/// Conversations with changes the indexer has not read yet.
#[derive(Default)]
pub struct Feed {
    state: Mutex<Dirty>,
    wake: Condvar,
}

#[derive(Default)]
struct Dirty {
    conversations: HashSet<i64>,
    stopping: bool,
}

impl Feed {
    /// Notes that these conversations' logs have new events.
    pub fn touched(&self, conversations: impl IntoIterator<Item = ConversationId>) {
        let mut dirty = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = dirty.conversations.len();
        dirty.conversations.extend(conversations.into_iter().map(|c| c.0));
        if dirty.conversations.len() > before {
            self.wake.notify_one();
        }
    }

    /// Conversations with changes not indexed yet (for the metrics).
    pub fn pending(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conversations
            .len()
    }

    pub fn stop(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).stopping = true;
        self.wake.notify_one();
    }

    /// Waits for changed conversations, then `linger` more for others to
    /// join them; `None` once stopping.
    fn take(&self, linger: Duration) -> Option<Vec<i64>> {
        let mut dirty = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if dirty.stopping {
                return None;
            }
            if !dirty.conversations.is_empty() {
                (dirty, _) = self
                    .wake
                    .wait_timeout_while(dirty, linger, |d| !d.stopping)
                    .unwrap_or_else(PoisonError::into_inner);
                if dirty.stopping {
                    return None;
                }
                let mut list: Vec<i64> = dirty.conversations.drain().collect();
                list.sort_unstable();
                return Some(list);
            }
            dirty = self.wake.wait(dirty).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Opens the index at `path`, creating it (or rebuilding it when its schema
/// is older), for the indexer's thread.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Derived data: a crash can lose the last batches, which the progress
    // marks (in the same transactions) then index again.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Removed words don't linger in free pages either.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        if version != 0 {
            tracing::info!(from = version, to = SCHEMA_VERSION, "rebuilding the search index");
        }
        conn.execute_batch(
            "DROP TABLE IF EXISTS hits; DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS progress; VACUUM;",
        )?;
        conn.execute_batch(SCHEMA)?;
        // A removed document's terms leave the index's pages at once rather
        // than when segments are next merged: a deleted message's words
        // must not stay in the file.
        conn.execute("INSERT INTO hits (hits, rank) VALUES ('secure-delete', 1)", [])?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(conn)
}

/// Indexes until the feed stops. `main` reads the log; `index` is [`open`]'s.
pub fn run(mut main: LogConn, mut index: Connection, feed: Arc<Feed>) {
    match main.read().and_then(|tx| db::events::conversation_ids(&tx)) {
        Ok(all) => feed.touched(all),
        Err(err) => tracing::error!(%err, "the search indexer cannot list conversations"),
    }
    lower_priority();
    let mut linger = Duration::ZERO;
    while let Some(conversations) = feed.take(linger) {
        match index_some(&mut main, &mut index, &conversations) {
            Ok(left) => {
                // Behind: go on at once. Caught up: let the next changes gather.
                linger = if left.is_empty() { LINGER } else { Duration::ZERO };
                feed.touched(left);
            }
            Err(err) => {
                tracing::warn!(%err, "indexing for search failed; retrying");
                feed.touched(conversations.into_iter().map(ConversationId));
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    // Leave no earlier versions of pages (removed words) in the WAL.
    if let Err(err) = index.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%err, "emptying the search index's WAL failed");
    }
}

/// Indexing is background work: the log's writer and the fan-out must not
/// wait for it. SCHED_IDLE runs the thread only on a CPU nothing else wants
/// and lets any other thread that wakes take the CPU from it at once (a
/// nice value still costs the sends' latency); it catches up once a burst
/// is over.
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` outlives the call; 0 means the calling thread.
    let done = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if done != 0 {
        tracing::debug!("the search indexer keeps its scheduling priority");
    }
}

/// Indexes what is new in `conversations`, up to [`BATCH`] events in one
/// transaction; returns the conversations with more to do.
fn index_some(
    main: &mut LogConn,
    index: &mut Connection,
    conversations: &[i64],
) -> log_tx::Result<Vec<ConversationId>> {
    let main = main.read()?;
    let tx = index.transaction()?;
    // Each conversation's share of the batch, read in one go; past BATCH
    // conversations, the rest wait for the next.
    let (now, later) = conversations.split_at(conversations.len().min(BATCH));
    let share = (BATCH / now.len().max(1)).max(1);
    // Once each: a conversation taken twice would add its messages twice.
    debug_assert!(now.windows(2).all(|pair| pair[0] < pair[1]), "sorted and distinct");
    let indexed = progress(&tx, now)?;
    let from: Vec<(ConversationId, i64)> = now
        .iter()
        .map(|&conversation| {
            (
                ConversationId(conversation),
                indexed.get(&conversation).copied().unwrap_or(0),
            )
        })
        .collect();
    let mut left: Vec<ConversationId> = later.iter().copied().map(ConversationId).collect();
    let mut changes = Changes::default();
    let mut reached = Vec::with_capacity(from.len());
    for (&(conversation, indexed), mut rows) in from.iter().zip(db::events::after_each(&main, &from, share + 1)?) {
        if rows.len() > share {
            rows.truncate(share);
            left.push(conversation);
        }
        index_conversation(&main, &tx, &mut changes, conversation.0, indexed, &rows)?;
        if let Some(last) = rows.last() {
            reached.push((conversation.0, last.seq));
        }
    }
    // Before the full-text changes: a statement that writes several rows
    // opens a savepoint, at which FTS5 would write out what it holds.
    advance(&tx, &reached)?;
    changes.apply(&tx)?;
    tx.commit()?;
    Ok(left)
}

/// How far each of `conversations` is indexed (those not yet begun are
/// absent), in one statement rather than one per conversation.
fn progress(tx: &Connection, conversations: &[i64]) -> rusqlite::Result<HashMap<i64, i64>> {
    let ids = serde_json::to_string(conversations).unwrap_or_default();
    tx.prepare_cached(
        "SELECT conversation_id, seq FROM progress WHERE conversation_id IN (SELECT value FROM json_each(?1))",
    )?
    .query_map([ids], |row| Ok((row.get(0)?, row.get(1)?)))?
    .collect()
}

/// Moves each conversation's progress to the seq it reached, in one statement.
fn advance(tx: &Connection, reached: &[(i64, i64)]) -> rusqlite::Result<()> {
    if reached.is_empty() {
        return Ok(());
    }
    let pairs = serde_json::to_string(reached).unwrap_or_default();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO progress (conversation_id, seq) SELECT value ->> 0, value ->> 1 FROM json_each(?1)",
    )?
    .execute([pairs])?;
    Ok(())
}

/// Changes to the full-text index, gathered over a transaction and made in
/// key order: FTS5 keeps new terms in memory only while keys grow (or a
/// key's new terms follow its removal), and writes out a segment (to be
/// merged again later) whenever one goes backwards — which, taken in
/// conversation order, would be nearly every message.
#[derive(Default)]
struct Changes(Vec<(i64, Change)>);

enum Change {
    /// A document's terms leave the index (as they were indexed).
    Remove { body: String, scope: String },
    /// A document's terms enter it.
    Add { body: String, scope: String },
}

impl Changes {
    fn apply(mut self, tx: &Connection) -> rusqlite::Result<()> {
        // Stable: within a key, changes stay in the order they were made (a
        // removal before new terms, also when a deleted document's key is
        // given to a new one).
        self.0.sort_by_key(|(key, _)| *key);
        for (key, change) in self.0 {
            match change {
                Change::Remove { body, scope } => tx
                    .prepare_cached("INSERT INTO hits (hits, rowid, body, scope) VALUES ('delete', ?1, ?2, ?3)")?
                    .execute(params![key, body, scope])?,
                // One row of VALUES, not `INSERT … SELECT`: a statement that
                // may write several rows opens a savepoint, and at each one
                // FTS5 writes out what it holds in memory.
                Change::Add { body, scope } => tx
                    .prepare_cached("INSERT INTO hits (rowid, body, scope) VALUES (?1, ?2, ?3)")?
                    .execute(params![key, body, scope])?,
            };
        }
        Ok(())
    }
}

/// Indexes one conversation's events read after its progress (`indexed`),
/// in order.
fn index_conversation(
    main: &log_tx::LogTx,
    tx: &Connection,
    changes: &mut Changes,
    conversation: i64,
    indexed: i64,
    rows: &[db::events::Stored],
) -> log_tx::Result<()> {
    for row in rows {
        // A body this build can't read (from a newer one) has nothing to index.
        match serde_json::from_str::<EventBody>(&row.body) {
            // Rows come from past the progress mark, which moves in the same
            // transactions as the documents (and a pass takes each
            // conversation once): a message new to the index.
            Ok(body @ EventBody::Message { .. }) => {
                debug_assert!(row.seq > indexed, "read from past the progress mark");
                if let Some(text) = text_of(&body) {
                    add(tx, changes, conversation, row, text)?;
                }
            }
            Ok(EventBody::MessageEdited { target, .. } | EventBody::MessageDeleted { target }) => {
                let target = db::events::stored_by_id(main, ConversationId(conversation), &target)?;
                if let Some(target) = target {
                    let body = serde_json::from_str::<EventBody>(&target.body).ok();
                    reindex(
                        tx,
                        changes,
                        conversation,
                        &target,
                        body.as_ref().unwrap_or(&EventBody::Unknown),
                    )?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The words a message's document holds: none when it has no text (deleted,
/// an image) or no word in it.
fn text_of(body: &EventBody) -> Option<String> {
    match body {
        EventBody::Message {
            content: MessageContent::Text { text },
            ..
        } => Some(words::index_text(text)).filter(|t| !t.is_empty()),
        _ => None,
    }
}

/// Makes a message's document match its current text (`body`, parsed from
/// `message`): removed when it has none (deleted, an image), replaced when
/// it changed.
fn reindex(
    tx: &Connection,
    changes: &mut Changes,
    conversation: i64,
    message: &Stored,
    body: &EventBody,
) -> rusqlite::Result<()> {
    let text = text_of(body);
    let base = key_at(message.created_at);
    let existing: Option<(i64, String, String)> = tx
        .prepare_cached(
            "SELECT key, body, scope FROM docs
             WHERE key BETWEEN ?1 AND ?2 AND conversation_id = ?3 AND seq = ?4",
        )?
        .query_row(params![base, base + KEY_SPAN - 1, conversation, message.seq], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    match (existing, text) {
        (Some((_, body, _)), Some(text)) if body == text => {}
        (Some((key, body, scope)), None) => {
            tx.prepare_cached("DELETE FROM docs WHERE key = ?1")?.execute([key])?;
            changes.0.push((key, Change::Remove { body, scope }));
        }
        (None, None) => {}
        (Some((key, body, scope)), Some(text)) => {
            tx.prepare_cached("UPDATE docs SET body = ?2 WHERE key = ?1")?
                .execute(params![key, text])?;
            changes.0.push((
                key,
                Change::Remove {
                    body,
                    scope: scope.clone(),
                },
            ));
            changes.0.push((key, Change::Add { body: text, scope }));
        }
        (None, Some(text)) => add(tx, changes, conversation, message, text)?,
    }
    Ok(())
}

/// Gives a message that has no document one, with these words.
fn add(
    tx: &Connection,
    changes: &mut Changes,
    conversation: i64,
    message: &Stored,
    text: String,
) -> rusqlite::Result<()> {
    let key = new_key(tx, key_at(message.created_at))?;
    tx.prepare_cached("INSERT INTO docs (key, conversation_id, seq, sender_id, body) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![key, conversation, message.seq, message.sender, text])?;
    let scope = scope(conversation, message.sender);
    changes.0.push((key, Change::Add { body: text, scope }));
    Ok(())
}

/// Where a document is, as terms: what `docs.scope` holds (a search names
/// the same terms, `mod.rs`).
fn scope(conversation: i64, sender: i64) -> String {
    format!("c{conversation} u{sender}")
}

/// The smallest key of time `at` (ms) and after.
pub fn key_at(at: i64) -> i64 {
    at.clamp(0, (1 << (63 - KEY_SHIFT)) - 1) << KEY_SHIFT
}

/// A key no document has, from the first key of its message's time.
fn new_key(tx: &Connection, base: i64) -> rusqlite::Result<i64> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT max(key) FROM docs WHERE key BETWEEN ?1 AND ?2")?
        .query_row(params![base, base + KEY_SPAN - 1], |row| row.get(0))?;
    Ok(last.map_or(base, |last| last + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, text: &str) -> Stored {
        Stored {
            seq,
            sender: 1,
            created_at: 1_000 + seq,
            body: serde_json::to_string(&EventBody::Message {
                content: MessageContent::Text { text: text.into() },
                reply_to: None,
                mentions: vec![],
            })
            .unwrap(),
        }
    }

    /// A new index in a directory of its own.
    fn fresh() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("x.search.db")).unwrap();
        (dir, conn)
    }

    /// Message `seq` after its deletion (the log overwrites its content).
    fn deleted(seq: i64) -> Stored {
        Stored {
            body: "{\"type\":\"message\",\"content\":{\"kind\":\"deleted\"}}".into(),
            ..message(seq, "")
        }
    }

    /// What the indexer does for one message, as one batch of its own.
    fn reindex_now(conn: &mut Connection, conversation: i64, message: &Stored) {
        let body = serde_json::from_str(&message.body).unwrap();
        let tx = conn.transaction().unwrap();
        let mut changes = Changes::default();
        reindex(&tx, &mut changes, conversation, message, &body).unwrap();
        changes.apply(&tx).unwrap();
        tx.commit().unwrap();
    }

    fn found(conn: &Connection, query: &str) -> Vec<(i64, i64)> {
        conn.prepare("SELECT conversation_id, seq FROM docs WHERE key IN (SELECT rowid FROM hits WHERE hits MATCH ?1) ORDER BY 1, 2")
            .unwrap()
            .query_map([query], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn one_batch_of_interleaved_conversations_and_edits_indexes_what_is_there_now() {
        let (_dir, mut conn) = fresh();
        let at = |seq, time, text| Stored {
            created_at: time,
            ..message(seq, text)
        };
        let tx = conn.transaction().unwrap();
        let mut changes = Changes::default();
        // Taken in conversation order, so keys go back and forth in time;
        // conversation 1's first message is then edited twice, and 2's
        // second deleted, all before the batch's index changes are made.
        let steps = [
            (1, at(1, 5_000, "alpha one")),
            (1, at(2, 9_000, "alpha two")),
            (1, at(1, 5_000, "gamma edited")),
            (2, at(1, 4_000, "beta one")),
            (2, at(2, 8_000, "beta two")),
            (1, at(1, 5_000, "delta edited again")),
            (
                2,
                Stored {
                    created_at: 8_000,
                    ..deleted(2)
                },
            ),
        ];
        for (conversation, message) in &steps {
            let body = serde_json::from_str(&message.body).unwrap();
            reindex(&tx, &mut changes, *conversation, message, &body).unwrap();
        }
        changes.apply(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(found(&conn, "alpha"), vec![(1, 2)]);
        assert_eq!(found(&conn, "gamma"), vec![]);
        assert_eq!(found(&conn, "delta"), vec![(1, 1)]);
        assert_eq!(found(&conn, "beta"), vec![(2, 1)]);
        assert_eq!(found(&conn, "two"), vec![(1, 2)]);
    }

    #[test]
    fn progress_is_read_and_moved_for_many_conversations_at_once() {
        let (_dir, mut conn) = fresh();
        let tx = conn.transaction().unwrap();
        advance(&tx, &[(1, 5), (2, 7)]).unwrap();
        advance(&tx, &[(1, 9)]).unwrap();
        advance(&tx, &[]).unwrap();
        let marks = progress(&tx, &[1, 2, 3]).unwrap();
        assert_eq!(marks, HashMap::from([(1, 9), (2, 7)]));
        assert!(progress(&tx, &[]).unwrap().is_empty());
    }

    #[test]
    fn a_document_s_scope_is_the_one_its_row_computes() {
        let (_dir, mut conn) = fresh();
        reindex_now(&mut conn, 42, &message(3, "words"));
        let stored: String = conn.query_row("SELECT scope FROM docs", [], |row| row.get(0)).unwrap();
        assert_eq!(stored, scope(42, message(3, "").sender));
    }

    #[test]
    fn a_deleted_document_s_key_given_to_a_new_one_in_the_same_batch() {
        let (_dir, mut conn) = fresh();
        reindex_now(&mut conn, 1, &message(1, "older words"));
        // One batch: that message deleted, then one of another
        // conversation from the same millisecond, which gets its key.
        let tx = conn.transaction().unwrap();
        let mut changes = Changes::default();
        for (conversation, message) in [(1, deleted(1)), (2, message(1, "newer words"))] {
            let body = serde_json::from_str(&message.body).unwrap();
            reindex(&tx, &mut changes, conversation, &message, &body).unwrap();
        }
        let keys: Vec<i64> = changes.0.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys[0], keys[1], "the key is reused");
        changes.apply(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(found(&conn, "older"), vec![]);
        assert_eq!(found(&conn, "newer"), vec![(2, 1)]);
        assert_eq!(found(&conn, "words"), vec![(2, 1)]);
    }

    #[test]
    fn removed_words_leave_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.search.db");
        let mut conn = open(&path).unwrap();
        for (seq, text) in [
            (1, "keep zebracontrolword"),
            (2, "the xylophonist password"),
            (3, "other words"),
        ] {
            reindex_now(&mut conn, 7, &message(seq, text));
        }
        reindex_now(&mut conn, 7, &deleted(2));
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        drop(conn);
        let bytes = std::fs::read(&path).unwrap();
        let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(contains("controlword"));
        assert!(!contains("lophonist"));
    }
}
