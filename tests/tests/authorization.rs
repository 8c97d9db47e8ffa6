//! Who may do what: every forbidden action, table-driven, refused with the
//! right typed error and without side effects.

use natter_common::{
    api::{Contact, Group, Member, Page, RequestOutcome},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, expect_error, expect_json, register_all, Authed},
    TestServer,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Case {
    what: &'static str,
    actor: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    status: StatusCode,
    code: ErrorCode,
}

#[tokio::test]
async fn forbidden_actions_are_refused_with_typed_errors() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[("NATTER_AUTH_RATE_PER_MINUTE", "1000")]).await?;
    let [owner, admin, member, stranger, pest] =
        register_all(&server, ["az_owner", "az_admin", "az_member", "az_stranger", "az_pest"]).await?;
    befriend(&owner, &admin).await?;
    let dm = befriend(&owner, &member).await?;
    let group: Group = expect_json(
        owner
            .post(
                "api/v1/groups",
                json!({"name": "Private", "member_ids": [admin.id(), member.id()]}),
            )
            .await?,
        StatusCode::CREATED,
    )
    .await?;
    owner
        .call(
            Method::PUT,
            &format!("api/v1/groups/{}/members/{}/role", group.id.0, admin.id().0),
            Some(json!({"role": "admin"})),
        )
        .await?;
    let RequestOutcome::Pending { request } = expect_json(
        pest.post("api/v1/contact-requests", json!({"user_id": member.id()}))
            .await?,
        StatusCode::CREATED,
    )
    .await?
    else {
        panic!("pending expected")
    };
    assert_eq!(
        owner
            .post("api/v1/blocks", json!({"user_id": pest.id()}))
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );

    let g = format!("api/v1/groups/{}", group.id.0);
    let not_found = (StatusCode::NOT_FOUND, ErrorCode::NotFound);
    let forbidden = (StatusCode::FORBIDDEN, ErrorCode::Forbidden);
    let rows = [
        // Non-members can neither read nor change a group (nor learn it exists).
        (
            "stranger reads group",
            "stranger",
            Method::GET,
            g.clone(),
            None,
            not_found.clone(),
        ),
        (
            "stranger lists members",
            "stranger",
            Method::GET,
            format!("{g}/members"),
            None,
            not_found.clone(),
        ),
        (
            "stranger reads group history",
            "stranger",
            Method::GET,
            format!("api/v1/conversations/{}/events", group.id.0),
            None,
            not_found.clone(),
        ),
        (
            "stranger renames",
            "stranger",
            Method::PATCH,
            g.clone(),
            Some(json!({"name": "Mine"})),
            not_found.clone(),
        ),
        (
            "stranger adds self",
            "stranger",
            Method::POST,
            format!("{g}/members"),
            Some(json!({"user_ids": [stranger.id()]})),
            not_found.clone(),
        ),
        (
            "stranger removes member",
            "stranger",
            Method::DELETE,
            format!("{g}/members/{}", member.id().0),
            None,
            not_found.clone(),
        ),
        (
            "stranger leaves",
            "stranger",
            Method::POST,
            format!("{g}/leave"),
            None,
            not_found.clone(),
        ),
        (
            "stranger sets role",
            "stranger",
            Method::PUT,
            format!("{g}/members/{}/role", stranger.id().0),
            Some(json!({"role": "owner"})),
            not_found.clone(),
        ),
        (
            "stranger reads a DM",
            "stranger",
            Method::GET,
            format!("api/v1/conversations/{}/events", dm.0),
            None,
            not_found.clone(),
        ),
        (
            "a DM is not a group",
            "owner",
            Method::GET,
            format!("api/v1/groups/{}", dm.0),
            None,
            not_found.clone(),
        ),
        (
            "stranger accepts another's request",
            "stranger",
            Method::POST,
            format!("api/v1/contact-requests/{}/accept", request.id.0),
            None,
            not_found.clone(),
        ),
        (
            "stranger cancels another's request",
            "stranger",
            Method::DELETE,
            format!("api/v1/contact-requests/{}", request.id.0),
            None,
            not_found.clone(),
        ),
        // Members can't manage.
        (
            "member renames",
            "member",
            Method::PATCH,
            g.clone(),
            Some(json!({"name": "Ours"})),
            forbidden.clone(),
        ),
        (
            "member adds",
            "member",
            Method::POST,
            format!("{g}/members"),
            Some(json!({"user_ids": [owner.id()]})),
            forbidden.clone(),
        ),
        (
            "member removes admin",
            "member",
            Method::DELETE,
            format!("{g}/members/{}", admin.id().0),
            None,
            forbidden.clone(),
        ),
        (
            "member removes owner",
            "member",
            Method::DELETE,
            format!("{g}/members/{}", owner.id().0),
            None,
            forbidden.clone(),
        ),
        (
            "member promotes self",
            "member",
            Method::PUT,
            format!("{g}/members/{}/role", member.id().0),
            Some(json!({"role": "admin"})),
            forbidden.clone(),
        ),
        // Admins can't touch the owner or roles.
        (
            "admin removes owner",
            "admin",
            Method::DELETE,
            format!("{g}/members/{}", owner.id().0),
            None,
            forbidden.clone(),
        ),
        (
            "admin changes roles",
            "admin",
            Method::PUT,
            format!("{g}/members/{}/role", member.id().0),
            Some(json!({"role": "admin"})),
            forbidden.clone(),
        ),
        (
            "admin seizes ownership",
            "admin",
            Method::PUT,
            format!("{g}/members/{}/role", admin.id().0),
            Some(json!({"role": "owner"})),
            forbidden.clone(),
        ),
        // Only contacts join groups; blocked users are refused.
        (
            "admin adds a non-contact",
            "admin",
            Method::POST,
            format!("{g}/members"),
            Some(json!({"user_ids": [stranger.id()]})),
            (StatusCode::FORBIDDEN, ErrorCode::NotContacts),
        ),
        (
            "owner adds a blocked user",
            "owner",
            Method::POST,
            format!("{g}/members"),
            Some(json!({"user_ids": [pest.id()]})),
            (StatusCode::FORBIDDEN, ErrorCode::NotContacts),
        ),
        (
            "blocked user asks the blocker",
            "pest",
            Method::POST,
            "api/v1/contact-requests".into(),
            Some(json!({"user_id": owner.id()})),
            (StatusCode::FORBIDDEN, ErrorCode::Blocked),
        ),
        (
            "blocker asks the blocked",
            "owner",
            Method::POST,
            "api/v1/contact-requests".into(),
            Some(json!({"user_id": pest.id()})),
            (StatusCode::FORBIDDEN, ErrorCode::Blocked),
        ),
    ];
    let cases = rows
        .into_iter()
        .map(|(what, actor, method, path, body, (status, code))| Case {
            what,
            actor,
            method,
            path,
            body,
            status,
            code,
        });

    let actor = |name: &str| -> &Authed {
        match name {
            "owner" => &owner,
            "admin" => &admin,
            "member" => &member,
            "stranger" => &stranger,
            "pest" => &pest,
            other => panic!("unknown actor {other}"),
        }
    };
    let mut failures = Vec::new();
    for case in cases {
        let response = actor(case.actor)
            .call(case.method.clone(), &case.path, case.body.clone())
            .await?;
        match expect_error(response, case.status).await {
            Ok(error) if error.code == case.code => {}
            Ok(error) => failures.push(format!("{}: expected {:?}, got {:?}", case.what, case.code, error.code)),
            Err(err) => failures.push(format!("{}: {err}", case.what)),
        }
    }
    assert!(
        failures.is_empty(),
        "refusals that went wrong:\n{}",
        failures.join("\n")
    );

    // Nothing refused above changed anything.
    let after: Group = owner.get_json(&g).await?;
    assert_eq!((after.name.as_str(), after.member_count), ("Private", 3));
    let members: Page<Member> = owner.get_json(&format!("{g}/members")).await?;
    assert_eq!(members.items.len(), 3);
    // A contact list is only ever the caller's own.
    assert!(stranger.get_json::<Vec<Contact>>("api/v1/contacts").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn every_api_route_needs_a_session() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let http = reqwest::Client::new();
    let routes = [
        (Method::GET, "api/v1/me"),
        (Method::PATCH, "api/v1/me"),
        (Method::POST, "api/v1/auth/logout"),
        (Method::GET, "api/v1/sessions"),
        (Method::DELETE, "api/v1/sessions/1"),
        (Method::GET, "api/v1/users/search?q=a"),
        (Method::GET, "api/v1/users/1"),
        (Method::GET, "api/v1/contacts"),
        (Method::DELETE, "api/v1/contacts/1"),
        (Method::GET, "api/v1/contact-requests"),
        (Method::POST, "api/v1/contact-requests"),
        (Method::POST, "api/v1/contact-requests/1/accept"),
        (Method::POST, "api/v1/contact-requests/1/decline"),
        (Method::DELETE, "api/v1/contact-requests/1"),
        (Method::GET, "api/v1/blocks"),
        (Method::POST, "api/v1/blocks"),
        (Method::DELETE, "api/v1/blocks/1"),
        (Method::GET, "api/v1/groups"),
        (Method::POST, "api/v1/groups"),
        (Method::GET, "api/v1/groups/1"),
        (Method::PATCH, "api/v1/groups/1"),
        (Method::GET, "api/v1/groups/1/members"),
        (Method::POST, "api/v1/groups/1/members"),
        (Method::DELETE, "api/v1/groups/1/members/1"),
        (Method::PUT, "api/v1/groups/1/members/1/role"),
        (Method::POST, "api/v1/groups/1/leave"),
        (Method::GET, "api/v1/conversations"),
        (Method::GET, "api/v1/conversations/1/events"),
    ];
    for (method, path) in routes {
        let response = http
            .request(method.clone(), server.at(path))
            .json(&json!({}))
            .send()
            .await?;
        let error = expect_error(response, StatusCode::UNAUTHORIZED)
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
        assert_eq!(error.code, ErrorCode::Unauthorized, "{method} {path}");
    }
    Ok(())
}

