//! Deleting an account against the real binary: the password confirms it,
//! the person is signed out everywhere and can't sign in, their contacts,
//! requests, blocks, group memberships (ownership passing on) and the
//! images only they used go, and others' conversations still read, with
//! their messages from "Deleted user".

use natter_common::{
    api::{Contact, ContactRequests, Group, Member, Page, User},
    events::{EventBody, MessageContent},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, full_history, login, register_all, Authed, PASSWORD},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn delete_me(user: &Authed, password: &str) -> anyhow::Result<reqwest::Response> {
    user.call(Method::DELETE, "api/v1/me", Some(json!({"password": password})))
        .await
}

#[tokio::test]
async fn a_deleted_account_leaves_others_conversations_readable() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat, dan] = register_all(&server, ["del_ann", "del_bob", "del_cat", "del_dan"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Ann's group", &[&bob, &cat]).await?;
    // A request to dan, pending; a block of cat.
    ann.post("api/v1/contact-requests", json!({"user_id": dan.id()}))
        .await?;
    let shared = ann.upload_png(30, 20, 1).await?;
    let private = ann.upload_png(30, 20, 2).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    ws.post_text(dm, "m1", "hello bob, from ann").await?;
    ws.post(
        dm,
        "m2",
        MessageContent::Image {
            media_id: shared.id.clone(),
        },
    )
    .await?
    .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    ws.post_text(group.id, "m3", "hello group").await?;
    ann.post("api/v1/blocks", json!({"user_id": dan.id()})).await?;

    // A wrong password changes nothing.
    let refused = delete_me(&ann, "not my password").await?;
    assert_eq!(
        expect_error(refused, StatusCode::UNAUTHORIZED).await?.code,
        ErrorCode::InvalidCredentials
    );
    assert_eq!(ann.get("api/v1/me").await?.status(), StatusCode::OK);

    let other_device = Authed::login(&server, "del_ann").await?;
    assert_eq!(delete_me(&ann, PASSWORD).await?.status(), StatusCode::NO_CONTENT);

    // Signed out everywhere, open connections closed, no way back in.
    let (code, _) = ws.until_closed().await?;
    assert_eq!(code, Some(natter_common::frames::close::SESSION_ENDED));
    for token in [&ann.token, &other_device.token] {
        let me = Authed::from_token(&server, token).await;
        assert!(me.is_err(), "a session survived");
    }
    let again = login(&server, "del_ann", PASSWORD).await?;
    assert_eq!(
        expect_error(again, StatusCode::UNAUTHORIZED).await?.code,
        ErrorCode::InvalidCredentials
    );

    // Bob still reads the DM, ann's messages from "Deleted user".
    let history = full_history(&bob, dm).await?;
    let hello = history
        .iter()
        .find(|e| matches!(&e.body, EventBody::Message { content: MessageContent::Text { text }, .. } if text == "hello bob, from ann"))
        .expect("ann's message stays");
    let sender: User = bob.get_json(&format!("api/v1/users/{}", hello.sender.0)).await?;
    assert_eq!(sender.display_name, "Deleted user");
    let contacts: Vec<Contact> = bob.get_json("api/v1/contacts").await?;
    assert!(contacts.iter().all(|c| c.user.id != ann.id()), "no longer a contact");
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    assert!(bob_ws
        .post(
            dm,
            "late",
            MessageContent::Text {
                text: "still there?".into()
            }
        )
        .await?
        .is_err());

    // The group goes on without her, with a new owner.
    let members: Page<Member> = bob.get_json(&format!("api/v1/groups/{}/members", group.id.0)).await?;
    assert!(members.items.iter().all(|m| m.user.id != ann.id()));
    assert!(members.items.iter().any(|m| m.role == natter_common::api::Role::Owner));
    let groups: Vec<Group> = cat.get_json("api/v1/groups").await?;
    assert!(groups.iter().any(|g| g.id == group.id));

    // Requests and blocks are gone; people search doesn't find her.
    let requests: ContactRequests = dan.get_json("api/v1/contact-requests").await?;
    assert!(requests.incoming.is_empty(), "{requests:?}");
    assert_eq!(
        dan.post("api/v1/contact-requests", json!({"user_id": ann.id()}))
            .await?
            .status(),
        StatusCode::NOT_FOUND,
        "nobody to ask"
    );
    let found: Page<User> = bob.get_json("api/v1/users/search?q=del_ann").await?;
    assert!(found.items.is_empty());

    // The image only she used is gone; the one in the DM stays for bob.
    assert_eq!(bob.get(&shared.url).await?.status(), StatusCode::OK);
    assert_eq!(bob.get(&private.url).await?.status(), StatusCode::NOT_FOUND);
    let files: Vec<_> = std::fs::read_dir(server.data_dir().join("media"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.starts_with(&private.id)), "{files:?}");

    // Her username stays reserved.
    let taken = reqwest::Client::new()
        .post(server.at("api/v1/auth/register"))
        .json(&json!({"username": "del_ann", "display_name": "New Ann", "password": PASSWORD}))
        .send()
        .await?;
    assert_eq!(
        expect_error(taken, StatusCode::CONFLICT).await?.code,
        ErrorCode::UsernameTaken
    );
    Ok(())
}
