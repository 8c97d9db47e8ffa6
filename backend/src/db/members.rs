//! Queries on `members`: who belongs to a conversation, and in what role.

use std::collections::HashMap;

use super::{on, on_tx, Db, Tx};
use natter_common::{
    api::{Member, Role, User},
    ids::{ConversationId, UserId},
    limits::PRESENCE_MAX_MEMBERS,
};

/// The role of user $2 in conversation $1 (here and on the writer's connection).
pub(crate) const ROLE: &str = "SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2";
/// Adds user $2 to $1 with role $3 at $4, unless a member already.
pub(crate) const ADD: &str = "INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING";
/// Everyone in conversation $1.
pub(crate) const USER_IDS: &str = "SELECT user_id FROM members WHERE conversation_id = $1";

pub async fn role(db: &Db, conversation: ConversationId, user: UserId) -> sqlx::Result<Option<Role>> {
    let role: Option<String> = on!(db, |c| sqlx::query_scalar(ROLE)
        .bind(conversation.0)
        .bind(user.0)
        .fetch_optional(c)
        .await)?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// Adds a member; false when they already were one.
pub async fn add(
    conn: &mut Tx,
    conversation: ConversationId,
    user: UserId,
    role: Role,
    now: i64,
) -> sqlx::Result<bool> {
    let done = on_tx!(conn, |c| sqlx::query(ADD)
        .bind(conversation.0)
        .bind(user.0)
        .bind(role.as_str())
        .bind(now)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    avatar_media_id: Option<String>,
    role: String,
    joined_at: i64,
}

/// A page of members ordered by user id, starting after `after`.
pub async fn page(db: &Db, conversation: ConversationId, after: i64, limit: u32) -> sqlx::Result<Vec<Member>> {
    let rows: Vec<MemberRow> = on!(db, |c| sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_media_id, m.role, m.joined_at
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1 AND m.user_id > $2
         ORDER BY m.user_id LIMIT $3",
    )
    .bind(conversation.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Member::from).collect())
}

/// [`page`], only the members whose username, or a word of whose display
/// name (after a space), starts with `prefix`, case ignored: whom an
/// `@mention` being typed can mean, however big the group.
pub async fn matching(
    db: &Db,
    conversation: ConversationId,
    prefix: &str,
    after: i64,
    limit: u32,
) -> sqlx::Result<Vec<Member>> {
    let escaped = super::users::like_escaped(prefix);
    // SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE needs a
    // deterministic collation, which the username's `nocase` is not.
    let (username, like) = match db {
        Db::Sqlite(_) => ("u.username LIKE", "LIKE"),
        Db::Postgres(_) => ("u.username COLLATE \"C\" ILIKE", "ILIKE"),
    };
    let sql = format!(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_media_id, m.role, m.joined_at
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1 AND m.user_id > $2
           AND ({username} $4 ESCAPE '\\' OR (' ' || u.display_name) {like} $5 ESCAPE '\\')
         ORDER BY m.user_id LIMIT $3"
    );
    let rows: Vec<MemberRow> = on!(db, |c| sqlx::query_as(&sql)
        .bind(conversation.0)
        .bind(after)
        .bind(i64::from(limit))
        .bind(format!("{escaped}%"))
        .bind(format!("% {escaped}%"))
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().map(Member::from).collect())
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Member {
            user: User {
                id: UserId(row.id),
                username: row.username,
                display_name: row.display_name,
                created_at: row.created_at,
                avatar: row.avatar_media_id,
            },
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            joined_at: row.joined_at,
        }
    }
}

