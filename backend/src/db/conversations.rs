//! Queries on `conversations`: DM pairs and groups.

use super::{on, on_tx, Db, Tx};
use natter_common::{
    api::{Conversation, ConversationKind, Role, User},
    ids::{ConversationId, UserId},
    validate::GroupName,
};

/// The direct conversation of a pair, created (with both as members) if it
/// does not exist yet. A pair keeps one conversation for good, so its
/// history survives removing and re-adding each other.
pub async fn direct(conn: &mut Tx, a: UserId, b: UserId, now: i64) -> sqlx::Result<ConversationId> {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    on_tx!(conn, |c| sqlx::query(
        "INSERT INTO conversations (kind, dm_low, dm_high, created_at) VALUES ('direct', $1, $2, $3)
         ON CONFLICT (dm_low, dm_high) DO NOTHING",
    )
    .bind(low.0)
    .bind(high.0)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    let id: i64 = on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT id FROM conversations WHERE dm_low = $1 AND dm_high = $2"
    )
    .bind(low.0)
    .bind(high.0)
    .fetch_one(c)
    .await)?;
    let id = ConversationId(id);
    for user in [low, high] {
        super::members::add(conn, id, user, Role::Member, now).await?;
    }
    Ok(id)
}

/// A new group named $1 at $2; returns its id.
pub(crate) const CREATE_GROUP: &str =
    "INSERT INTO conversations (kind, name, created_at) VALUES ('group', $1, $2) RETURNING id";

pub async fn create_group(conn: &mut Tx, name: &GroupName, now: i64) -> sqlx::Result<ConversationId> {
    let id: i64 = on_tx!(conn, |c| sqlx::query_scalar(CREATE_GROUP)
        .bind(name.as_str())
        .bind(now)
        .fetch_one(c)
        .await)?;
    Ok(ConversationId(id))
}

/// A group's own fields and size.
#[derive(Debug, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub member_count: i64,
}

impl GroupRow {
    /// The group as a member in `my_role` sees it.
    pub fn into_group(self, my_role: Role) -> natter_common::api::Group {
        natter_common::api::Group {
            id: ConversationId(self.id),
            name: self.name,
            member_count: u32::try_from(self.member_count).unwrap_or(u32::MAX),
            my_role,
            created_at: self.created_at,
        }
    }
}

/// Group $1's row (here and on the writer's connection).
pub(crate) const GROUP: &str =
    "SELECT c.id, c.name, c.created_at, c.member_count FROM conversations c WHERE c.id = $1 AND c.kind = 'group'";

pub async fn group(db: &Db, id: ConversationId) -> sqlx::Result<Option<GroupRow>> {
    on!(db, |c| sqlx::query_as(GROUP).bind(id.0).fetch_optional(c).await)
}

/// The caller's groups with their role in each.
pub async fn groups_of(db: &Db, user: UserId) -> sqlx::Result<Vec<(GroupRow, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        group: GroupRow,
        role: String,
    }
    let rows: Vec<Row> = on!(db, |c| sqlx::query_as(
        "SELECT c.id, c.name, c.created_at, mine.role,
                c.member_count
         FROM members mine JOIN conversations c ON c.id = mine.conversation_id
         WHERE mine.user_id = $1 AND c.kind = 'group' ORDER BY c.id",
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|r| (r.group, r.role)).collect())
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    kind: String,
    name: Option<String>,
    last_seq: i64,
    read_seq: i64,
    created_at: i64,
    member_count: i64,
    peer_id: Option<i64>,
    peer_username: Option<String>,
    peer_display_name: Option<String>,
    peer_created_at: Option<i64>,
    peer_avatar: Option<String>,
    last_id: Option<String>,
    last_sender: Option<i64>,
    last_client_msg_id: Option<String>,
    last_created_at: Option<i64>,
    last_body: Option<String>,
    unread_mentions: i64,
    notify: String,
}

/// Every conversation the user is a member of, most recently active first.
pub async fn list_for(db: &Db, user: UserId) -> sqlx::Result<Vec<Conversation>> {
    let rows: Vec<ConversationRow> = on!(db, |c| sqlx::query_as(
        "SELECT c.id, c.kind, c.name, COALESCE(e.seq, 0) AS last_seq, COALESCE(r.seq, 0) AS read_seq, c.created_at,
                c.member_count,
                p.id AS peer_id, p.username AS peer_username,
                p.display_name AS peer_display_name, p.created_at AS peer_created_at,
                p.avatar_media_id AS peer_avatar,
                e.id AS last_id, e.sender_id AS last_sender, e.client_msg_id AS last_client_msg_id,
                e.created_at AS last_created_at, e.body AS last_body,
                (SELECT COUNT(*) FROM (SELECT 1 FROM mentions x
                    WHERE x.user_id = $1 AND x.conversation_id = c.id AND x.seq > COALESCE(r.seq, 0)
                    LIMIT 1000) AS x) AS unread_mentions,
                mine.notify
         FROM members mine
         JOIN conversations c ON c.id = mine.conversation_id
         LEFT JOIN users p ON c.kind = 'direct'
              AND p.id = CASE WHEN c.dm_low = $1 THEN c.dm_high ELSE c.dm_low END
         LEFT JOIN events e ON e.conversation_id = c.id
              AND e.seq = (SELECT MAX(seq) FROM events WHERE conversation_id = c.id)
         LEFT JOIN read_markers r ON r.user_id = $1 AND r.conversation_id = c.id
         WHERE mine.user_id = $1
         ORDER BY COALESCE(e.created_at, c.created_at) DESC, c.id DESC",
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().filter_map(conversation_from_row).collect())
}

fn conversation_from_row(row: ConversationRow) -> Option<Conversation> {
    let kind = match row.kind.as_str() {
        "direct" => ConversationKind::Direct {
            peer: User {
                id: UserId(row.peer_id?),
                username: row.peer_username?,
                display_name: row.peer_display_name?,
                created_at: row.peer_created_at?,
                avatar: row.peer_avatar,
            },
        },
        _ => ConversationKind::Group {
            name: row.name.unwrap_or_default(),
            member_count: u32::try_from(row.member_count).unwrap_or(u32::MAX),
        },
    };
    let last_event = match (row.last_id, row.last_sender, row.last_created_at, row.last_body) {
        (Some(id), Some(sender), Some(created_at), Some(body)) => Some(super::events::from_parts(
            ConversationId(row.id),
            row.last_seq,
            id,
            UserId(sender),
            row.last_client_msg_id,
            created_at,
            &body,
        )),
        _ => None,
    };
    Some(Conversation {
        id: ConversationId(row.id),
        kind,
        last_seq: row.last_seq,
        read_seq: row.read_seq,
        created_at: row.created_at,
        last_event,
        unread_mentions: u32::try_from(row.unread_mentions).unwrap_or(u32::MAX),
        notify: super::notify::level(&row.notify),
    })
}

/// Whether `user` is a member of `id`, for read access checks.
pub async fn is_member(db: &Db, id: ConversationId, user: UserId) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)"
    )
    .bind(id.0)
    .bind(user.0)
    .fetch_one(c)
    .await)
}
