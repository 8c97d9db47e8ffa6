//! Reading groups: the caller's groups, one group, its members. Changes go
//! through the log's writer ([`crate::log::GroupChange`]).

use natter_common::{
    api::{Group, Member, Role},
    ids::{ConversationId, UserId},
    ErrorCode,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::{
    db,
    error::{AppError, AppResult},
};

fn no_such_group() -> AppError {
    // Non-members learn nothing, not even that the group exists.
    AppError::new(ErrorCode::NotFound, "No such group.")
}

/// The caller's role in an existing group, or `not_found`.
async fn my_role(conn: &mut SqliteConnection, group: ConversationId, me: UserId) -> AppResult<Role> {
    if db::conversations::group(conn, group).await?.is_none() {
        return Err(no_such_group());
    }
    db::members::role(conn, group, me).await?.ok_or_else(no_such_group)
}

pub async fn info(pool: &SqlitePool, me: UserId, group: ConversationId) -> AppResult<Group> {
    let mut conn = pool.acquire().await?;
    let role = my_role(&mut conn, group, me).await?;
    let row = db::conversations::group(&mut conn, group)
        .await?
        .ok_or_else(no_such_group)?;
    Ok(row.into_group(role))
}

pub async fn list(pool: &SqlitePool, me: UserId) -> AppResult<Vec<Group>> {
    let rows = db::conversations::groups_of(pool, me).await?;
    Ok(rows
        .into_iter()
        .map(|(row, role)| row.into_group(Role::parse(&role).unwrap_or(Role::Member)))
        .collect())
}

pub async fn members(
    pool: &SqlitePool,
    me: UserId,
    group: ConversationId,
    after: i64,
    limit: u32,
) -> AppResult<Vec<Member>> {
    my_role(&mut *pool.acquire().await?, group, me).await?;
    Ok(db::members::page(pool, group, after, limit).await?)
}