/// The groups `user` is a member of now.
pub async fn groups_of(db: &Db, user: UserId) -> sqlx::Result<Vec<ConversationId>> {
    let ids: Vec<i64> = on!(db, |c| sqlx::query_scalar(
        "SELECT m.conversation_id FROM members m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.user_id = $1 AND c.kind = 'group'",
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(ConversationId).collect())
}

/// The conversations `user` is a member of now.
pub async fn conversations_of(db: &Db, user: UserId) -> sqlx::Result<Vec<ConversationId>> {
    let ids: Vec<i64> = on!(db, |c| sqlx::query_scalar(
        "SELECT conversation_id FROM members WHERE user_id = $1"
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(ConversationId).collect())
}

/// Everyone in a conversation.
pub async fn user_ids(db: &Db, conversation: ConversationId) -> sqlx::Result<Vec<UserId>> {
    let ids: Vec<i64> = on!(db, |c| sqlx::query_scalar(USER_IDS)
        .bind(conversation.0)
        .fetch_all(c)
        .await)?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// Someone `user` shares a conversation with, and which ways news of
/// either goes past blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharer {
    pub user: UserId,
    /// `user` has not blocked them: they may see `user`.
    pub sees_user: bool,
    /// They have not blocked `user`: `user` may see them.
    pub seen_by_user: bool,
}

/// Users who share a direct conversation or a small group (at most
/// [`PRESENCE_MAX_MEMBERS`]) with `user`: presence is shared among them.
/// Both directions of blocking in one query, for a connection's `hello`,
/// which both lists who is online and announces `user`.
pub async fn presence_circle(db: &Db, user: UserId) -> sqlx::Result<Vec<Sharer>> {
    sharers(db, user, PRESENCE_MAX_MEMBERS).await
}

/// [`presence_circle`], leaving out anyone on the far side of a block in
/// the given direction: `who_user_blocked` drops people `user` blocked
/// (they must not see `user`), otherwise people who blocked `user` (`user`
/// must not see them).
pub async fn co_members(db: &Db, user: UserId, who_user_blocked: bool) -> sqlx::Result<Vec<UserId>> {
    let circle = presence_circle(db, user).await?;
    Ok(circle
        .into_iter()
        .filter(|s| if who_user_blocked { s.sees_user } else { s.seen_by_user })
        .map(|s| s.user)
        .collect())
}

/// How many users' audiences to ask [`presence_audiences`] for at once.
pub const AUDIENCES_AT_ONCE: usize = 500;

/// [`co_members`] (`who_user_blocked`) of each of `users` (up to
/// [`AUDIENCES_AT_ONCE`] of them), in one query: who may see each of them
/// go. One query rather than one each: when a node stops, every other node
/// announces all its people at once. Users nobody may see are left out.
pub async fn presence_audiences(db: &Db, users: &[UserId]) -> sqlx::Result<HashMap<UserId, Vec<UserId>>> {
    macro_rules! from {
        ($users:literal) => {
            concat!(
                "SELECT DISTINCT mine.user_id, other.user_id FROM ",
                $users,
                " JOIN members mine ON mine.user_id = gone.value
                 JOIN conversations c ON c.id = mine.conversation_id AND c.member_count <= $2
                 JOIN members other ON other.conversation_id = mine.conversation_id
                                   AND other.user_id <> mine.user_id
                 WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = mine.user_id AND b.blocked = other.user_id)"
            )
        };
    }
    let ids: Vec<i64> = users.iter().map(|user| user.0).collect();
    let rows: Vec<(i64, i64)> = match db {
        Db::Sqlite(c) => {
            sqlx::query_as(from!("json_each($1) AS gone"))
                .bind(serde_json::to_string(&ids).unwrap_or_default())
                .bind(PRESENCE_MAX_MEMBERS)
                .fetch_all(c)
                .await?
        }
        Db::Postgres(c) => {
            sqlx::query_as(from!("unnest($1::bigint[]) AS gone(value)"))
                .bind(&ids)
                .bind(PRESENCE_MAX_MEMBERS)
                .fetch_all(c)
                .await?
        }
    };
    let mut audiences: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (user, sees) in rows {
        audiences.entry(UserId(user)).or_default().push(UserId(sees));
    }
    Ok(audiences)
}

/// Users who share any conversation with `user`, however large, but for
/// those `user` blocked: who hears of a profile change. Rare, so worth
/// reaching the crowd of big groups too, whose member lists show the name.
pub async fn profile_audience(db: &Db, user: UserId) -> sqlx::Result<Vec<UserId>> {
    let all = sharers(db, user, i64::MAX).await?;
    Ok(all.into_iter().filter(|s| s.sees_user).map(|s| s.user).collect())
}

async fn sharers(db: &Db, user: UserId, max_members: i64) -> sqlx::Result<Vec<Sharer>> {
    let rows: Vec<(i64, bool, bool)> = on!(db, |c| sqlx::query_as(
        "SELECT DISTINCT other.user_id,
                NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = $1 AND b.blocked = other.user_id),
                NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = other.user_id AND b.blocked = $1)
         FROM members mine
         JOIN conversations c ON c.id = mine.conversation_id AND c.member_count <= $2
         JOIN members other ON other.conversation_id = mine.conversation_id AND other.user_id <> $1
         WHERE mine.user_id = $1"
    )
    .bind(user.0)
    .bind(max_members)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, sees_user, seen_by_user)| Sharer {
            user: UserId(id),
            sees_user,
            seen_by_user,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{each_db, group, user};

    #[tokio::test]
    async fn presence_is_shared_through_small_conversations_only() {
        for (pool, _dir) in each_db().await {
            let me = user(&pool, "me").await;
            let friend = user(&pool, "friend").await;
            let mut crowd = vec![me];
            for i in 0..PRESENCE_MAX_MEMBERS {
                crowd.push(user(&pool, &format!("crowd{i}")).await);
            }
            group(&pool, &[me, friend]).await;
            let big = group(&pool, &crowd).await;

            let count: i64 = on!(&pool, |c| sqlx::query_scalar(
                "SELECT member_count FROM conversations WHERE id = $1"
            )
            .bind(big.0)
            .fetch_one(c)
            .await)
            .unwrap();
            assert_eq!(count, PRESENCE_MAX_MEMBERS + 1, "kept by the insert trigger");
            assert_eq!(
                co_members(&pool, me, true).await.unwrap(),
                [friend],
                "not the big group's members"
            );

            // One leaves: the group is small enough to share presence again.
            let mut tx = pool.begin_write().await.unwrap();
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2"
            )
            .bind(big.0)
            .bind(crowd[1].0)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))
            .unwrap();
            tx.commit().await.unwrap();
            let mut shared = co_members(&pool, me, true).await.unwrap();
            shared.sort_by_key(|u| u.0);
            assert_eq!(shared.len(), PRESENCE_MAX_MEMBERS as usize, "friend + 99 of the crowd");
            assert!(shared.contains(&friend) && !shared.contains(&crowd[1]));
        }
    }

    #[tokio::test]
    async fn the_circle_tells_both_directions_of_a_block() {
        for (pool, _dir) in each_db().await {
            let (me, mine, theirs, friend) = (
                user(&pool, "me").await,
                user(&pool, "mine").await,
                user(&pool, "theirs").await,
                user(&pool, "friend").await,
            );
            group(&pool, &[me, mine, theirs, friend]).await;
            let mut tx = pool.begin_write().await.unwrap();
            for (blocker, blocked) in [(me, mine), (theirs, me)] {
                on_tx!(&mut tx, |c| sqlx::query(
                    "INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, 0)"
                )
                .bind(blocker.0)
                .bind(blocked.0)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))
                .unwrap();
            }
            tx.commit().await.unwrap();
            let mut circle = presence_circle(&pool, me).await.unwrap();
            circle.sort_by_key(|s| s.user.0);
            let seen = |user, sees_user, seen_by_user| Sharer {
                user,
                sees_user,
                seen_by_user,
            };
            assert_eq!(
                circle,
                [
                    seen(mine, false, true),
                    seen(theirs, true, false),
                    seen(friend, true, true)
                ]
            );
            let sorted = |mut v: Vec<UserId>| {
                v.sort_by_key(|u| u.0);
                v
            };
            assert_eq!(sorted(co_members(&pool, me, true).await.unwrap()), [theirs, friend]);
            assert_eq!(sorted(co_members(&pool, me, false).await.unwrap()), [mine, friend]);
        }
    }

    #[tokio::test]
    async fn audiences_of_many_are_each_ones_co_members() {
        for (pool, _dir) in each_db().await {
            let (me, mine, theirs, friend, alone) = (
                user(&pool, "me").await,
                user(&pool, "mine").await,
                user(&pool, "theirs").await,
                user(&pool, "friend").await,
                user(&pool, "alone").await,
            );
            group(&pool, &[me, mine, theirs, friend]).await;
            group(&pool, &[friend, theirs]).await;
            let mut tx = pool.begin_write().await.unwrap();
            crate::db::contacts::block(&mut tx, me, mine, 0).await.unwrap();
            tx.commit().await.unwrap();

            let everyone = [me, mine, theirs, friend, alone];
            let audiences = presence_audiences(&pool, &everyone).await.unwrap();
            for user in everyone {
                let mut audience = audiences.get(&user).cloned().unwrap_or_default();
                audience.sort_by_key(|u| u.0);
                let mut one = co_members(&pool, user, true).await.unwrap();
                one.sort_by_key(|u| u.0);
                assert_eq!(audience, one, "{user:?}: once each, past blocks, as one by one");
            }
            assert!(!audiences.contains_key(&alone));
        }
    }
}
