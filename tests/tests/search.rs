//! Message search against the real binary: matching in every script
//! (words in any order and case, accents, prefixes, Chinese, Japanese and
//! Korean substrings of one character and more, mixed queries), who may
//! find what (members now, not outsiders or former members), edits and
//! deletions followed by the index (and a deleted message's words gone
//! from its file), filters, pages without repeats, typed refusals, and an
//! index rebuilt from the log when its file is lost.

use std::{collections::HashSet, time::Duration};

use natter_common::{
    api::{MessageHit, Page},
    ids::ConversationId,
    ErrorCode,
};
use natter_tests::{
    api::{befriend, create_group, expect_error, register_all, Authed},
    ws::WsClient,
    TestServer, FAST,
};
use reqwest::StatusCode;

/// How long the indexer may take to show a change (it runs beside the log).
const INDEXED_WITHIN: Duration = Duration::from_secs(15);

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search(user: &Authed, query: &str) -> anyhow::Result<Page<MessageHit>> {
    user.get_json(&format!("api/v1/search/messages?q={}", encode(query)))
        .await
}

async fn search_with(user: &Authed, query: &str, params: &str) -> anyhow::Result<Page<MessageHit>> {
    user.get_json(&format!("api/v1/search/messages?q={}&{params}", encode(query)))
        .await
}

/// The texts of the hits, as the snippets give them (short messages whole).
fn texts(page: &Page<MessageHit>) -> Vec<String> {
    page.items
        .iter()
        .map(|hit| hit.snippet.parts.iter().map(|p| p.text.as_str()).collect())
        .collect()
}

/// What the snippets mark as matched.
fn marked(page: &Page<MessageHit>) -> Vec<String> {
    page.items
        .iter()
        .flat_map(|hit| hit.snippet.parts.iter().filter(|p| p.hit).map(|p| p.text.clone()))
        .collect()
}

