//! Contact requests, the contact list and blocks.

use crate::{
    db::{self, Db, Tx},
    error::{AppError, AppResult},
};
use natter_common::{
    api::{Contact, RequestOutcome, User},
    ids::{RequestId, UserId},
    ErrorCode,
};

fn no_such_user() -> AppError {
    AppError::new(ErrorCode::NotFound, "No such user.")
}

fn no_such_request() -> AppError {
    AppError::new(ErrorCode::NotFound, "No such contact request.")
}

fn blocked() -> AppError {
    AppError::new(ErrorCode::Blocked, "You can't connect with this user.")
}

/// Asks `to` to become `me`'s contact. If `to` had already asked `me`, the two
/// become contacts at once.
pub async fn send_request(db: &Db, me: UserId, to: UserId) -> AppResult<RequestOutcome> {
    if me == to {
        return Err(AppError::new(
            ErrorCode::CannotRequestSelf,
            "You can't add yourself as a contact.",
        ));
    }
    let now = db::now_ms();
    let mut tx = db.begin_write().await?;
    if !db::users::exists(&mut tx, to).await? {
        return Err(no_such_user());
    }
    if db::contacts::blocked_either_way(&mut tx, me, to).await? {
        return Err(blocked());
    }
    if db::contacts::contact_conversation(&mut tx, me, to).await?.is_some() {
        return Err(AppError::new(ErrorCode::AlreadyContacts, "You are already contacts."));
    }
    if db::contacts::request_between(&mut tx, to, me).await?.is_some() {
        let contact = connect(&mut tx, me, to, now).await?;
        tx.commit().await?;
        return Ok(RequestOutcome::Accepted { contact });
    }
    if db::contacts::request_between(&mut tx, me, to).await?.is_some() {
        return Err(AppError::new(
            ErrorCode::AlreadyRequested,
            "You have already sent this user a request.",
        ));
    }
    let id = db::contacts::create_request(&mut tx, me, to, now).await?;
    tx.commit().await?;
    let request = db::contacts::request(db, id).await?.ok_or_else(no_such_request)?;
    Ok(RequestOutcome::Pending { request })
}

/// Accepts a request addressed to `me`.
pub async fn accept(db: &Db, me: UserId, id: RequestId) -> AppResult<Contact> {
    let now = db::now_ms();
    let mut tx = db.begin_write().await?;
    let request = db::contacts::request_by_id(&mut tx, id)
        .await?
        .filter(|r| r.to_user == me.0);
    let from = UserId(request.ok_or_else(no_such_request)?.from_user);
    if db::contacts::blocked_either_way(&mut tx, me, from).await? {
        return Err(blocked());
    }
    let contact = connect(&mut tx, me, from, now).await?;
    tx.commit().await?;
    Ok(contact)
}

/// Declines a request addressed to `me`; returns who had sent it.
pub async fn decline(db: &Db, me: UserId, id: RequestId) -> AppResult<UserId> {
    let request = withdraw(db, id, |r| r.to_user == me.0).await?;
    Ok(UserId(request.from_user))
}

/// Cancels a request `me` sent; returns whom it was for.
pub async fn cancel(db: &Db, me: UserId, id: RequestId) -> AppResult<UserId> {
    let request = withdraw(db, id, |r| r.from_user == me.0).await?;
    Ok(UserId(request.to_user))
}

async fn withdraw(
    db: &Db,
    id: RequestId,
    allowed: impl Fn(&db::contacts::RequestRow) -> bool,
) -> AppResult<db::contacts::RequestRow> {
    let mut tx = db.begin_write().await?;
    let request = db::contacts::request_by_id(&mut tx, id)
        .await?
        .filter(allowed)
        .ok_or_else(no_such_request)?;
    db::contacts::delete_request(&mut tx, id).await?;
    tx.commit().await?;
    Ok(request)
}

pub async fn remove(db: &Db, me: UserId, other: UserId) -> AppResult<()> {
    let mut tx = db.begin_write().await?;
    if !db::contacts::remove_pair(&mut tx, me, other).await? {
        return Err(AppError::new(ErrorCode::NotFound, "This user is not in your contacts."));
    }
    tx.commit().await?;
    Ok(())
}

/// Blocks `other`: ends the contact and drops pending requests both ways.
pub async fn block(db: &Db, me: UserId, other: UserId) -> AppResult<()> {
    if me == other {
        return Err(AppError::new(
            ErrorCode::InvalidInput {
                field: "user_id".into(),
            },
            "You can't block yourself.",
        ));
    }
    let mut tx = db.begin_write().await?;
    if !db::users::exists(&mut tx, other).await? {
        return Err(no_such_user());
    }
    db::contacts::block(&mut tx, me, other, db::now_ms()).await?;
    db::contacts::remove_pair(&mut tx, me, other).await?;
    db::contacts::delete_requests_between(&mut tx, me, other).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unblock(db: &Db, me: UserId, other: UserId) -> AppResult<()> {
    let mut tx = db.begin_write().await?;
    if !db::contacts::unblock(&mut tx, me, other).await? {
        return Err(AppError::new(ErrorCode::NotFound, "This user is not blocked."));
    }
    tx.commit().await?;
    Ok(())
}

/// Makes the pair contacts and opens (or reopens) their direct conversation.
async fn connect(conn: &mut Tx, me: UserId, other: UserId, now: i64) -> AppResult<Contact> {
    let conversation = db::conversations::direct(conn, me, other, now).await?;
    db::contacts::add_pair(conn, me, other, conversation, now).await?;
    db::contacts::delete_requests_between(conn, me, other).await?;
    let user: User = db::users::by_id(&mut *conn, other)
        .await?
        .ok_or_else(no_such_user)?
        .into();
    Ok(Contact {
        user,
        conversation_id: conversation,
        since: now,
    })
}
