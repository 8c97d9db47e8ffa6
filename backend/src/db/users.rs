//! Queries on `users`.

use super::{on, on_any, on_tx, Db, On, Tx};
use natter_common::{
    api::User,
    ids::UserId,
    validate::{DisplayName, Username},
};

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub created_at: i64,
    pub avatar_media_id: Option<String>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
            created_at: row.created_at,
            avatar: row.avatar_media_id,
        }
    }
}

/// Makes `media` (`None`: no picture) the user's avatar; the caller checks
/// that they may use that image.
pub async fn set_avatar(db: &Db, id: UserId, media: Option<&str>, now: i64) -> sqlx::Result<Option<UserRow>> {
    on!(db, |c| sqlx::query_as(
        "UPDATE users SET avatar_media_id = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, username, display_name, created_at, avatar_media_id",
    )
    .bind(id.0)
    .bind(media)
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// Outcome of trying to create a user.
pub enum Created {
    Ok(UserRow),
    UsernameTaken,
}

#[tracing::instrument(skip(on, password_hash))]
pub async fn create(
    on: impl Into<On<'_>>,
    username: &Username,
    display_name: &DisplayName,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<Created> {
    let inserted = on_any!(on.into(), |c| sqlx::query_as::<_, UserRow>(
        "INSERT INTO users (username, display_name, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (username) DO NOTHING
         RETURNING id, username, display_name, created_at, avatar_media_id",
    )
    .bind(username.as_str())
    .bind(display_name.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    Ok(match inserted {
        Some(row) => Created::Ok(row),
        None => Created::UsernameTaken,
    })
}

/// A user and their password hash, for login.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub disabled_at: Option<i64>,
}

pub async fn credentials(db: &Db, username: &str) -> sqlx::Result<Option<Credentials>> {
    on!(db, |c| sqlx::query_as(
        "SELECT id, password_hash, disabled_at FROM users WHERE username = $1 AND deleted_at IS NULL"
    )
    .bind(username)
    .fetch_optional(c)
    .await)
}

/// The stored password hash of a (not deleted) user.
pub async fn password_hash(db: &Db, id: UserId) -> sqlx::Result<Option<String>> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

pub async fn by_id(on: impl Into<On<'_>>, id: UserId) -> sqlx::Result<Option<UserRow>> {
    on_any!(on.into(), |c| sqlx::query_as(
        "SELECT id, username, display_name, created_at, avatar_media_id FROM users WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

pub async fn set_display_name(
    db: &Db,
    id: UserId,
    display_name: &DisplayName,
    now: i64,
) -> sqlx::Result<Option<UserRow>> {
    on!(db, |c| sqlx::query_as(
        "UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1
         RETURNING id, username, display_name, created_at, avatar_media_id",
    )
    .bind(id.0)
    .bind(display_name.as_str())
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// Whether `id` is an account someone can be in touch with (not deleted).
pub async fn exists(conn: &mut Tx, id: UserId) -> sqlx::Result<bool> {
    on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL)"
    )
    .bind(id.0)
    .fetch_one(c)
    .await)
}

/// Users whose username starts with `prefix` (ignoring ASCII case), any
/// word of whose display name or username does (ignoring case and
/// accents), or — for Chinese, Japanese or Korean — whose display name
/// contains it; ordered by username, after `cursor`; never `caller`, nor
/// users who blocked `caller`.
pub async fn search(
    db: &Db,
    caller: UserId,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> sqlx::Result<Vec<UserRow>> {
    // No name holds a control character, and PostgreSQL's text can't hold NUL.
    let prefix: String = prefix.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let prefix = prefix.as_str();
    let escaped = like_escaped(prefix);
    // Names in scripts without spaces are one word to the index: look
    // inside them (a scan, for these queries only).
    let inside = crate::search::words::has_unspaced(prefix).then(|| format!("%{escaped}%"));
    let starts = format!("{escaped}%");
    let after = cursor.unwrap_or("");
    // The same query on both, but for how a word of a name is found: the
    // FTS5 table here, the generated tsvector there.
    let (by_words, words) = match db {
        Db::Sqlite(_) => (
            "id IN (SELECT rowid FROM users_by_name_words WHERE users_by_name_words MATCH $2)",
            Some(fts5_phrase(prefix)),
        ),
        Db::Postgres(_) => (
            "name_words @@ to_tsquery('simple', natter_unaccent($2))",
            ts_prefix_query(prefix),
        ),
    };
    // PostgreSQL's LIKE refuses the nondeterministic `nocase` collation.
    let username = match db {
        Db::Sqlite(_) => "username LIKE $1",
        Db::Postgres(_) => "username COLLATE \"C\" ILIKE $1",
    };
    let sql = format!(
        "SELECT id, username, display_name, created_at, avatar_media_id FROM users u
         WHERE ({username} ESCAPE '\\' OR {by_words} OR display_name LIKE $6 ESCAPE '\\')
           AND username > $3
           AND id <> $4
           AND deleted_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $4)
         ORDER BY username LIMIT $5"
    );
    on!(db, |c| sqlx::query_as(&sql)
        .bind(&starts)
        .bind(&words)
        .bind(after)
        .bind(caller.0)
        .bind(i64::from(limit))
        .bind(&inside)
        .fetch_all(c)
        .await)
}

/// One quoted FTS5 phrase, so the query's own quotes, stars and words like
/// NEAR are text; the trailing `*` makes its last word a prefix.
fn fts5_phrase(query: &str) -> String {
    format!("\"{}\"*", query.replace('"', "\"\""))
}

/// The words of `query` for PostgreSQL's `to_tsquery`, all required, the
/// last one as a prefix; `None` when it has no words. Only letters and
/// digits pass, so nothing in it is tsquery syntax.
fn ts_prefix_query(query: &str) -> Option<String> {
    let words: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let (last, rest) = words.split_last()?;
    let mut terms: Vec<String> = rest.iter().map(|w| format!("'{w}'")).collect();
    terms.push(format!("'{last}':*"));
    Some(terms.join(" & "))
}

/// An account as an operator sees it.
#[derive(Debug, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub sessions: i64,
}

const ACCOUNT: &str = "SELECT u.id, u.username, u.display_name, u.created_at, u.disabled_at,
        (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > $1) AS sessions
     FROM users u";

/// Accounts by username, up to `limit`.
pub async fn accounts(db: &Db, now: i64, limit: u32) -> sqlx::Result<Vec<Account>> {
    on!(db, |c| sqlx::query_as(&format!(
        "{ACCOUNT} ORDER BY u.username LIMIT $2"
    ))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await)
}

/// The account named `username` (ignoring ASCII case, as usernames compare).
pub async fn account(db: &Db, now: i64, username: &str) -> sqlx::Result<Option<Account>> {
    on!(db, |c| sqlx::query_as(&format!("{ACCOUNT} WHERE u.username = $2"))
        .bind(now)
        .bind(username)
        .fetch_optional(c)
        .await)
}

pub async fn set_password(db: &Db, id: UserId, password_hash: &str, now: i64) -> sqlx::Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id.0)
    .bind(password_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Disables (`Some(time)`) or enables (`None`) an account.
pub async fn set_disabled(db: &Db, id: UserId, disabled_at: Option<i64>) -> sqlx::Result<()> {
    on!(db, |c| sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(disabled_at)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// `text` for a `LIKE … ESCAPE '\'` pattern: its `%`, `_` and `\` match
/// only themselves.
pub fn like_escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{each_db, user};

    async fn names(db: &Db, caller: UserId, q: &str) -> Vec<String> {
        search(db, caller, q, None, 50)
            .await
            .expect("search")
            .into_iter()
            .map(|u| u.username)
            .collect()
    }

    /// The word index follows renames, and no query text is FTS syntax.
    #[tokio::test]
    async fn name_words_follow_renames_and_queries_are_plain_text() {
        for (pool, _dir) in each_db().await {
            let me = user(&pool, "me").await;
            let ada = user(&pool, "ada").await;
            let zoe = user(&pool, "zoe").await;
            set_display_name(&pool, ada, &DisplayName::parse("Ada Lovelace").unwrap(), 1)
                .await
                .unwrap();
            set_display_name(&pool, zoe, &DisplayName::parse("Zoë O'Brien-Smith").unwrap(), 1)
                .await
                .unwrap();

            assert_eq!(names(&pool, me, "LOVE").await, ["ada"]);
            assert_eq!(names(&pool, me, "ada lo").await, ["ada"]);
            assert_eq!(names(&pool, me, "smi").await, ["zoe"]);
            assert_eq!(names(&pool, me, "ZOE O'BR").await, ["zoe"]);
            assert!(names(&pool, me, "ovelace").await.is_empty(), "inside a word");
            assert!(names(&pool, me, "me").await.is_empty(), "never the caller");

            set_display_name(&pool, ada, &DisplayName::parse("Countess").unwrap(), 2)
                .await
                .unwrap();
            assert!(names(&pool, me, "love").await.is_empty(), "the old name is gone");
            assert_eq!(names(&pool, me, "count").await, ["ada"]);

            for odd in ["\"", "\"love", "love*", "NEAR(a b)", "a\0b", "-", "^", "a OR b", ":"] {
                search(&pool, me, odd, None, 50).await.expect(odd);
            }
        }
    }

    /// Any word of a username finds it; a Chinese, Japanese or Korean name
    /// is found by any part of it, one character or more.
    #[tokio::test]
    async fn usernames_by_any_word_and_cjk_names_by_any_part() {
        for (pool, _dir) in each_db().await {
            let me = user(&pool, "me").await;
            user(&pool, "ada_lovelace").await;
            user(&pool, "grace.hopper-1906").await;
            let wang = user(&pool, "wang").await;
            let kim = user(&pool, "kim").await;
            set_display_name(&pool, wang, &DisplayName::parse("王小明").unwrap(), 1)
                .await
                .unwrap();
            set_display_name(&pool, kim, &DisplayName::parse("김민준").unwrap(), 1)
                .await
                .unwrap();

            assert_eq!(names(&pool, me, "lovel").await, ["ada_lovelace"]);
            assert_eq!(names(&pool, me, "HOPPER").await, ["grace.hopper-1906"]);
            assert_eq!(names(&pool, me, "1906").await, ["grace.hopper-1906"]);
            assert_eq!(names(&pool, me, "小明").await, ["wang"]);
            assert_eq!(names(&pool, me, "明").await, ["wang"]);
            assert_eq!(names(&pool, me, "민준").await, ["kim"]);
            assert!(names(&pool, me, "明小").await.is_empty());
            assert!(names(&pool, me, "%").await.is_empty(), "LIKE's wildcards are text");
        }
    }
}