/// Searches until `done` holds for the answer: the index follows the log
/// asynchronously, so a test waits for it to show what it just wrote.
async fn until(
    user: &Authed,
    query: &str,
    done: impl Fn(&Page<MessageHit>) -> bool,
) -> anyhow::Result<Page<MessageHit>> {
    let deadline = tokio::time::Instant::now() + INDEXED_WITHIN;
    loop {
        let page = search(user, query).await?;
        if done(&page) {
            return Ok(page);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "search {query:?} still answers {:?}",
            texts(&page)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `texts` in order to `conversation`.
async fn post_all(ws: &mut WsClient, conversation: ConversationId, tag: &str, texts: &[&str]) -> anyhow::Result<()> {
    for (n, text) in texts.iter().enumerate() {
        ws.post_text(conversation, &format!("{tag}-{n}"), text).await?;
    }
    Ok(())
}

const MESSAGES: [&str; 10] = [
    "Quarterly planning meeting moved to Thursday",
    "Zoë's crème brûlée recipe is in the shared folder",
    "明天的会议改到三点",
    "会",
    "議事録を送ります",
    "회의록 정리했어요",
    "会议 notes are attached",
    "ＦＵＬＬＷＩＤＴＨ letters and the word naïve",
    "thursday THURSDAY Thursday",
    "unrelated chatter about lunch",
];

#[tokio::test]
async fn every_script_matches_as_its_readers_expect() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["find_ann", "find_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    post_all(&mut ws, dm, "m", &MESSAGES).await?;
    until(&bob, "lunch", |p| p.items.len() == 1).await?;

    let cases: &[(&str, &[&str])] = &[
        // Words in any order and case; the last one is also a prefix.
        ("thursday MEETING", &[MESSAGES[0]]),
        ("plan", &[MESSAGES[0]]),
        ("meet quarterly", &[]),
        ("quarterly meet", &[MESSAGES[0]]),
        ("lanning", &[]),
        // Accents and width.
        ("zoe creme brulee", &[MESSAGES[1]]),
        ("CRÈME", &[MESSAGES[1]]),
        ("fullwidth naive", &[MESSAGES[7]]),
        ("ｎａïｖｅ", &[MESSAGES[7]]),
        // Chinese: two characters, one character, across punctuation-free text.
        ("会议", &[MESSAGES[6], MESSAGES[2]]),
        ("会", &[MESSAGES[6], MESSAGES[3], MESSAGES[2]]),
        ("三点", &[MESSAGES[2]]),
        ("点三", &[]),
        // Japanese and Korean, inside words.
        ("議事録", &[MESSAGES[4]]),
        ("事録", &[MESSAGES[4]]),
        ("회의", &[MESSAGES[5]]),
        ("정리", &[MESSAGES[5]]),
        // Mixed.
        ("会议 notes", &[MESSAGES[6]]),
        ("notes 会议", &[MESSAGES[6]]),
        ("会议 lunch", &[]),
    ];
    for (query, expected) in cases {
        let page = search(&bob, query).await?;
        assert_eq!(texts(&page), *expected, "query {query:?}");
    }

    // Newest first, each hit where it is, the matches marked.
    let page = search(&ann, "thursday").await?;
    assert_eq!(texts(&page), [MESSAGES[8], MESSAGES[0]]);
    assert_eq!(page.items[0].conversation_id, dm);
    assert_eq!(page.items[0].sender, ann.id());
    assert!(page.items[0].seq > page.items[1].seq);
    assert_eq!(marked(&page), ["thursday", "THURSDAY", "Thursday", "Thursday"]);
    let page = search(&ann, "会议 notes").await?;
    assert_eq!(marked(&page), ["会议", "notes"]);
    let page = search(&ann, "crème").await?;
    assert_eq!(marked(&page), ["crème"]);
    Ok(())
}

#[tokio::test]
async fn members_find_messages_and_outsiders_and_former_members_do_not() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [owner, member, leaver, outsider] =
        register_all(&server, ["scope_owner", "scope_member", "scope_leaver", "scope_out"]).await?;
    befriend(&owner, &member).await?;
    befriend(&owner, &leaver).await?;
    let outsiders_dm = befriend(&owner, &outsider).await?;
    let group = create_group(&owner, "Plans", &[&member, &leaver]).await?;
    let mut ws = WsClient::connect(&server, &owner.token).await?;
    post_all(&mut ws, group.id, "g", &["the secret launch codename is heliotrope"]).await?;
    post_all(&mut ws, outsiders_dm, "o", &["heliotrope seeds for the garden"]).await?;
    until(&member, "heliotrope", |p| !p.items.is_empty()).await?;
    until(&outsider, "heliotrope", |p| !p.items.is_empty()).await?;

    assert_eq!(
        texts(&search(&member, "heliotrope").await?),
        ["the secret launch codename is heliotrope"]
    );
    assert_eq!(texts(&search(&leaver, "heliotrope").await?).len(), 1);
    assert_eq!(
        texts(&search(&outsider, "heliotrope").await?),
        ["heliotrope seeds for the garden"],
        "an outsider finds only their own conversation's message"
    );
    assert_eq!(texts(&search(&owner, "heliotrope").await?).len(), 2);

    // Naming a conversation one is not in is refused, as history is.
    let refused = outsider
        .get(&format!(
            "api/v1/search/messages?q=heliotrope&conversation_id={}",
            group.id.0
        ))
        .await?;
    assert_eq!(
        expect_error(refused, StatusCode::NOT_FOUND).await?.code,
        ErrorCode::NotFound
    );

    // Leaving ends finding.
    let left = leaver
        .post(&format!("api/v1/groups/{}/leave", group.id.0), serde_json::json!({}))
        .await?;
    assert!(left.status().is_success(), "{}", left.status());
    assert!(search(&leaver, "heliotrope").await?.items.is_empty());
    assert!(search(&leaver, "codename").await?.items.is_empty());
    let refused = leaver
        .get(&format!(
            "api/v1/search/messages?q=heliotrope&conversation_id={}",
            group.id.0
        ))
        .await?;
    assert_eq!(
        expect_error(refused, StatusCode::NOT_FOUND).await?.code,
        ErrorCode::NotFound
    );
    Ok(())
}

#[tokio::test]
async fn edits_and_deletions_change_what_is_found_and_deleted_words_leave_the_index_file() -> anyhow::Result<()> {
    const DOOMED: &str = "xylophonist";
    let mut server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["edit_ann", "edit_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let typo = ws
        .post_text(dm, "e1", "lets meet at the cafe tomorow, bring the quagmirebook")
        .await?;
    let doomed = ws
        .post_text(dm, "e2", &format!("the {DOOMED} password is hunter2"))
        .await?;
    ws.post_text(
        dm,
        "e3",
        "a control message about the kept cafe and the zebracontrolword",
    )
    .await?;
    until(&bob, "cafe", |p| p.items.len() == 2).await?;
    assert_eq!(search(&bob, DOOMED).await?.items.len(), 1);

    ws.edit(dm, "e4", &typo.id, "lets meet at the library tomorrow")
        .await?
        .expect("edit");
    ws.delete(dm, "e5", &doomed.id).await?.expect("delete");
    let page = until(&bob, "library", |p| p.items.len() == 1).await?;
    assert_eq!(page.items[0].seq, typo.seq, "found where it was sent");
    assert!(page.items[0].edited_at.is_some());
    assert_eq!(
        texts(&search(&bob, "cafe").await?),
        ["a control message about the kept cafe and the zebracontrolword"]
    );
    assert!(
        search(&bob, "tomorow").await?.items.is_empty(),
        "the old text is not found"
    );
    assert!(search(&bob, DOOMED).await?.items.is_empty());
    assert!(search(&bob, "hunter2").await?.items.is_empty());

    server.stop().await?;
    let mut stored = Vec::new();
    for name in ["natter.search.db", "natter.search.db-wal"] {
        if let Ok(bytes) = std::fs::read(server.data_dir().join(name)) {
            stored.extend(bytes);
        }
    }
    // The index stores a word after the start it shares with the word
    // before it: look for the ends of words.
    let contains = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("controlword"), "the scan finds a word that was not deleted");
    assert!(
        !contains(&DOOMED[2..]),
        "a deleted message's word is still in the index file"
    );
    assert!(
        !contains("mirebook"),
        "an edited message's old word is still in the index file"
    );
    Ok(())
}

#[tokio::test]
async fn results_page_without_repeats_and_filters_narrow_them() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["page_ann", "page_bob", "page_cat"]).await?;
    let ann_bob = befriend(&ann, &bob).await?;
    let ann_cat = befriend(&ann, &cat).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    for n in 0..45 {
        ann_ws
            .post_text(ann_bob, &format!("a{n}"), &format!("status report number {n}"))
            .await?;
        bob_ws
            .post_text(ann_bob, &format!("b{n}"), &format!("status reply {n}"))
            .await?;
    }
    for n in 0..10 {
        ann_ws
            .post_text(ann_cat, &format!("c{n}"), &format!("status for cat {n}"))
            .await?;
    }
    until(&ann, "status", |p| {
        p.items.first().is_some_and(|h| h.conversation_id == ann_cat)
    })
    .await?;
    until(&ann, "cat 9", |p| p.items.len() == 1).await?;

    // Every page in order, nothing twice, everything once.
    let mut seen = HashSet::new();
    let mut last_time = i64::MAX;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => format!("limit=20&cursor={c}"),
            None => "limit=20".into(),
        };
        let page = search_with(&ann, "status", &params).await?;
        pages += 1;
        for hit in &page.items {
            assert!(seen.insert((hit.conversation_id, hit.seq)), "{hit:?} twice");
            assert!(hit.created_at <= last_time, "newest first");
            last_time = hit.created_at;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 20, "the cursor does not advance");
    }
    assert_eq!(seen.len(), 100);

    let in_cat = search_with(&ann, "status", &format!("conversation_id={}&limit=50", ann_cat.0)).await?;
    assert_eq!(in_cat.items.len(), 10);
    assert!(in_cat.items.iter().all(|h| h.conversation_id == ann_cat));
    let from_bob = search_with(&ann, "status", &format!("from={}&limit=50", bob.id().0)).await?;
    assert_eq!(from_bob.items.len(), 45);
    assert!(from_bob.items.iter().all(|h| h.sender == bob.id()));

    // Time filters: before the newest's time excludes it, after it keeps only it and later.
    let all = search_with(&ann, "cat", "limit=50").await?;
    let newest = &all.items[0];
    let before = search_with(&ann, "cat", &format!("before={}&limit=50", newest.created_at)).await?;
    assert!(before.items.iter().all(|h| h.created_at < newest.created_at));
    assert!(!before
        .items
        .iter()
        .any(|h| h.seq == newest.seq && h.conversation_id == newest.conversation_id));
    let after = search_with(&ann, "cat", &format!("after={}&limit=50", newest.created_at)).await?;
    assert!(after.items.iter().all(|h| h.created_at >= newest.created_at));
    assert!(after.items.iter().any(|h| h.seq == newest.seq));
    Ok(())
}

