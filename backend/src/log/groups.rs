//! Group changes: create, rename, add and remove members, roles, leave.
//! Every change is also an event in the group's log, stored and published
//! by the writer like a message, so it keeps its place among them.

use natter_common::{
    api::Role,
    events::{Event, EventBody},
    ids::{ConversationId, UserId},
    validate::GroupName,
    ErrorCode,
};

use super::{
    publisher::{Publish, Step},
    writer::Batch,
    Done, GroupChange, Refusal,
};
use crate::db::{append, group_changes as db, log_tx};

fn no_such_group() -> Refusal {
    // Non-members learn nothing, not even that the group exists.
    Refusal::not_found("No such group.")
}

fn not_allowed(what: &str) -> Refusal {
    Refusal::forbidden(format!("You are not allowed to {what}."))
}

fn group_full(max: u32) -> Refusal {
    Refusal::new(
        ErrorCode::GroupFull { max },
        format!("A group can have at most {max} members."),
    )
}

pub fn apply(batch: &mut Batch, by: UserId, change: &GroupChange) -> log_tx::Result<Step> {
    let step = match change {
        GroupChange::Create { name, members, max } => create(batch, by, name, members, *max),
        GroupChange::Rename { group, name } => rename(batch, by, *group, name),
        GroupChange::AddMembers { group, users, max } => add_members(batch, by, *group, users, *max),
        GroupChange::Remove { group, user } if *user == by => leave(batch, by, *group),
        GroupChange::Remove { group, user } => remove(batch, by, *group, *user),
        GroupChange::SetRole { group, user, role } => set_role(batch, by, *group, *user, *role),
    }?;
    Ok(step.unwrap_or_else(|refusal| Step::answer(Err(refusal))))
}

/// A change's step: `done` for the requester, its events to the members
/// as they are after it (and to `also`, who just left).
fn changed(
    batch: &mut Batch,
    group: ConversationId,
    events: Vec<Event>,
    membership: bool,
    also: Option<UserId>,
    done: Done,
) -> log_tx::Result<Result<Step, Refusal>> {
    let to = if membership {
        batch.audience.reload(batch.tx, group)?
    } else {
        batch.audience.of(batch.tx, group)?
    };
    Ok(Ok(Step {
        answer: Ok(done),
        publish: Publish::Events { events, to, also },
    }))
}

/// Appends a change made by `by` to the group's log.
fn record(batch: &Batch, group: ConversationId, by: UserId, body: EventBody) -> log_tx::Result<Event> {
    append::event(batch.tx, group, by, None, body, batch.now)
}

/// The requester's role in an existing group.
fn my_role(batch: &Batch, group: ConversationId, me: UserId) -> log_tx::Result<Result<Role, Refusal>> {
    if db::group(batch.tx, group)?.is_none() {
        return Ok(Err(no_such_group()));
    }
    Ok(db::role(batch.tx, group, me)?.ok_or_else(no_such_group))
}

/// The group as its requester sees it now.
fn current(batch: &Batch, group: ConversationId, role: Role) -> log_tx::Result<Result<Done, Refusal>> {
    Ok(db::group(batch.tx, group)?
        .map(|row| Done::Group(row.into_group(role)))
        .ok_or_else(no_such_group))
}

/// Each id must be a contact of `me`; returns them by id, without
/// duplicates or `me`.
fn contacts_only(batch: &Batch, me: UserId, ids: &[UserId]) -> log_tx::Result<Result<Vec<UserId>, Refusal>> {
    let mut wanted: Vec<UserId> = ids.iter().copied().filter(|id| *id != me).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if let Some(id) = db::first_stranger(batch.tx, me, &wanted)? {
        return Ok(Err(Refusal::new(
            ErrorCode::NotContacts,
            format!("User {id} is not in your contacts; only contacts can be added to a group."),
        )));
    }
    Ok(Ok(wanted))
}

/// `?` for the checks' `Result<Result<T, Refusal>>`: a refusal ends the
/// change before it writes anything.
macro_rules! check {
    ($checked:expr) => {
        match $checked? {
            Ok(value) => value,
            Err(refusal) => return Ok(Err(refusal)),
        }
    };
}

fn create(
    batch: &mut Batch,
    me: UserId,
    name: &GroupName,
    members: &[UserId],
    max: u32,
) -> log_tx::Result<Result<Step, Refusal>> {
    let members = check!(contacts_only(batch, me, members));
    if members.len() + 1 > max as usize {
        return Ok(Err(group_full(max)));
    }
    let tx = batch.tx;
    let id = db::create(tx, name, batch.now)?;
    db::add_member(tx, id, me, Role::Owner, batch.now)?;
    let mut events = vec![
        record(
            batch,
            id,
            me,
            EventBody::GroupCreated {
                name: name.as_str().into(),
            },
        )?,
        record(batch, id, me, EventBody::MemberJoined { user: me })?,
    ];
    db::add_members(tx, id, &members, Role::Member, batch.now)?;
    events.extend(joined(batch, id, me, members)?);
    let done = check!(current(batch, id, Role::Owner));
    changed(batch, id, events, true, None, done)
}

