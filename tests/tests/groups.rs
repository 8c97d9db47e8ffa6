//! Groups over real HTTP: creation from contacts, roles, membership changes
//! as timeline events, ownership passing on, size limits, member paging.

use natter_common::{
    api::{Conversation, ConversationKind, Group, History, Member, Page, Role},
    events::EventBody,
    ids::ConversationId,
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, expect_json, register_all, Authed},
    TestServer,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const GENEROUS: (&str, &str) = ("NATTER_AUTH_RATE_PER_MINUTE", "1000");

async fn timeline(user: &Authed, group: ConversationId) -> anyhow::Result<Vec<EventBody>> {
    let history: History = user
        .get_json(&format!("api/v1/conversations/{}/events?limit=100", group.0))
        .await?;
    let seqs: Vec<i64> = history.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "seq is gapless from 1"
    );
    Ok(history.events.into_iter().map(|e| e.body).collect())
}

async fn role_of(viewer: &Authed, group: ConversationId, user: &Authed) -> anyhow::Result<Option<Role>> {
    let page: Page<Member> = viewer.get_json(&format!("api/v1/groups/{}/members", group.0)).await?;
    Ok(page.items.iter().find(|m| m.user.id == user.id()).map(|m| m.role))
}

#[tokio::test]
async fn create_from_contacts_and_read_the_timeline() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, ann, ben, stranger] = register_all(&server, ["owner", "ann", "ben", "stranger"]).await?;
    befriend(&owner, &ann).await?;
    befriend(&owner, &ben).await?;

    let response = owner
        .post("api/v1/groups", json!({"name": "x", "member_ids": [stranger.id()]}))
        .await?;
    assert_eq!(
        expect_error(response, StatusCode::FORBIDDEN).await?.code,
        ErrorCode::NotContacts
    );
    let response = owner
        .post("api/v1/groups", json!({"name": "   ", "member_ids": []}))
        .await?;
    assert_eq!(
        expect_error(response, StatusCode::BAD_REQUEST).await?.code,
        ErrorCode::InvalidInput { field: "name".into() }
    );

    let group = create_group(&owner, " Book club ", &[&ann, &ben]).await?;
    assert_eq!(
        (group.name.as_str(), group.member_count, group.my_role),
        ("Book club", 3, Role::Owner)
    );

    let seen_by_ann: Group = ann.get_json(&format!("api/v1/groups/{}", group.id.0)).await?;
    assert_eq!(seen_by_ann.my_role, Role::Member);
    assert_eq!(ann.get_json::<Vec<Group>>("api/v1/groups").await?.len(), 1);
    assert_eq!(role_of(&ann, group.id, &owner).await?, Some(Role::Owner));

    let conversations: Vec<Conversation> = ben.get_json("api/v1/conversations").await?;
    assert!(conversations.iter().any(|c| c.id == group.id
        && matches!(&c.kind, ConversationKind::Group { name, member_count: 3 } if name == "Book club")));

    assert_eq!(
        timeline(&ann, group.id).await?,
        vec![
            EventBody::GroupCreated {
                name: "Book club".into()
            },
            EventBody::MemberJoined { user: owner.id() },
            // Added together: one event for both.
            EventBody::MembersJoined {
                users: vec![ann.id(), ben.id()]
            },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn admins_manage_members_and_changes_land_in_the_timeline() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, admin, member, late] = register_all(&server, ["g_owner", "g_admin", "g_member", "g_late"]).await?;
    for other in [&admin, &member, &late] {
        befriend(&owner, other).await?;
    }
    befriend(&admin, &late).await?;
    let group = create_group(&owner, "Team", &[&admin, &member]).await?;
    let base = format!("api/v1/groups/{}", group.id.0);

    let promote = owner
        .call(
            Method::PUT,
            &format!("{base}/members/{}/role", admin.id().0),
            Some(json!({"role": "admin"})),
        )
        .await?;
    assert_eq!(promote.status(), StatusCode::NO_CONTENT);

    let renamed: Group = expect_json(
        admin
            .call(Method::PATCH, &base, Some(json!({"name": "Team 2"})))
            .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(renamed.name, "Team 2");
    let added: Group = expect_json(
        admin
            .post(&format!("{base}/members"), json!({"user_ids": [late.id()]}))
            .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(added.member_count, 4);
    assert_eq!(
        admin
            .delete(&format!("{base}/members/{}", member.id().0))
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        late.post(&format!("{base}/leave"), json!({})).await?.status(),
        StatusCode::NO_CONTENT
    );

    // The removed member no longer sees the group at all.
    expect_error(member.get(&base).await?, StatusCode::NOT_FOUND).await?;

    let events = timeline(&owner, group.id).await?;
    assert_eq!(
        events[3..],
        [
            EventBody::RoleChanged {
                user: admin.id(),
                role: Role::Admin
            },
            EventBody::GroupRenamed { name: "Team 2".into() },
            EventBody::MemberJoined { user: late.id() },
            EventBody::MemberRemoved { user: member.id() },
            EventBody::MemberLeft { user: late.id() },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn owner_leaving_passes_ownership_to_the_longest_standing_admin_then_member() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, first, second, admin] = register_all(&server, ["o_owner", "o_first", "o_second", "o_admin"]).await?;
    for other in [&first, &second, &admin] {
        befriend(&owner, other).await?;
    }
    let group = create_group(&owner, "Heirs", &[&first, &second]).await?;
    let base = format!("api/v1/groups/{}", group.id.0);
    owner
        .post(&format!("{base}/members"), json!({"user_ids": [admin.id()]}))
        .await?;
    owner
        .call(
            Method::PUT,
            &format!("{base}/members/{}/role", admin.id().0),
            Some(json!({"role": "admin"})),
        )
        .await?;

    // The admin inherits although the members joined earlier.
    assert_eq!(
        owner.post(&format!("{base}/leave"), json!({})).await?.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_of(&first, group.id, &admin).await?, Some(Role::Owner));
    assert_eq!(role_of(&first, group.id, &owner).await?, None);

    // With no admin left, the longest-standing member inherits.
    admin.post(&format!("{base}/leave"), json!({})).await?;
    assert_eq!(role_of(&second, group.id, &first).await?, Some(Role::Owner));
    Ok(())
}

#[tokio::test]
async fn ownership_transfer_demotes_the_old_owner_to_admin() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, heir] = register_all(&server, ["t_owner", "t_heir"]).await?;
    befriend(&owner, &heir).await?;
    let group = create_group(&owner, "Handover", &[&heir]).await?;
    let role_path = |u: &Authed| format!("api/v1/groups/{}/members/{}/role", group.id.0, u.id().0);

    let own_role = owner
        .call(Method::PUT, &role_path(&owner), Some(json!({"role": "member"})))
        .await?;
    expect_error(own_role, StatusCode::FORBIDDEN).await?;
    let transfer = owner
        .call(Method::PUT, &role_path(&heir), Some(json!({"role": "owner"})))
        .await?;
    assert_eq!(transfer.status(), StatusCode::NO_CONTENT);
    assert_eq!(role_of(&heir, group.id, &heir).await?, Some(Role::Owner));
    assert_eq!(role_of(&heir, group.id, &owner).await?, Some(Role::Admin));
    // The old owner can no longer change roles.
    let again = owner
        .call(Method::PUT, &role_path(&heir), Some(json!({"role": "member"})))
        .await?;
    expect_error(again, StatusCode::FORBIDDEN).await?;
    Ok(())
}

#[tokio::test]
async fn group_size_is_capped_with_a_typed_error() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS, ("NATTER_MAX_GROUP_SIZE", "3")]).await?;
    let [owner, a, b, c] = register_all(&server, ["cap_owner", "cap_a", "cap_b", "cap_c"]).await?;
    for other in [&a, &b, &c] {
        befriend(&owner, other).await?;
    }
    let response = owner
        .post(
            "api/v1/groups",
            json!({"name": "Too big", "member_ids": [a.id(), b.id(), c.id()]}),
        )
        .await?;
    assert_eq!(
        expect_error(response, StatusCode::CONFLICT).await?.code,
        ErrorCode::GroupFull { max: 3 }
    );
    // Nothing was half-created.
    assert!(owner.get_json::<Vec<Group>>("api/v1/groups").await?.is_empty());

    let group = create_group(&owner, "Just right", &[&a, &b]).await?;
    let response = owner
        .post(
            &format!("api/v1/groups/{}/members", group.id.0),
            json!({"user_ids": [c.id()]}),
        )
        .await?;
    assert_eq!(
        expect_error(response, StatusCode::CONFLICT).await?.code,
        ErrorCode::GroupFull { max: 3 }
    );
    Ok(())
}

