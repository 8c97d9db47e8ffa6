//! Contacts over real HTTP: search, requests (send, accept, decline, cancel,
//! mutual), removal and blocks, and the typed errors around them.

use natter_common::{
    api::{Contact, ContactRequests, Conversation, ConversationKind, Page, RequestOutcome, User},
    ErrorCode,
};
use natter_tests::{
    api::{befriend, expect_error, expect_json, register_all},
    TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

const GENEROUS: [(&str, &str); 1] = [("NATTER_AUTH_RATE_PER_MINUTE", "1000")];

#[tokio::test]
async fn search_by_prefix_pages_and_hides_blockers() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [me, ann, anna, andy, bob] = register_all(&server, ["me_user", "ann", "Anna", "andy", "bob"]).await?;

    // Username prefix, case-insensitive, ordered by username, paged.
    let first: Page<User> = me.get_json("api/v1/users/search?q=AN&limit=2").await?;
    assert_eq!(
        first.items.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        ["andy", "ann"]
    );
    let cursor = first.next_cursor.expect("more pages");
    let second: Page<User> = me
        .get_json(&format!("api/v1/users/search?q=AN&limit=2&cursor={cursor}"))
        .await?;
    assert_eq!(
        second.items.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        ["Anna"]
    );
    assert_eq!(second.next_cursor, None);

    // Display names match too ("bob display").
    let by_display: Page<User> = me.get_json("api/v1/users/search?q=bob%20disp").await?;
    assert_eq!(by_display.items, vec![bob.user.clone()]);
    // LIKE wildcards are literal.
    let wildcard: Page<User> = me.get_json("api/v1/users/search?q=%25").await?;
    assert!(wildcard.items.is_empty());
    // Never myself, by username or by name.
    for mine in ["me_", "ME_USER", "me_user%20disp"] {
        let page: Page<User> = me.get_json(&format!("api/v1/users/search?q={mine}")).await?;
        assert!(page.items.is_empty(), "{mine} listed {:?}", page.items);
    }

    // Someone who blocked me disappears from my results.
    expect_error_free(
        ann.post("api/v1/blocks", json!({"user_id": me.id()})).await?,
        StatusCode::NO_CONTENT,
    )?;
    let after_block: Page<User> = me.get_json("api/v1/users/search?q=an").await?;
    assert!(!after_block.items.iter().any(|u| u.id == ann.id()));
    assert!(after_block.items.iter().any(|u| u.id == anna.id() || u.id == andy.id()));

    for bad in ["", "%20%20", &"x".repeat(65)] {
        let error = expect_error(
            me.get(&format!("api/v1/users/search?q={bad}")).await?,
            StatusCode::BAD_REQUEST,
        )
        .await?;
        assert_eq!(error.code, ErrorCode::InvalidInput { field: "q".into() });
    }
    Ok(())
}

#[tokio::test]
async fn search_finds_any_word_of_a_name_pages_and_never_yourself() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [me, ada, grace, lovejoy, clove] =
        register_all(&server, ["seeker", "ada", "grace", "lovejoy", "clove"]).await?;
    for (who, name) in [
        (&me, "Lovely Seeker"),
        (&ada, "Ada Lovelace"),
        (&grace, "Grace Hopper-Love"),
        (&lovejoy, "Somebody Else"),
        (&clove, "Clove Garlic"),
    ] {
        expect_error_free(
            who.call(reqwest::Method::PATCH, "api/v1/me", Some(json!({"display_name": name})))
                .await?,
            StatusCode::OK,
        )?;
    }
    let usernames = |page: &Page<User>| page.items.iter().map(|u| u.username.clone()).collect::<Vec<_>>();

    // A surname, a hyphenated one, and a username prefix, in one paged list
    // by username; not the middle of a word ("clove"), never me ("Lovely").
    let first: Page<User> = me.get_json("api/v1/users/search?q=LOVE&limit=2").await?;
    assert_eq!(usernames(&first), ["ada", "grace"]);
    let cursor = first.next_cursor.expect("more pages");
    let second: Page<User> = me
        .get_json(&format!("api/v1/users/search?q=LOVE&limit=2&cursor={cursor}"))
        .await?;
    assert_eq!(usernames(&second), ["lovejoy"]);
    assert_eq!(second.next_cursor, None);

    // Several words: each a word of the name in order, the last a prefix.
    let full: Page<User> = me.get_json("api/v1/users/search?q=ada%20lovel").await?;
    assert_eq!(usernames(&full), ["ada"]);
    assert_eq!(full.items[0].display_name, "Ada Lovelace");
    let hyphen: Page<User> = me.get_json("api/v1/users/search?q=hopper-l").await?;
    assert_eq!(usernames(&hyphen), ["grace"]);
    // Full-text syntax in a query is plain text: `NEAR(ada)` as an operator
    // would find Ada; punctuation only separates words.
    for odd in ["%22", "NEAR(ada)", "ada%20OR%20grace", "-", "%00"] {
        let page: Page<User> = me.get_json(&format!("api/v1/users/search?q={odd}")).await?;
        assert!(page.items.is_empty(), "{odd} listed {:?}", page.items);
    }

    // Grace blocks me: her name no longer finds her.
    expect_error_free(
        grace.post("api/v1/blocks", json!({"user_id": me.id()})).await?,
        StatusCode::NO_CONTENT,
    )?;
    let after_block: Page<User> = me.get_json("api/v1/users/search?q=love").await?;
    assert_eq!(usernames(&after_block), ["ada", "lovejoy"]);
    // Others still find me by my own name.
    let found_me: Page<User> = ada.get_json("api/v1/users/search?q=lovely").await?;
    assert_eq!(usernames(&found_me), ["seeker"]);
    Ok(())
}

