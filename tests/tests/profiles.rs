//! Profile changes reach the people who see them live, over the real
//! binary: a `user_updated` frame, once the change is stored, for a rename,
//! a new picture and a removed one, to everyone sharing a conversation with
//! the user (a DM, or only a group) and to the user's own other devices;
//! never to a stranger, nor to someone the user blocked. Unlike presence,
//! a change reaches the members of groups past 100 members too.

use natter_common::{api::User, frames::ServerFrame};
use natter_tests::{
    api::{befriend, create_group, expect_json, register_all, Authed},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The `user_updated` frames queued for `ws` before the server answered a
/// ping: everything sent to it before that, as a connection's frames keep
/// their order.
async fn updates_so_far(ws: &mut WsClient, nonce: u64) -> anyhow::Result<Vec<User>> {
    Ok(ws
        .until_pong(nonce)
        .await?
        .into_iter()
        .filter_map(|frame| match frame {
            ServerFrame::UserUpdated { user } => Some(user),
            _ => None,
        })
        .collect())
}

/// `ann`'s profile changed by `method path body`, as the server answers it.
async fn change(ann: &Authed, method: Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<User> {
    expect_json(ann.call(method, path, body).await?, StatusCode::OK).await
}

#[tokio::test]
async fn a_new_name_or_picture_reaches_those_who_see_the_user_at_once() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann, bob, dan, cat, eve] =
        register_all(&server, ["upd_ann", "upd_bob", "upd_dan", "upd_cat", "upd_eve"]).await?;
    // Bob shares a DM with Ann; Dan only a group (Bob's); Cat a group Ann
    // made before blocking her; Eve nothing.
    befriend(&ann, &bob).await?;
    befriend(&bob, &dan).await?;
    create_group(&bob, "Crew", &[&ann, &dan]).await?;
    befriend(&ann, &cat).await?;
    create_group(&ann, "Cats", &[&cat]).await?;
    let blocked = ann.post("api/v1/blocks", json!({ "user_id": cat.id() })).await?;
    assert_eq!(blocked.status(), StatusCode::NO_CONTENT);

    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut dan_ws = WsClient::connect(&server, &dan.token).await?;
    let mut cat_ws = WsClient::connect(&server, &cat.token).await?;
    let mut eve_ws = WsClient::connect(&server, &eve.token).await?;
    let mut ann_phone = WsClient::connect(&server, &ann.token).await?;

    let renamed = change(
        &ann,
        Method::PATCH,
        "api/v1/me",
        Some(json!({ "display_name": "Ann Renamed" })),
    )
    .await?;
    assert_eq!(renamed.display_name, "Ann Renamed");
    let media = ann.upload_png(48, 48, 9).await?;
    let pictured = change(
        &ann,
        Method::PUT,
        "api/v1/me/avatar",
        Some(json!({ "media_id": media.id })),
    )
    .await?;
    assert_eq!(pictured.avatar.as_deref(), Some(media.id.as_str()));
    let unpictured = change(&ann, Method::DELETE, "api/v1/me/avatar", None).await?;
    assert_eq!(unpictured.avatar, None);

    // Each change, in order, as the server answered it, and nothing else:
    // all were queued before their answers came back.
    let expected = [renamed, pictured, unpictured];
    for (who, ws) in [
        ("Bob", &mut bob_ws),
        ("Dan", &mut dan_ws),
        ("Ann's phone", &mut ann_phone),
    ] {
        assert_eq!(updates_so_far(ws, 1).await?, expected, "{who}");
    }
    assert_eq!(updates_so_far(&mut eve_ws, 1).await?, [], "a stranger was told");
    assert_eq!(
        updates_so_far(&mut cat_ws, 1).await?,
        [],
        "someone Ann blocked was told"
    );

    // A refused name, or a PATCH that changes nothing, is no news: only
    // what was stored goes out.
    let refused = ann
        .call(Method::PATCH, "api/v1/me", Some(json!({ "display_name": "   " })))
        .await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    change(&ann, Method::PATCH, "api/v1/me", Some(json!({}))).await?;
    assert_eq!(updates_so_far(&mut bob_ws, 2).await?, [], "news of nothing");
    Ok(())
}

#[tokio::test]
async fn a_rename_reaches_members_of_a_group_too_big_for_presence() -> anyhow::Result<()> {
    // 150 members, and no DM between any two: the group is all they share.
    let (server, provisioned) =
        TestServer::provisioned(&["--users", "150", "--ring", "0", "--group-size", "150"], &FAST).await?;
    assert!(provisioned.group.is_some() && provisioned.pairs.is_empty());
    let renamer = Authed::from_token(&server, &provisioned.users[1].token).await?;
    let mut far_member = WsClient::connect(&server, &provisioned.users[149].token).await?;

    let renamed = change(
        &renamer,
        Method::PATCH,
        "api/v1/me",
        Some(json!({ "display_name": "Crowd Member One" })),
    )
    .await?;
    assert_eq!(updates_so_far(&mut far_member, 1).await?, [renamed]);
    Ok(())
}
