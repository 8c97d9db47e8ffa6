//! Deleting an account, for `DELETE /api/v1/me` and `admin users delete`:
//! the groups are left through the log (members see it; ownership passes
//! on as when leaving), then the rest goes in one transaction
//! ([`db::leaving`]), then the images nothing refers to any more.

use crate::db::Db;
use natter_common::ids::UserId;

use crate::{
    db,
    error::AppResult,
    log::{Command, GroupChange, Log, Submission},
    media::MediaStore,
};

pub async fn delete_account(log: &Log, db: &Db, media: &MediaStore, user: UserId) -> AppResult<()> {
    for group in db::members::groups_of(db, user).await? {
        let submission = Submission {
            by: user,
            conn: None,
            command: Command::Group(GroupChange::Remove { group, user }),
            permit: None,
        };
        log.request(submission).outcome().await?;
    }
    for image in db::leaving::delete_account(db, user, db::now_ms()).await? {
        media.remove(&image).await;
    }
    tracing::info!(user = %user, "account deleted");
    Ok(())
}