fn expect_error_free(response: reqwest::Response, status: StatusCode) -> anyhow::Result<()> {
    anyhow::ensure!(
        response.status() == status,
        "expected {status}, got {}",
        response.status()
    );
    Ok(())
}

#[tokio::test]
async fn request_accept_makes_contacts_with_one_direct_conversation() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [alice, bob] = register_all(&server, ["alice", "bob"]).await?;

    let outcome: RequestOutcome = expect_json(
        alice
            .post("api/v1/contact-requests", json!({"user_id": bob.id()}))
            .await?,
        StatusCode::CREATED,
    )
    .await?;
    let RequestOutcome::Pending { request } = outcome else {
        panic!("pending expected")
    };
    assert_eq!((request.from.id, request.to.id), (alice.id(), bob.id()));

    let bobs: ContactRequests = bob.get_json("api/v1/contact-requests").await?;
    assert_eq!(bobs.incoming, vec![request.clone()]);
    assert!(bobs.outgoing.is_empty());
    let alices: ContactRequests = alice.get_json("api/v1/contact-requests").await?;
    assert_eq!(alices.outgoing, vec![request.clone()]);

    // The sender cannot accept their own request.
    let path = format!("api/v1/contact-requests/{}/accept", request.id.0);
    expect_error(alice.post(&path, json!({})).await?, StatusCode::NOT_FOUND).await?;
    let contact: Contact = expect_json(bob.post(&path, json!({})).await?, StatusCode::OK).await?;
    assert_eq!(contact.user.id, alice.id());

    let alice_contacts: Vec<Contact> = alice.get_json("api/v1/contacts").await?;
    let bob_contacts: Vec<Contact> = bob.get_json("api/v1/contacts").await?;
    assert_eq!(alice_contacts.len(), 1);
    assert_eq!(alice_contacts[0].user.id, bob.id());
    assert_eq!(bob_contacts[0].user.id, alice.id());
    assert_eq!(alice_contacts[0].conversation_id, bob_contacts[0].conversation_id);

    let conversations: Vec<Conversation> = alice.get_json("api/v1/conversations").await?;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, contact.conversation_id);
    assert!(matches!(&conversations[0].kind, ConversationKind::Direct { peer } if peer.id == bob.id()));

    let cleared: ContactRequests = bob.get_json("api/v1/contact-requests").await?;
    assert!(cleared.incoming.is_empty() && cleared.outgoing.is_empty());
    Ok(())
}

#[tokio::test]
async fn mutual_requests_connect_at_once() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [a, b] = register_all(&server, ["mutual_a", "mutual_b"]).await?;
    a.post("api/v1/contact-requests", json!({"user_id": b.id()})).await?;
    let outcome: RequestOutcome = expect_json(
        b.post("api/v1/contact-requests", json!({"user_id": a.id()})).await?,
        StatusCode::CREATED,
    )
    .await?;
    assert!(matches!(outcome, RequestOutcome::Accepted { ref contact } if contact.user.id == a.id()));
    let contacts: Vec<Contact> = a.get_json("api/v1/contacts").await?;
    assert_eq!(contacts.len(), 1);
    Ok(())
}

