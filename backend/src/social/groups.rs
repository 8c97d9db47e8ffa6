//! Reading groups: the caller's groups, one group, its members. Changes go
//! through the log's writer ([`crate::log::GroupChange`]).

use crate::{
    db::{self, Db},
    error::{AppError, AppResult},
};
use natter_common::{
    api::{Group, Member, Role},
    ids::{ConversationId, UserId},
    ErrorCode,
};

fn no_such_group() -> AppError {
    // Non-members learn nothing, not even that the group exists.
    AppError::new(ErrorCode::NotFound, "No such group.")
}

/// The caller's role in an existing group, or `not_found`.
async fn my_role(db: &Db, group: ConversationId, me: UserId) -> AppResult<Role> {
    if db::conversations::group(db, group).await?.is_none() {
        return Err(no_such_group());
    }
    db::members::role(db, group, me).await?.ok_or_else(no_such_group)
}

pub async fn info(db: &Db, me: UserId, group: ConversationId) -> AppResult<Group> {
    let role = my_role(db, group, me).await?;
    let row = db::conversations::group(db, group).await?.ok_or_else(no_such_group)?;
    Ok(row.into_group(role))
}

pub async fn list(db: &Db, me: UserId) -> AppResult<Vec<Group>> {
    let rows = db::conversations::groups_of(db, me).await?;
    Ok(rows
        .into_iter()
        .map(|(row, role)| row.into_group(Role::parse(&role).unwrap_or(Role::Member)))
        .collect())
}

/// A page of members by user id; with `prefix`, only those it can name
/// ([`db::members::matching`]).
pub async fn members(
    db: &Db,
    me: UserId,
    group: ConversationId,
    prefix: Option<&str>,
    after: i64,
    limit: u32,
) -> AppResult<Vec<Member>> {
    my_role(db, group, me).await?;
    Ok(match prefix {
        Some(prefix) => db::members::matching(db, group, prefix, after, limit).await?,
        None => db::members::page(db, group, after, limit).await?,
    })
}