/// Page sizes outside a listing's range are a client's bug: refused with the
/// field named, never quietly clamped.
#[tokio::test]
async fn page_sizes_outside_their_range_are_refused() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann, bob] = register_all(&server, ["limit_ann", "limit_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let group: Group = expect_json(
        ann.post(
            "api/v1/groups",
            serde_json::json!({"name": "Limits", "member_ids": [bob.id()]}),
        )
        .await?,
        StatusCode::CREATED,
    )
    .await?;
    let routes = [
        (format!("api/v1/conversations/{}/events", dm.0), 100),
        (format!("api/v1/groups/{}/members", group.id.0), 100),
        ("api/v1/users/search?q=limit".to_owned(), 50),
        ("api/v1/search/messages?q=limit".to_owned(), 50),
    ];
    for (route, max) in routes {
        let join = if route.contains('?') { '&' } else { '?' };
        for limit in [0, max + 1] {
            let response = ann.get(&format!("{route}{join}limit={limit}")).await?;
            let error = expect_error(response, StatusCode::BAD_REQUEST).await?;
            assert_eq!(
                error.code,
                ErrorCode::InvalidInput { field: "limit".into() },
                "{route} limit={limit}"
            );
        }
        let response = ann.get(&format!("{route}{join}limit={max}")).await?;
        assert_eq!(response.status(), StatusCode::OK, "{route} limit={max}");
    }
    Ok(())
}
