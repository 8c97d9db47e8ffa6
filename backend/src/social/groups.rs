//! Groups: create, rename, add and remove members, roles, leave. Every
//! change is also an event in the group's timeline.

use std::collections::BTreeSet;

use natter_common::{
    api::{Group, Member, NewGroup, Role},
    events::{Event, EventBody},
    ids::{ConversationId, UserId},
    validate::GroupName,
    ErrorCode,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::{
    db::{self, conversations::GroupRow},
    error::{AppError, AppResult},
};

/// A change's result and the timeline events it committed, to publish.
#[must_use]
pub struct Changed<T> {
    pub value: T,
    pub events: Vec<Event>,
}

fn no_such_group() -> AppError {
    // Non-members learn nothing, not even that the group exists.
    AppError::new(ErrorCode::NotFound, "No such group.")
}

fn not_allowed(what: &str) -> AppError {
    AppError::new(ErrorCode::Forbidden, format!("You are not allowed to {what}."))
}

fn group_full(max: u32) -> AppError {
    AppError::new(
        ErrorCode::GroupFull { max },
        format!("A group can have at most {max} members."),
    )
}

fn to_group(row: GroupRow, my_role: Role) -> Group {
    Group {
        id: ConversationId(row.id),
        name: row.name,
        member_count: u32::try_from(row.member_count).unwrap_or(u32::MAX),
        my_role,
        created_at: row.created_at,
    }
}

/// Commits a change to `group` and returns the group as it now is with
/// the events appended since `since`.
async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    group: ConversationId,
    since: i64,
    role: Role,
) -> AppResult<Changed<Group>> {
    let row = db::conversations::group(&mut tx, group)
        .await?
        .ok_or_else(no_such_group)?;
    let events = db::events::after(&mut tx, group, since).await?;
    tx.commit().await?;
    Ok(Changed {
        value: to_group(row, role),
        events,
    })
}

/// Appends a change made by `me` to the group's timeline.
async fn record(
    conn: &mut SqliteConnection,
    group: ConversationId,
    me: UserId,
    body: EventBody,
    now: i64,
) -> AppResult<()> {
    db::events::append(conn, group, me, None, body, now).await?;
    Ok(())
}

/// The caller's role in an existing group, or `not_found`.
async fn my_role(conn: &mut SqliteConnection, group: ConversationId, me: UserId) -> AppResult<Role> {
    if db::conversations::group(conn, group).await?.is_none() {
        return Err(no_such_group());
    }
    db::members::role(conn, group, me).await?.ok_or_else(no_such_group)
}

/// Each id must be a contact of `me`; returns them without duplicates or `me`.
async fn contacts_only(conn: &mut SqliteConnection, me: UserId, ids: &[UserId]) -> AppResult<BTreeSet<UserId>> {
    let wanted: BTreeSet<UserId> = ids.iter().copied().filter(|id| *id != me).collect();
    for id in &wanted {
        if db::contacts::contact_conversation(conn, me, *id).await?.is_none() {
            return Err(AppError::new(
                ErrorCode::NotContacts,
                format!("User {id} is not in your contacts; only contacts can be added to a group."),
            ));
        }
    }
    Ok(wanted)
}

pub async fn create(pool: &SqlitePool, me: UserId, new: NewGroup, max: u32) -> AppResult<Changed<Group>> {
    let name = GroupName::parse(&new.name)?;
    let now = db::now_ms();
    let mut tx = db::begin_write(pool).await?;
    let members = contacts_only(&mut tx, me, &new.member_ids).await?;
    if members.len() + 1 > max as usize {
        return Err(group_full(max));
    }
    let id = db::conversations::create_group(&mut tx, &name, now).await?;
    db::members::add(&mut tx, id, me, Role::Owner, now).await?;
    record(
        &mut tx,
        id,
        me,
        EventBody::GroupCreated {
            name: name.as_str().into(),
        },
        now,
    )
    .await?;
    record(&mut tx, id, me, EventBody::MemberJoined { user: me }, now).await?;
    for user in members {
        db::members::add(&mut tx, id, user, Role::Member, now).await?;
        record(&mut tx, id, me, EventBody::MemberJoined { user }, now).await?;
    }
    let row = db::conversations::group(&mut tx, id).await?.ok_or_else(no_such_group)?;
    let events = db::events::after(&mut tx, id, 0).await?;
    tx.commit().await?;
    Ok(Changed {
        value: to_group(row, Role::Owner),
        events,
    })
}

pub async fn info(pool: &SqlitePool, me: UserId, group: ConversationId) -> AppResult<Group> {
    let mut conn = pool.acquire().await?;
    let role = my_role(&mut conn, group, me).await?;
    let row = db::conversations::group(&mut conn, group)
        .await?
        .ok_or_else(no_such_group)?;
    Ok(to_group(row, role))
}