fn rename(
    batch: &mut Batch,
    me: UserId,
    group: ConversationId,
    name: &GroupName,
) -> log_tx::Result<Result<Step, Refusal>> {
    let role = check!(my_role(batch, group, me));
    if !role.can_manage() {
        return Ok(Err(not_allowed("rename this group")));
    }
    db::rename(batch.tx, group, name)?;
    let event = record(
        batch,
        group,
        me,
        EventBody::GroupRenamed {
            name: name.as_str().into(),
        },
    )?;
    let done = check!(current(batch, group, role));
    changed(batch, group, vec![event], false, None, done)
}

fn add_members(
    batch: &mut Batch,
    me: UserId,
    group: ConversationId,
    users: &[UserId],
    max: u32,
) -> log_tx::Result<Result<Step, Refusal>> {
    let role = check!(my_role(batch, group, me));
    if !role.can_manage() {
        return Ok(Err(not_allowed("add members to this group")));
    }
    let wanted = check!(contacts_only(batch, me, users));
    let new = db::not_members(batch.tx, group, &wanted)?;
    let count = db::group(batch.tx, group)?.map_or(0, |row| row.member_count);
    if count + new.len() as i64 > i64::from(max) {
        return Ok(Err(group_full(max)));
    }
    db::add_members(batch.tx, group, &new, Role::Member, batch.now)?;
    let events = joined(batch, group, me, new)?.into_iter().collect();
    let done = check!(current(batch, group, role));
    changed(batch, group, events, true, None, done)
}

/// The event for people `me` added in one change: `member_joined` for one,
/// `members_joined` for more, none for nobody.
fn joined(batch: &Batch, group: ConversationId, me: UserId, users: Vec<UserId>) -> log_tx::Result<Option<Event>> {
    let body = match users.as_slice() {
        [] => return Ok(None),
        [user] => EventBody::MemberJoined { user: *user },
        _ => EventBody::MembersJoined { users },
    };
    record(batch, group, me, body).map(Some)
}

/// Owners remove anyone, admins remove plain members.
fn remove(
    batch: &mut Batch,
    me: UserId,
    group: ConversationId,
    target: UserId,
) -> log_tx::Result<Result<Step, Refusal>> {
    let role = check!(my_role(batch, group, me));
    if !role.can_manage() {
        return Ok(Err(not_allowed("remove members from this group")));
    }
    let Some(target_role) = db::role(batch.tx, group, target)? else {
        return Ok(Err(Refusal::not_found("That user is not in this group.")));
    };
    if target_role >= role {
        return Ok(Err(not_allowed("remove this member")));
    }
    db::remove_member(batch.tx, group, target)?;
    let event = record(batch, group, me, EventBody::MemberRemoved { user: target })?;
    changed(batch, group, vec![event], true, Some(target), Done::Nothing)
}

/// An owner who leaves hands ownership to the longest-standing admin, else
/// the longest-standing member.
fn leave(batch: &mut Batch, me: UserId, group: ConversationId) -> log_tx::Result<Result<Step, Refusal>> {
    let role = check!(my_role(batch, group, me));
    let mut events = Vec::new();
    if role == Role::Owner {
        if let Some(heir) = db::successor(batch.tx, group, me)? {
            db::set_role(batch.tx, group, heir, Role::Owner)?;
            let body = EventBody::RoleChanged {
                user: heir,
                role: Role::Owner,
            };
            events.push(record(batch, group, me, body)?);
        }
    }
    db::remove_member(batch.tx, group, me)?;
    events.push(record(batch, group, me, EventBody::MemberLeft { user: me })?);
    changed(batch, group, events, true, Some(me), Done::Nothing)
}

/// Only the owner changes roles. Making someone `owner` transfers
/// ownership: the previous owner becomes an admin.
fn set_role(
    batch: &mut Batch,
    me: UserId,
    group: ConversationId,
    target: UserId,
    new_role: Role,
) -> log_tx::Result<Result<Step, Refusal>> {
    if check!(my_role(batch, group, me)) != Role::Owner {
        return Ok(Err(not_allowed("change roles in this group")));
    }
    if target == me {
        return Ok(Err(Refusal::forbidden(
            "Transfer ownership to another member instead of changing your own role.",
        )));
    }
    let Some(current) = db::role(batch.tx, group, target)? else {
        return Ok(Err(Refusal::not_found("That user is not in this group.")));
    };
    if current == new_role {
        return Ok(Ok(Step::answer(Ok(Done::Nothing))));
    }
    db::set_role(batch.tx, group, target, new_role)?;
    let mut events = vec![record(
        batch,
        group,
        me,
        EventBody::RoleChanged {
            user: target,
            role: new_role,
        },
    )?];
    if new_role == Role::Owner {
        db::set_role(batch.tx, group, me, Role::Admin)?;
        let body = EventBody::RoleChanged {
            user: me,
            role: Role::Admin,
        };
        events.push(record(batch, group, me, body)?);
    }
    changed(batch, group, events, false, None, Done::Nothing)
}