#[tokio::test]
async fn decline_and_cancel_belong_to_the_right_side() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [a, b] = register_all(&server, ["side_a", "side_b"]).await?;
    let RequestOutcome::Pending { request } = expect_json(
        a.post("api/v1/contact-requests", json!({"user_id": b.id()})).await?,
        StatusCode::CREATED,
    )
    .await?
    else {
        panic!("pending expected")
    };
    let decline = format!("api/v1/contact-requests/{}/decline", request.id.0);
    let cancel = format!("api/v1/contact-requests/{}", request.id.0);
    // Only the recipient declines; only the sender cancels.
    expect_error(a.post(&decline, json!({})).await?, StatusCode::NOT_FOUND).await?;
    expect_error(b.delete(&cancel).await?, StatusCode::NOT_FOUND).await?;
    assert_eq!(b.post(&decline, json!({})).await?.status(), StatusCode::NO_CONTENT);
    expect_error(a.delete(&cancel).await?, StatusCode::NOT_FOUND).await?;

    // After a decline, a new request can be sent, and cancelled by its sender.
    let RequestOutcome::Pending { request } = expect_json(
        a.post("api/v1/contact-requests", json!({"user_id": b.id()})).await?,
        StatusCode::CREATED,
    )
    .await?
    else {
        panic!("pending expected")
    };
    assert_eq!(
        a.delete(&format!("api/v1/contact-requests/{}", request.id.0))
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    let left: ContactRequests = b.get_json("api/v1/contact-requests").await?;
    assert!(left.incoming.is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_typed_errors() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [a, b, c] = register_all(&server, ["typed_a", "typed_b", "typed_c"]).await?;
    let request = |to: i64| a.post("api/v1/contact-requests", json!({"user_id": to}));

    assert_eq!(
        expect_error(request(a.id().0).await?, StatusCode::BAD_REQUEST)
            .await?
            .code,
        ErrorCode::CannotRequestSelf
    );
    assert_eq!(
        expect_error(request(999_999).await?, StatusCode::NOT_FOUND).await?.code,
        ErrorCode::NotFound
    );
    request(b.id().0).await?;
    assert_eq!(
        expect_error(request(b.id().0).await?, StatusCode::CONFLICT).await?.code,
        ErrorCode::AlreadyRequested
    );
    befriend(&a, &c).await?;
    assert_eq!(
        expect_error(request(c.id().0).await?, StatusCode::CONFLICT).await?.code,
        ErrorCode::AlreadyContacts
    );

    let garbage = a.post("api/v1/contact-requests", json!({"user_id": "seven"})).await?;
    assert_eq!(
        expect_error(garbage, StatusCode::BAD_REQUEST).await?.code,
        ErrorCode::BadRequest
    );
    let bad_path = a.post("api/v1/contact-requests/abc/accept", json!({})).await?;
    assert_eq!(
        expect_error(bad_path, StatusCode::BAD_REQUEST).await?.code,
        ErrorCode::BadRequest
    );
    Ok(())
}

#[tokio::test]
async fn removing_a_contact_keeps_the_conversation_for_later() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [a, b] = register_all(&server, ["keep_a", "keep_b"]).await?;
    let first = befriend(&a, &b).await?;
    assert_eq!(
        a.delete(&format!("api/v1/contacts/{}", b.id().0)).await?.status(),
        StatusCode::NO_CONTENT
    );
    assert!(b.get_json::<Vec<Contact>>("api/v1/contacts").await?.is_empty());
    expect_error(
        a.delete(&format!("api/v1/contacts/{}", b.id().0)).await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    // Re-adding reopens the same conversation, history intact.
    assert_eq!(befriend(&b, &a).await?, first);
    Ok(())
}

#[tokio::test]
async fn blocking_ends_contact_and_refuses_requests_both_ways() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&GENEROUS).await?;
    let [a, b] = register_all(&server, ["blocker", "blockee"]).await?;
    befriend(&a, &b).await?;
    assert_eq!(
        a.post("api/v1/blocks", json!({"user_id": b.id()})).await?.status(),
        StatusCode::NO_CONTENT
    );
    assert!(a.get_json::<Vec<Contact>>("api/v1/contacts").await?.is_empty());
    assert!(b.get_json::<Vec<Contact>>("api/v1/contacts").await?.is_empty());
    assert_eq!(a.get_json::<Vec<User>>("api/v1/blocks").await?, vec![b.user.clone()]);

    for (from, to) in [(&b, &a), (&a, &b)] {
        let response = from
            .post("api/v1/contact-requests", json!({"user_id": to.id()}))
            .await?;
        assert_eq!(
            expect_error(response, StatusCode::FORBIDDEN).await?.code,
            ErrorCode::Blocked
        );
    }
    let myself = a.post("api/v1/blocks", json!({"user_id": a.id()})).await?;
    expect_error(myself, StatusCode::BAD_REQUEST).await?;

    assert_eq!(
        a.delete(&format!("api/v1/blocks/{}", b.id().0)).await?.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        a.delete(&format!("api/v1/blocks/{}", b.id().0)).await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    befriend(&b, &a).await?;
    Ok(())
}
