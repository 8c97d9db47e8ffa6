//! Every query the handlers run, once, on SQLite and on PostgreSQL: one SQL
//! text serves both only while both accept it and answer alike, so each
//! function is called here and its answer checked on each. (The log's
//! writer still runs on SQLite alone; events are put in by hand.)

use natter_common::{
    api::{ConversationKind, NotifyLevel, Role},
    ids::{ConversationId, SessionId, UserId},
    validate::GroupName,
};

use super::{
    contacts, conversations,
    events::{self, Window},
    media, members, notify, on, push, read_markers, sessions,
    testing::{each_db, user},
    users, Db,
};

/// A message from `sender` at `seq`, as the writer would store it.
async fn put_message(db: &Db, conversation: ConversationId, seq: i64, sender: UserId, text: &str) {
    let body = serde_json::json!({"type": "message", "content": {"kind": "text", "text": text}}).to_string();
    on!(db, |c| sqlx::query(
        "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(conversation.0)
    .bind(seq)
    .bind(format!("event-{}-{seq}", conversation.0))
    .bind(sender.0)
    .bind(format!("c{}-{seq}", conversation.0))
    .bind(seq * 1000)
    .bind(body)
    .execute(c)
    .await
    .map(drop))
    .expect("event");
}

#[tokio::test]
async fn the_handlers_queries_answer_alike_on_both_databases() {
    for (db, _dir) in each_db().await {
        let kind = if db.sqlite().is_some() { "sqlite" } else { "postgres" };
        let (ann, bob, cid) = (user(&db, "Ann").await, user(&db, "bob").await, user(&db, "cid").await);

        // Usernames match ignoring case, on both.
        let found = users::account(&db, 0, "ANN").await.unwrap().expect(kind);
        assert_eq!(found.id, ann.0, "{kind}");
        let credentials = users::credentials(&db, "aNn").await.unwrap().expect(kind);
        assert_eq!(credentials.password_hash, "unused", "{kind}");

        // Contact requests, contacts and their direct conversation.
        let mut tx = db.begin_write().await.unwrap();
        let request = contacts::create_request(&mut tx, ann, bob, 10).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(contacts::requests_of(&db, bob, true).await.unwrap().len(), 1, "{kind}");
        assert_eq!(
            contacts::request(&db, request).await.unwrap().map(|r| r.from.id),
            Some(ann),
            "{kind}"
        );
        let mut tx = db.begin_write().await.unwrap();
        let dm = conversations::direct(&mut tx, ann, bob, 20).await.unwrap();
        contacts::add_pair(&mut tx, ann, bob, dm, 20).await.unwrap();
        contacts::delete_requests_between(&mut tx, ann, bob).await.unwrap();
        assert_eq!(
            contacts::contact_conversation(&mut tx, bob, ann).await.unwrap(),
            Some(dm)
        );
        assert!(!contacts::blocked_either_way(&mut tx, ann, bob).await.unwrap());
        tx.commit().await.unwrap();
        let listed = contacts::list(&db, ann).await.unwrap();
        assert_eq!(listed.iter().map(|c| c.user.id).collect::<Vec<_>>(), [bob], "{kind}");

        // A group, its members and its settings.
        let mut tx = db.begin_write().await.unwrap();
        let group = conversations::create_group(&mut tx, &GroupName::parse("crew").unwrap(), 30)
            .await
            .unwrap();
        for (who, role) in [(ann, Role::Owner), (bob, Role::Member), (cid, Role::Member)] {
            assert!(members::add(&mut tx, group, who, role, 30).await.unwrap());
        }
        assert!(
            !members::add(&mut tx, group, cid, Role::Member, 31).await.unwrap(),
            "{kind}"
        );
        tx.commit().await.unwrap();
        assert_eq!(
            members::role(&db, group, ann).await.unwrap(),
            Some(Role::Owner),
            "{kind}"
        );
        assert_eq!(members::page(&db, group, 0, 2).await.unwrap().len(), 2, "{kind}");
        assert_eq!(members::user_ids(&db, group).await.unwrap().len(), 3, "{kind}");
        assert_eq!(members::groups_of(&db, bob).await.unwrap(), [group], "{kind}");
        assert_eq!(members::conversations_of(&db, bob).await.unwrap().len(), 2, "{kind}");
        let mut others = members::co_members(&db, bob, true).await.unwrap();
        others.sort_by_key(|u| u.0);
        assert_eq!(others, [ann, cid], "{kind}");
        let row = conversations::group(&db, group).await.unwrap().expect(kind);
        assert_eq!((row.name.as_str(), row.member_count), ("crew", 3), "{kind}");
        assert_eq!(conversations::groups_of(&db, cid).await.unwrap().len(), 1, "{kind}");
        assert!(conversations::is_member(&db, group, cid).await.unwrap(), "{kind}");
        assert!(
            notify::set(&db, bob, group, NotifyLevel::Muted).await.unwrap(),
            "{kind}"
        );
        assert_eq!(
            notify::get(&db, bob, group).await.unwrap(),
            Some(NotifyLevel::Muted),
            "{kind}"
        );

        // The log as the handlers read it: pages, the list, unread counts.
        for seq in 1..=3 {
            put_message(&db, group, seq, ann, &format!("hello {seq}")).await;
        }
        let page = events::page(&db, group, bob, Window::Newest, 2).await.unwrap();
        assert_eq!((page.events.len(), page.more), (2, true), "{kind}");
        let around = events::page(&db, group, bob, Window::Around(2), 10).await.unwrap();
        assert_eq!(
            around.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3],
            "{kind}"
        );
        let id = around.events[1].id.clone();
        assert_eq!(events::seq_of(&db, group, &id).await.unwrap(), Some(2), "{kind}");
        assert_eq!(
            events::at(&db, group, 3).await.unwrap().map(|(e, _)| e.seq),
            Some(3),
            "{kind}"
        );
        let list = conversations::list_for(&db, bob).await.unwrap();
        assert_eq!(list[0].id, group, "{kind}: the active conversation first");
        assert_eq!((list[0].last_seq, list[0].notify), (3, NotifyLevel::Muted), "{kind}");
        assert!(
            matches!(&list[1].kind, ConversationKind::Direct { peer } if peer.id == ann),
            "{kind}"
        );
        let states = read_markers::states(&db, bob, Some(group)).await.unwrap();
        assert_eq!((states[0].last_seq, states[0].unread), (3, 3), "{kind}");
        assert_eq!(read_markers::states(&db, bob, None).await.unwrap().len(), 2, "{kind}");
        assert!(
            read_markers::receipts(&db, group, bob).await.unwrap().is_empty(),
            "{kind}"
        );

        // Images and who may see them.
        assert!(media::by_id(&db, "nope").await.unwrap().is_none(), "{kind}");
        assert!(!media::visible_to(&db, "nope", bob).await.unwrap(), "{kind}");

        // Sessions, push subscriptions and notification settings.
        let session = sessions::create(
            &db,
            sessions::NewSession {
                user_id: bob,
                token_hash: b"token",
                device_name: "test",
                now: 1,
                expires_at: i64::MAX,
            },
        )
        .await
        .unwrap();
        assert!(sessions::is_live(&db, session, 2).await.unwrap(), "{kind}");
        let keys = push::NewSubscription {
            endpoint: "https://push.example/1",
            p256dh: &[4; 65],
            auth: &[1; 16],
        };
        assert!(push::save(&db, bob, session, keys, 10, 3).await.unwrap(), "{kind}");
        assert!(push::has(&db, session).await.unwrap(), "{kind}");
        assert_eq!(push::subscribed_users(&db).await.unwrap(), [bob], "{kind}");
        let recipient = push::recipient(&db, bob, group, 4).await.unwrap().expect(kind);
        assert_eq!(
            (recipient.notify, recipient.previews, recipient.subscriptions.len()),
            (NotifyLevel::Muted, true, 1),
            "{kind}"
        );
        notify::set_previews(&db, bob, false).await.unwrap();
        assert!(!notify::previews(&db, bob).await.unwrap(), "{kind}");
        let (sender, group_name) = push::origin(&db, group, ann).await.unwrap().expect(kind);
        assert_eq!(
            (sender.as_str(), group_name.as_deref()),
            ("Ann", Some("crew")),
            "{kind}"
        );
        assert!(sessions::revoke(&db, bob, session).await.unwrap(), "{kind}");
        assert!(
            !push::has(&db, session).await.unwrap(),
            "{kind}: the subscription went with the session"
        );
        assert!(
            !sessions::revoke(&db, bob, SessionId(session.0 + 100)).await.unwrap(),
            "{kind}"
        );

        // Blocks.
        let mut tx = db.begin_write().await.unwrap();
        contacts::block(&mut tx, cid, ann, 40).await.unwrap();
        tx.commit().await.unwrap();
        assert!(contacts::has_blocked(&db, cid, ann).await.unwrap(), "{kind}");
        assert_eq!(contacts::blocked_by(&db, cid).await.unwrap()[0].id, ann, "{kind}");
    }
}