#[tokio::test]
async fn member_lists_page() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, a, b, c, d] = register_all(&server, ["p_owner", "p_a", "p_b", "p_c", "p_d"]).await?;
    for other in [&a, &b, &c, &d] {
        befriend(&owner, other).await?;
    }
    let group = create_group(&owner, "Paged", &[&a, &b, &c, &d]).await?;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("api/v1/groups/{}/members?limit=2", group.id.0);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Page<Member> = owner.get_json(&path).await?;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|m| m.user.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = [&owner, &a, &b, &c, &d].iter().map(|u| u.id()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    Ok(())
}

/// `?q=` keeps the members an `@mention` being typed can mean: a username
/// or a word of a display name starting with it, case ignored, LIKE's
/// wildcards taken as text, paged as the whole list is.
#[tokio::test]
async fn members_are_found_by_a_prefix_of_their_username_or_a_word_of_their_name() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[GENEROUS]).await?;
    let [owner, ada, adam, bea, cy, lookalike, outsider] = register_all(
        &server,
        ["mq_owner", "mq_ada_l", "mq_adam", "mq_bea", "mq_cy", "mqxadz", "mq_adx"],
    )
    .await?;
    for (user, name) in [(&bea, "Ada Lovelace"), (&cy, "Cyrus ADAMS")] {
        let response = user
            .call(Method::PATCH, "api/v1/me", Some(json!({ "display_name": name })))
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    for other in [&ada, &adam, &bea, &cy, &lookalike, &outsider] {
        befriend(&owner, other).await?;
    }
    let group = create_group(&owner, "Prefixed", &[&ada, &adam, &bea, &cy, &lookalike]).await?;
    let found = |q: &'static str| {
        let owner = &owner;
        async move {
            let page: Page<Member> = owner
                .get_json(&format!("api/v1/groups/{}/members?q={q}", group.id.0))
                .await?;
            anyhow::Ok(page.items.into_iter().map(|m| m.user.username).collect::<Vec<_>>())
        }
    };
    // By user id, as the list is; `_` is an underscore, not any character.
    assert_eq!(found("mq_ad").await?, ["mq_ada_l", "mq_adam"]);
    assert_eq!(found("MQ_ADA").await?, ["mq_ada_l", "mq_adam"]);
    // Any word of the display name, from its start only.
    assert_eq!(found("love").await?, ["mq_bea"]);
    assert_eq!(found("ada").await?, ["mq_bea", "mq_cy"]);
    assert_eq!(found("yrus").await?, Vec::<String>::new());
    assert_eq!(found("%25").await?, Vec::<String>::new());
    // Empty is no filter.
    assert_eq!(found("").await?.len(), 6);

    // Paged by the same cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Page<Member> = owner
            .get_json(&format!("api/v1/groups/{}/members?q=mq_&limit=2{cursor}", group.id.0))
            .await?;
        seen.extend(page.items.into_iter().map(|m| m.user.username));
        match page.next_cursor {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["mq_owner", "mq_ada_l", "mq_adam", "mq_bea", "mq_cy"]);

    let too_long = owner
        .get(&format!("api/v1/groups/{}/members?q={}", group.id.0, "a".repeat(65)))
        .await?;
    let error = expect_error(too_long, StatusCode::BAD_REQUEST).await?;
    assert_eq!(error.code, ErrorCode::InvalidInput { field: "q".into() });
    // Members only, as without `q`.
    let outside = outsider
        .get(&format!("api/v1/groups/{}/members?q=mq", group.id.0))
        .await?;
    expect_error(outside, StatusCode::NOT_FOUND).await?;
    Ok(())
}
