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

pub async fn by_id(pool: &SqlitePool, id: UserId) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, username, display_name, created_at FROM users WHERE id = ?1")
        .bind(id.0)
        .fetch_optional(pool)
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
