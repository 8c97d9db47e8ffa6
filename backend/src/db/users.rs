//! Queries on `users`.

use natter_common::{
    api::User,
    ids::UserId,
    validate::{DisplayName, Username},
};
use sqlx::{SqliteExecutor, SqlitePool};

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
            created_at: row.created_at,
        }
    }
}

/// Outcome of trying to create a user.
pub enum Created {
    Ok(UserRow),
    UsernameTaken,
}

#[tracing::instrument(skip(db, password_hash))]
pub async fn create(
    db: impl SqliteExecutor<'_>,
    username: &Username,
    display_name: &DisplayName,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<Created> {
    let inserted = sqlx::query_as::<_, UserRow>(
        "INSERT INTO users (username, display_name, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (username) DO NOTHING
         RETURNING id, username, display_name, created_at",
    )
    .bind(username.as_str())
    .bind(display_name.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_optional(db)
    .await?;
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
}

pub async fn credentials(pool: &SqlitePool, username: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE username = ?1")
        .bind(username)
        .fetch_optional(pool)
        .await
}

pub async fn by_id(db: impl SqliteExecutor<'_>, id: UserId) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, username, display_name, created_at FROM users WHERE id = ?1")
        .bind(id.0)
        .fetch_optional(db)
        .await
}

pub async fn set_display_name(
    pool: &SqlitePool,
    id: UserId,
    display_name: &DisplayName,
    now: i64,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(
        "UPDATE users SET display_name = ?2, updated_at = ?3 WHERE id = ?1
         RETURNING id, username, display_name, created_at",
    )
    .bind(id.0)
    .bind(display_name.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await
}

pub async fn exists(conn: &mut sqlx::SqliteConnection, id: UserId) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Users whose username or display name starts with `prefix` (ignoring ASCII
/// case), ordered by username, after `cursor`, hiding users who blocked `caller`.
pub async fn search(
    pool: &SqlitePool,
    caller: UserId,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> sqlx::Result<Vec<UserRow>> {
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    sqlx::query_as(
        "SELECT id, username, display_name, created_at FROM users
         WHERE (username LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1 ESCAPE '\\')
           AND username > ?2
           AND id NOT IN (SELECT blocker FROM blocks WHERE blocked = ?3)
         ORDER BY username LIMIT ?4",
    )
    .bind(format!("{escaped}%"))
    .bind(cursor.unwrap_or(""))
    .bind(caller.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}