#[tokio::test]
async fn bad_queries_are_refused_with_the_field_named() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&FAST).await?;
    let [ann] = register_all(&server, ["bad_ann"]).await?;
    let invalid = |field: &str| ErrorCode::InvalidInput { field: field.into() };
    for q in ["", "   ", "?!…", &"a".repeat(65)] {
        let response = ann.get(&format!("api/v1/search/messages?q={}", encode(q))).await?;
        assert_eq!(
            expect_error(response, StatusCode::BAD_REQUEST).await?.code,
            invalid("q"),
            "{q:?}"
        );
    }
    for cursor in ["x", "-5", "0", "99999999999999999999999"] {
        let response = ann.get(&format!("api/v1/search/messages?q=hi&cursor={cursor}")).await?;
        assert_eq!(
            expect_error(response, StatusCode::BAD_REQUEST).await?.code,
            invalid("cursor"),
            "{cursor}"
        );
    }
    for limit in [0, 51] {
        let response = ann.get(&format!("api/v1/search/messages?q=hi&limit={limit}")).await?;
        assert_eq!(
            expect_error(response, StatusCode::BAD_REQUEST).await?.code,
            invalid("limit"),
            "{limit}"
        );
    }
    let response = ann.get("api/v1/search/messages?q=hi&conversation_id=999999").await?;
    assert_eq!(
        expect_error(response, StatusCode::NOT_FOUND).await?.code,
        ErrorCode::NotFound
    );
    // FTS syntax is plain text.
    for q in [
        "\"love",
        "NEAR(a b)",
        "a OR b",
        "body:x",
        "x*",
        "x AND",
        "c1",
        "scope : c1",
        "-x",
    ] {
        let page = search(&ann, q).await;
        assert!(page.is_ok(), "{q:?}: {page:?}");
    }
    let response = reqwest::get(server.at("api/v1/search/messages?q=hi")).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn a_lost_index_is_rebuilt_from_the_log_at_start() -> anyhow::Result<()> {
    let mut server = TestServer::spawn_with(&FAST).await?;
    let [ann, bob] = register_all(&server, ["lost_ann", "lost_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    post_all(&mut ws, dm, "r", &["remember the marmalade", "and the 果酱 too"]).await?;
    until(&bob, "marmalade", |p| p.items.len() == 1).await?;
    drop(ws);

    server.stop().await?;
    for name in ["natter.search.db", "natter.search.db-wal", "natter.search.db-shm"] {
        let _ = std::fs::remove_file(server.data_dir().join(name));
    }
    let server = server.start_again().await?;
    let bob = Authed::from_token(&server, &bob.token).await?;
    until(&bob, "marmalade", |p| p.items.len() == 1).await?;
    until(&bob, "果", |p| p.items.len() == 1).await?;
    Ok(())
}

/// Past 500 conversations the caller's scope is checked hit by hit instead
/// of inside the index query: the same rules hold.
#[tokio::test]
async fn a_member_of_hundreds_of_conversations_finds_only_theirs() -> anyhow::Result<()> {
    let (server, data) = TestServer::provisioned(
        &[
            "--users",
            "5",
            "--ring",
            "0",
            "--corpus-groups",
            "800",
            "--corpus-messages",
            "4000",
            "--corpus-member-of",
            "520",
        ],
        &FAST,
    )
    .await?;
    let busy = Authed::from_token(&server, &data.users[0].token).await?;
    let other = Authed::from_token(&server, &data.users[1].token).await?;
    let mine: HashSet<ConversationId> = busy
        .get_json::<Vec<natter_common::api::Conversation>>("api/v1/conversations")
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(mine.len(), 520);
    // Indexed once the last message (in the last group, indexed last) is found.
    until(&busy, "zzcorpusdone", |p| p.items.len() == 1).await?;

    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let params = cursor
            .as_ref()
            .map_or("limit=50".to_owned(), |c| format!("limit=50&cursor={c}"));
        let page = search_with(&busy, "the", &params).await?;
        for hit in &page.items {
            assert!(mine.contains(&hit.conversation_id), "{hit:?} is not the caller's");
            assert!(seen.insert((hit.conversation_id, hit.seq)), "{hit:?} twice");
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(seen.len() > 100, "only {} hits", seen.len());
    let elsewhere = search_with(&other, "the", "limit=50").await?;
    assert!(
        elsewhere.items.iter().any(|h| !mine.contains(&h.conversation_id)),
        "the corpus has matches outside the busy user's conversations"
    );
    Ok(())
}