pub async fn list(pool: &SqlitePool, me: UserId) -> AppResult<Vec<Group>> {
    let rows = db::conversations::groups_of(pool, me).await?;
    Ok(rows
        .into_iter()
        .map(|(row, role)| to_group(row, Role::parse(&role).unwrap_or(Role::Member)))
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

pub async fn rename(pool: &SqlitePool, me: UserId, group: ConversationId, name: &str) -> AppResult<Changed<Group>> {
    let name = GroupName::parse(name)?;
    let mut tx = db::begin_write(pool).await?;
    let role = my_role(&mut tx, group, me).await?;
    let since = db::conversations::last_seq(&mut tx, group).await?;
    if !role.can_manage() {
        return Err(not_allowed("rename this group"));
    }
    db::conversations::rename_group(&mut tx, group, &name).await?;
    record(
        &mut tx,
        group,
        me,
        EventBody::GroupRenamed {
            name: name.as_str().into(),
        },
        db::now_ms(),
    )
    .await?;
    finish(tx, group, since, role).await
}

pub async fn add_members(
    pool: &SqlitePool,
    me: UserId,
    group: ConversationId,
    ids: &[UserId],
    max: u32,
) -> AppResult<Changed<Group>> {
    let now = db::now_ms();
    let mut tx = db::begin_write(pool).await?;
    let role = my_role(&mut tx, group, me).await?;
    let since = db::conversations::last_seq(&mut tx, group).await?;
    if !role.can_manage() {
        return Err(not_allowed("add members to this group"));
    }
    let wanted = contacts_only(&mut tx, me, ids).await?;
    let mut count = db::members::count(&mut tx, group).await?;
    for user in wanted {
        if db::members::role(&mut tx, group, user).await?.is_some() {
            continue;
        }
        if count >= max {
            return Err(group_full(max));
        }
        db::members::add(&mut tx, group, user, Role::Member, now).await?;
        record(&mut tx, group, me, EventBody::MemberJoined { user }, now).await?;
        count += 1;
    }
    finish(tx, group, since, role).await
}

/// Removes `target`; owners remove anyone, admins remove plain members.
/// Removing yourself is leaving.
pub async fn remove_member(
    pool: &SqlitePool,
    me: UserId,
    group: ConversationId,
    target: UserId,
) -> AppResult<Changed<()>> {
    if target == me {
        return leave(pool, me, group).await;
    }
    let mut tx = db::begin_write(pool).await?;
    let role = my_role(&mut tx, group, me).await?;
    let since = db::conversations::last_seq(&mut tx, group).await?;
    if !role.can_manage() {
        return Err(not_allowed("remove members from this group"));
    }
    let target_role = db::members::role(&mut tx, group, target)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "That user is not in this group."))?;
    if target_role >= role {
        return Err(not_allowed("remove this member"));
    }
    db::members::remove(&mut tx, group, target).await?;
    record(
        &mut tx,
        group,
        me,
        EventBody::MemberRemoved { user: target },
        db::now_ms(),
    )
    .await?;
    let events = db::events::after(&mut tx, group, since).await?;
    tx.commit().await?;
    Ok(Changed { value: (), events })
}

/// Leaves the group. An owner who leaves hands ownership to the
/// longest-standing admin, else the longest-standing member.
pub async fn leave(pool: &SqlitePool, me: UserId, group: ConversationId) -> AppResult<Changed<()>> {
    let now = db::now_ms();
    let mut tx = db::begin_write(pool).await?;
    let role = my_role(&mut tx, group, me).await?;
    let since = db::conversations::last_seq(&mut tx, group).await?;
    if role == Role::Owner {
        if let Some(heir) = db::members::successor(&mut tx, group, me).await? {
            db::members::set_role(&mut tx, group, heir, Role::Owner).await?;
            record(
                &mut tx,
                group,
                me,
                EventBody::RoleChanged {
                    user: heir,
                    role: Role::Owner,
                },
                now,
            )
            .await?;
        }
    }
    db::members::remove(&mut tx, group, me).await?;
    record(&mut tx, group, me, EventBody::MemberLeft { user: me }, now).await?;
    let events = db::events::after(&mut tx, group, since).await?;
    tx.commit().await?;
    Ok(Changed { value: (), events })
}

/// Only the owner changes roles. Making someone `owner` transfers ownership:
/// the previous owner becomes an admin.
pub async fn set_role(
    pool: &SqlitePool,
    me: UserId,
    group: ConversationId,
    target: UserId,
    new_role: Role,
) -> AppResult<Changed<()>> {
    let now = db::now_ms();
    let mut tx = db::begin_write(pool).await?;
    let since = db::conversations::last_seq(&mut tx, group).await?;
    if my_role(&mut tx, group, me).await? != Role::Owner {
        return Err(not_allowed("change roles in this group"));
    }
    if target == me {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "Transfer ownership to another member instead of changing your own role.",
        ));
    }
    let current = db::members::role(&mut tx, group, target)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "That user is not in this group."))?;
    if current == new_role {
        return Ok(Changed {
            value: (),
            events: Vec::new(),
        });
    }
    db::members::set_role(&mut tx, group, target, new_role).await?;
    record(
        &mut tx,
        group,
        me,
        EventBody::RoleChanged {
            user: target,
            role: new_role,
        },
        now,
    )
    .await?;
    if new_role == Role::Owner {
        db::members::set_role(&mut tx, group, me, Role::Admin).await?;
        record(
            &mut tx,
            group,
            me,
            EventBody::RoleChanged {
                user: me,
                role: Role::Admin,
            },
            now,
        )
        .await?;
    }
    let events = db::events::after(&mut tx, group, since).await?;
    tx.commit().await?;
    Ok(Changed { value: (), events })
}
