//! Being told of new messages, in the real app in headless Chromium: the
//! unread count in the tab's title and on its icon (muted conversations
//! left out), the Contacts badge for requests waiting, completing and
//! marking `@mentions` (and the "@" badge in the list, from the hello and
//! live; in a 150-member group, members past the first page found by what
//! was typed), the per-conversation setting (on a phone a bell of 44 px,
//! named by its level, worked by touch and keyboard, so a short title shows
//! whole), desktop notifications (only those the setting asks for,
//! clicked to open the conversation), permission asked for only from a
//! button, and Web Push: the subscription posted and taken back at
//! sign-out, and a push shown by the service worker.
//!
//! Desktop notifications are not visible in headless mode, so a script put
//! in before the app loads (CDP `Page.addScriptToEvaluateOnNewDocument`)
//! records what the app asks of `Notification` ([`SPY`]). Chromium's push
//! service is out of reach here, so [`FAKE_PUSH`] stands in for
//! `pushManager.subscribe`; CDP `ServiceWorker.deliverPushMessage` delivers
//! a push to the real service worker.

use anyhow::{ensure, Context};
use fantoccini::{key::Key, Client, Locator};
use natter_common::{
    api::{History, NotificationSettings},
    events::EventBody,
    ids::ConversationId,
};
use natter_tests::{
    api::{befriend, create_group, everyone_group_with_app, expect_json, register_all, Authed},
    browser::{
        accessibility_violations, click, count_is, fits_the_width, install_error_hook, open_chat, page_errors, press,
        set_viewport, sign_in, sign_in_with, wait_for, wait_js, xpath_literal, Cdp,
    },
    ws::WsClient,
    Browser, TestServer,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);
/// Provisioned accounts' password (backend/src/admin/mod.rs).
const PROVISIONED_PASSWORD: &str = "load-test-password";

/// Records, before the app loads: each notification the page constructs
/// (`__notes`, the objects in `__noteObjects`) and the tags of those it
/// closes (`__closed`), each permission request (`__asked`), each tone it
/// starts (`__tones`), and each request it fetches (`__requests`, "METHOD url").
const SPY: &str = r#"
(() => {
    window.__notes = []; window.__noteObjects = []; window.__closed = []; window.__asked = 0;
    window.__tones = 0; window.__requests = [];
    if (window.OscillatorNode) {
        const start = OscillatorNode.prototype.start;
        OscillatorNode.prototype.start = function (...args) { window.__tones++; return start.apply(this, args); };
    }
    const Real = window.Notification;
    if (Real) {
        class Spy extends Real {
            constructor(title, options = {}) {
                super(title, options);
                window.__notes.push({ title, body: options.body, tag: options.tag });
                window.__noteObjects.push(this);
            }
            close() {
                window.__closed.push(this.tag);
                super.close();
            }
        }
        Spy.requestPermission = (...args) => { window.__asked++; return Real.requestPermission(...args); };
        window.Notification = Spy;
    }
    const realFetch = window.fetch;
    window.fetch = (input, init) => {
        const method = (init && init.method) || (input && input.method) || 'GET';
        window.__requests.push(method + ' ' + (input && input.url ? input.url : String(input)));
        return realFetch.call(window, input, init);
    };
})();
"#;

/// Chromium here cannot reach a push service: `subscribe` answers a
/// subscription as a browser would (keys from RFC 8291's example; the
/// server is told not to resolve its host), and records the key it was
/// given and each `unsubscribe`.
const FAKE_PUSH: &str = r#"
(() => {
    if (!window.PushManager) return;
    window.__unsubscribed = 0;
    const subscription = {
        endpoint: 'https://fcm.googleapis.com/fcm/send/natter-browser-test',
        toJSON() {
            return { endpoint: this.endpoint, expirationTime: null, keys: {
                p256dh: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                auth: 'BTBZMqHH6r4Tts7J_aSIgg' } };
        },
        unsubscribe: async () => { window.__unsubscribed++; localStorage.removeItem('fake-push'); return true; },
    };
    PushManager.prototype.subscribe = async function (options) {
        window.__subscribeKey = Array.from(new Uint8Array(options.applicationServerKey));
        window.__userVisibleOnly = options.userVisibleOnly;
        localStorage.setItem('fake-push', '1');
        return subscription;
    };
    // Kept across page loads, as the browser keeps a real one.
    PushManager.prototype.getSubscription = async function () {
        return localStorage.getItem('fake-push') ? subscription : null;
    };
})();
"#;

/// A DM's title, and a sender's name: `api::register` derives it.
fn display_name(username: &str) -> String {
    format!("{username} display")
}

/// The page's notifications so far, as `{title, body, tag}`.
async fn notes(c: &Client) -> anyhow::Result<Vec<Value>> {
    let value = c.execute("return window.__notes || null", vec![]).await?;
    ensure!(!value.is_null(), "the spy is not in the page");
    Ok(serde_json::from_value(value)?)
}

/// Waits until a notification titled `title` has been shown.
async fn note_titled(c: &Client, title: &str) -> anyhow::Result<Value> {
    wait_js(
        c,
        &format!("a notification titled {title:?}"),
        "return (window.__notes || []).some(n => n.title === arguments[0]) || JSON.stringify(window.__notes)",
        vec![json!(title)],
    )
    .await?;
    notes(c)
        .await?
        .into_iter()
        .find(|n| n["title"] == title)
        .context("the notification went")
}

async fn title_is(c: &Client, title: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the tab titled {title:?}"),
        "return document.title === arguments[0] || document.title",
        vec![json!(title)],
    )
    .await
}

/// The tab's icon: a drawn badge (`data:` URL) or the app's own file.
async fn icon_is_badge(c: &Client, badge: bool) -> anyhow::Result<()> {
    wait_js(
        c,
        if badge {
            "a badge on the tab's icon"
        } else {
            "the tab's own icon"
        },
        "const href = document.querySelector('link[rel=icon]').getAttribute('href');
         return href.startsWith('data:image/svg+xml') === arguments[0] || href.slice(0, 80);",
        vec![json!(badge)],
    )
    .await
}

/// The sidebar row of the conversation titled `title`.
fn row(title: &str) -> String {
    format!(
        "//a[contains(@class,'conversation-link')][.//span[@class='title'][normalize-space(.)={}]]",
        xpath_literal(title)
    )
}

/// `user` sets their notifications for `conversation` through the API.
async fn set_level(user: &Authed, conversation: ConversationId, level: &str) -> anyhow::Result<()> {
    let response = user
        .call(
            reqwest::Method::PUT,
            &format!("api/v1/conversations/{}/settings", conversation.0),
            Some(json!({ "notify": level })),
        )
        .await?;
    let _: Value = expect_json(response, StatusCode::OK).await?;
    Ok(())
}

/// Waits (bounded) until the server keeps `level` for `user` in `conversation`.
async fn level_is(user: &Authed, conversation: ConversationId, level: &str) -> anyhow::Result<()> {
    let path = format!("api/v1/conversations/{}/settings", conversation.0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stored: Value = user.get_json(&path).await?;
        if stored["notify"] == level {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the server keeps {stored}, not {level}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn say_as(
    server: &TestServer,
    user: &Authed,
    conversation: ConversationId,
    id: &str,
    text: &str,
) -> anyhow::Result<()> {
    WsClient::connect(server, &user.token)
        .await?
        .post_text(conversation, id, text)
        .await?;
    Ok(())
}

/// [`wait_js`] for a script that answers through its callback (the last
/// argument), as `execute_async` runs it.
async fn wait_async(c: &Client, what: &str, script: &str, args: Vec<Value>) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let value = c.execute_async(script, args.clone()).await?;
        if value == json!(true) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "not so within 20 s: {what}; last seen: {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn no_page_errors(c: &Client) -> anyhow::Result<()> {
    let errors = page_errors(c).await?;
    ensure!(errors.is_empty(), "the page reported errors: {errors:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_tab_counts_unread_messages_in_its_title_and_icon_but_not_muted_ones() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["tab_ann", "tab_bob", "tab_cat"]).await?;
    let with_bob = befriend(&ann, &bob).await?;
    let with_cat = befriend(&ann, &cat).await?;

    let url = server.url.clone();
    let server = &server;
    Browser::launch()
        .await?
        .run("notify_title", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "tab_ann").await?;
            install_error_hook(&c).await?;
            title_is(&c, "natter").await?;
            icon_is_badge(&c, false).await?;

            say_as(server, &bob, with_bob, "t1", "one").await?;
            say_as(server, &bob, with_bob, "t2", "two").await?;
            title_is(&c, "(2) natter").await?;
            icon_is_badge(&c, true).await?;

            // Muted elsewhere (the API, as another device would): the list
            // says so, and its unread count is greyed and left out of the title.
            set_level(&ann, with_cat, "muted").await?;
            wait_for(
                &c,
                &format!("{}//span[contains(@class,'muted-icon')]", row(&display_name("tab_cat"))),
            )
            .await?;
            say_as(server, &cat, with_cat, "t3", "psst").await?;
            wait_for(
                &c,
                &format!(
                    "{}//span[@class='badge muted'][normalize-space(.)='1']",
                    row(&display_name("tab_cat"))
                ),
            )
            .await?;
            title_is(&c, "(2) natter").await?;

            // Reading Bob's chat leaves only the muted one: no count at all.
            click(&c, Locator::XPath(&row(&display_name("tab_bob")))).await?;
            title_is(&c, "natter").await?;
            icon_is_badge(&c, false).await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn the_contacts_link_counts_requests_waiting_for_an_answer() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, dan] = register_all(&server, ["req_ann", "req_dan"]).await?;
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("notify_contacts_badge", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "req_ann").await?;
            install_error_hook(&c).await?;
            count_is(&c, "#contacts-badge", 0).await?;

            let response = dan
                .post("api/v1/contact-requests", json!({ "user_id": ann.id() }))
                .await?;
            ensure!(
                response.status() == StatusCode::CREATED,
                "request: {}",
                response.status()
            );
            wait_for(
                &c,
                "//a[@id='nav-contacts']/span[@id='contacts-badge'][starts-with(normalize-space(.),'1')]",
            )
            .await?;
            fits_the_width(&c, "the list with the Contacts badge").await?;

            click(&c, Locator::Id("nav-contacts")).await?;
            click(
                &c,
                Locator::Css("li.incoming-request[data-username='req_dan'] button.accept"),
            )
            .await?;
            count_is(&c, "#contacts-badge", 0).await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn mentions_are_completed_sent_marked_and_counted() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, carla, carol] = register_all(&server, ["men_ann", "carla", "carol"]).await?;
    befriend(&ann, &carla).await?;
    befriend(&ann, &carol).await?;
    let group = create_group(&ann, "Climbers", &[&carla, &carol]).await?.id;

    // Ann types "@ca", picks Carol with the keyboard and sends.
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("notify_mention_compose", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "men_ann").await?;
            open_chat(&c, &url, group.0).await?;
            install_error_hook(&c).await?;
            let composer = c.find(Locator::Id("composer")).await?;

            // Escape closes the list and leaves the text.
            composer.send_keys("@c").await?;
            count_is(&c, "#mention-list [role=option]", 2).await?;
            press(&c, Key::Escape).await?;
            count_is(&c, "#mention-list", 0).await?;
            composer.clear().await?;

            composer.send_keys("@ca").await?;
            wait_js(
                &c,
                "Carla then Carol offered, Carla chosen",
                "const options = [...document.querySelectorAll('#mention-list [role=option]')];
                 const seen = options.map(o => o.dataset.username + (o.getAttribute('aria-selected') === 'true' ? '*' : ''));
                 return (seen.join() === 'carla*,carol'
                     && document.getElementById('composer').getAttribute('aria-activedescendant') === options[0].id)
                     || seen.join();",
                vec![],
            )
            .await?;
            press(&c, Key::Down).await?;
            wait_js(
                &c,
                "Carol chosen",
                "const chosen = document.querySelector('#mention-list [aria-selected=true]');
                 return (chosen && chosen.dataset.username === 'carol') || (chosen && chosen.dataset.username);",
                vec![],
            )
            .await?;
            press(&c, Key::Enter).await?;
            wait_js(
                &c,
                "\"@carol \" in the composer, the list closed",
                "return (document.getElementById('composer').value === '@carol ' && !document.getElementById('mention-list'))
                     || document.getElementById('composer').value;",
                vec![],
            )
            .await?;
            // A click picks too.
            composer.send_keys("and @carl").await?;
            click(&c, Locator::Css("#mention-list [data-username='carla']")).await?;
            wait_js(
                &c,
                "\"@carla \" put in by a click",
                "return document.getElementById('composer').value === '@carol and @carla ' || document.getElementById('composer').value;",
                vec![],
            )
            .await?;
            composer.send_keys("see you at the wall").await?;
            press(&c, Key::Enter).await?;
            // My own message marks whom it mentions.
            wait_for(&c, "//li[contains(@class,'mine')][not(contains(@class,'pending'))]//span[@class='mention'][.='@carol']").await?;
            no_page_errors(&c).await
        })
        .await?;

    let history: History = carol
        .get_json(&format!("api/v1/conversations/{}/events?limit=50", group.0))
        .await?;
    let sent = history.events.last().context("no events")?;
    match &sent.body {
        EventBody::Message { mentions, .. } => {
            let mut mentions = mentions.clone();
            mentions.sort_by_key(|u| u.0);
            ensure!(
                mentions == vec![carla.id(), carol.id()],
                "stored mentions: {mentions:?}"
            );
        }
        other => anyhow::bail!("the newest event is {other:?}"),
    }

    // Carol, on a phone: the "@" badge from the hello, the message marked,
    // and the badge again, live, for a new mention.
    let url = server.url.clone();
    let server = &server;
    Browser::launch()
        .await?
        .run("notify_mention_read", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "carol").await?;
            install_error_hook(&c).await?;
            let badge = format!("{}//span[contains(@class,'badge mention')]", row("Climbers"));
            wait_for(&c, &badge).await?;
            fits_the_width(&c, "the list with an @ badge").await?;
            click(&c, Locator::XPath(&row("Climbers"))).await?;
            wait_for(
                &c,
                "//li[contains(@class,'mentions-me')]//span[@class='mention'][.='@carol']",
            )
            .await?;
            count_is(&c, "li.mentions-me", 1).await?;
            count_is(&c, "li.message span.mention", 2).await?;
            fits_the_width(&c, "the group with a mention").await?;

            click(&c, Locator::Css("a.back")).await?;
            count_is(&c, ".badge.mention", 0).await?;
            say_as(server, &ann, group, "m2", "@carol are you in?").await?;
            wait_for(&c, &badge).await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn notifications_come_only_for_what_the_setting_asks_and_open_their_chat() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["not_ann", "not_bob", "not_cat"]).await?;
    let with_bob = befriend(&ann, &bob).await?;
    let with_cat = befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Book club", &[&bob, &cat]).await?.id;

    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    let url = server.url.clone();
    let server = &server;
    browser
        .run("notify_desktop", |c| async move {
            cdp.before_load(&c, SPY).await?;
            cdp.grant_notifications(&c, &url).await?;
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "not_ann").await?;
            open_chat(&c, &url, with_bob.0).await?;
            install_error_hook(&c).await?;

            // Cat writes while Bob's chat is open: Cat's chat is not on screen.
            say_as(server, &cat, with_cat, "n1", "are you coming?").await?;
            let note = note_titled(&c, &display_name("not_cat")).await?;
            ensure!(
                note["body"] == "are you coming?" && note["tag"] == format!("c{}", with_cat.0),
                "the notification: {note}"
            );
            // Sound is off by default.
            let tones = c.execute("return window.__tones", vec![]).await?;
            ensure!(tones == json!(0), "a tone played with the sound off: {tones}");

            // Read on Ann's phone: the notification goes.
            let mut phone = WsClient::connect(server, &Authed::login(server, "not_ann").await?.token).await?;
            let last = phone.state(with_cat).context("the chat with Cat")?.last_seq;
            phone.mark_read(with_cat, last).await?;
            wait_js(
                &c,
                "the notification closed",
                "return window.__closed.includes(arguments[0]) || JSON.stringify(window.__closed)",
                vec![json!(format!("c{}", with_cat.0))],
            )
            .await?;

            // Muted: nothing. A group message that doesn't mention me: nothing
            // by default. One that does: shown, with the group in its title.
            set_level(&ann, with_cat, "muted").await?;
            wait_for(&c, &format!("{}//span[contains(@class,'muted-icon')]", row(&display_name("not_cat")))).await?;
            say_as(server, &cat, with_cat, "n2", "muted words").await?;
            say_as(server, &bob, group, "n3", "chapter two is long").await?;
            say_as(server, &bob, group, "n4", "@not_ann did you finish it?").await?;
            let title = format!("{} in Book club", display_name("not_bob"));
            let note = note_titled(&c, &title).await?;
            ensure!(
                note["body"] == "@not_ann did you finish it?" && note["tag"] == format!("c{}", group.0),
                "the notification: {note}"
            );
            let all = notes(&c).await?;
            ensure!(all.len() == 2, "only Cat's first message and the mention notify: {all:#?}");

            // The group set to "All messages" from its menu: any message notifies.
            click(&c, Locator::XPath(&row("Book club"))).await?;
            // The group's choices (a DM offers only the default and muting).
            wait_for(&c, "//select[@id='notify-level']/option[@value='all']").await?;
            wait_js(&c, "the group's setting shown as the default", "return document.getElementById('notify-level').value === 'default' || document.getElementById('notify-level').value", vec![]).await?;
            c.find(Locator::Id("notify-level")).await?.select_by_value("all").await?;
            wait_js(
                &c,
                "the setting sent",
                "return window.__requests.some(r => r.startsWith('PUT ') && r.endsWith('/settings')) || JSON.stringify(window.__requests)",
                vec![],
            )
            .await?;
            level_is(&ann, group, "all").await?;
            click(&c, Locator::XPath(&row(&display_name("not_bob")))).await?;
            wait_for(&c, &format!("//h2[@id='conversation-title'][.={}]", xpath_literal(&display_name("not_bob")))).await?;
            // With the sound on (the profile's choice, kept in this
            // browser), a notification plays a tone.
            c.execute("localStorage.setItem('natter.sound', 'true')", vec![]).await?;
            c.refresh().await?;
            install_error_hook(&c).await?;
            wait_for(&c, &format!("//h2[@id='conversation-title'][.={}]", xpath_literal(&display_name("not_bob")))).await?;
            say_as(server, &cat, group, "n5", "see you thursday").await?;
            let note = note_titled(&c, &format!("{} in Book club", display_name("not_cat"))).await?;
            ensure!(note["body"] == "see you thursday", "the notification: {note}");
            let tones = c.execute("return window.__tones", vec![]).await?;
            ensure!(tones.as_u64().is_some_and(|n| n > 0), "no tone with the sound on: {tones}");

            // Clicking a notification opens its conversation.
            c.execute(
                "const n = window.__noteObjects.find(n => n.title === arguments[0]); n.onclick(new Event('click'));",
                vec![json!(format!("{} in Book club", display_name("not_cat")))],
            )
            .await?;
            wait_js(
                &c,
                "the group's chat open",
                "return location.pathname === arguments[0] || location.pathname",
                vec![json!(format!("/c/{}", group.0))],
            )
            .await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn permission_is_asked_from_a_button_and_push_reaches_the_service_worker() -> anyhow::Result<()> {
    // The fake subscription's push service is not resolved (no network here).
    let server = TestServer::with_app_and(&[("NATTER_PUSH_ALLOW_PRIVATE", "true")]).await?;
    let [ann, bob] = register_all(&server, ["push_ann", "push_bob"]).await?;
    let with_bob = befriend(&ann, &bob).await?;

    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    let url = server.url.clone();
    let origin = url.trim_end_matches('/').to_owned();
    browser
        .run("notify_push", |c| async move {
            cdp.before_load(&c, SPY).await?;
            cdp.before_load(&c, FAKE_PUSH).await?;
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "push_ann").await?;
            click(&c, Locator::Id("nav-profile")).await?;
            wait_for(&c, "//button[@id='enable-notifications']").await?;
            install_error_hook(&c).await?;
            fits_the_width(&c, "the profile with notifications").await?;

            // Signing in and opening the page asked nothing.
            let asked = c
                .execute("return [Notification.permission, window.__asked, document.getElementById('notification-state').dataset.permission]", vec![])
                .await?;
            ensure!(asked == json!(["default", 0, "default"]), "before the button: {asked}");

            // The person allows it when the button asks (the prompt's answer).
            cdp.grant_notifications(&c, &url).await?;
            click(&c, Locator::Id("enable-notifications")).await?;
            wait_js(
                &c,
                "asked once, on, and the push subscription given to the server",
                "return (window.__asked === 1 && document.getElementById('notification-state').dataset.permission === 'granted'
                     && window.__requests.some(r => r.startsWith('POST ') && r.endsWith('/api/v1/push-subscriptions')))
                     || JSON.stringify({ asked: window.__asked, requests: window.__requests });",
                vec![],
            )
            .await?;
            let key = c.execute("return [window.__subscribeKey, window.__userVisibleOnly]", vec![]).await?;
            ensure!(
                key[0].as_array().is_some_and(|k| k.len() == 65 && k[0] == 4) && key[1] == true,
                "the subscription's key and userVisibleOnly: {key}"
            );
            let ready = c
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     navigator.serviceWorker.ready.then(r => done([r.scope, r.active && r.active.scriptURL]));",
                    vec![],
                )
                .await?;
            ensure!(ready == json!([format!("{origin}/"), format!("{origin}/sw.js")]), "the registration: {ready}");
            let settings = c
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     fetch('/api/v1/notifications').then(r => r.json()).then(done);",
                    vec![],
                )
                .await?;
            let settings: NotificationSettings = serde_json::from_value(settings)?;
            ensure!(settings.subscribed, "the server has no subscription for this session");
            wait_for(&c, "//p[@id='notification-state'][contains(., 'even when natter is closed')]").await?;

            // Natter closed (the tab elsewhere), a push comes: the service
            // worker shows it, and one without a preview says who and why.
            c.goto("about:blank").await?;
            let push = |conversation: i64, preview: Option<&str>, mention: bool| {
                let mut message = json!({
                    "conversation_id": conversation, "seq": 1, "event_id": "019ab2c4-0000-7000-8000-000000000000",
                    "sender": "push_bob display", "mention": mention,
                });
                if let Some(preview) = preview {
                    message["preview"] = json!(preview);
                }
                if conversation != with_bob.0 {
                    message["group"] = json!("Crew");
                }
                message.to_string()
            };
            deliver(&c, &cdp, &origin, &push(with_bob.0, Some("lunch?"), false)).await?;
            deliver(&c, &cdp, &origin, &push(999, None, true)).await?;
            c.goto(&format!("{url}profile")).await?;
            wait_async(
                &c,
                "both pushes shown as notifications",
                "const done = arguments[arguments.length - 1];
                 navigator.serviceWorker.ready.then(r => r.getNotifications()).then(list => {
                     const seen = list.map(n => ({ title: n.title, body: n.body, tag: n.tag, id: n.data && n.data.conversation_id }));
                     const ok = seen.some(n => n.title === 'push_bob display' && n.body === 'lunch?' && n.tag === arguments[0] && n.id === arguments[1])
                         && seen.some(n => n.title === 'push_bob display in Crew' && n.body === 'Mentioned you' && n.tag === 'c999');
                     done(ok || JSON.stringify(seen));
                 });",
                vec![json!(format!("c{}", with_bob.0)), json!(with_bob.0)],
            )
            .await?;

            // A notification clicked: the service worker tells the app,
            // which opens the conversation.
            wait_for(&c, "//p[@id='notification-state']").await?;
            c.execute(
                "navigator.serviceWorker.dispatchEvent(new MessageEvent('message', { data: { type: 'open', conversation_id: arguments[0] } }));",
                vec![json!(with_bob.0)],
            )
            .await?;
            wait_js(
                &c,
                "Bob's chat open",
                "return location.pathname === arguments[0] || location.pathname",
                vec![json!(format!("/c/{}", with_bob.0))],
            )
            .await?;

            // Signing out takes the subscription back, here and on the server.
            c.execute("window.__requests.length = 0", vec![]).await?;
            click(&c, Locator::Id("logout")).await?;
            wait_js(
                &c,
                "unsubscribed and the server told, before signing out",
                "const r = window.__requests;
                 const del = r.findIndex(x => x.startsWith('DELETE ') && x.endsWith('/api/v1/push-subscriptions'));
                 const out = r.findIndex(x => x.startsWith('POST ') && x.endsWith('/api/v1/auth/logout'));
                 return (window.__unsubscribed === 1 && del >= 0 && out > del && location.pathname === '/login') || JSON.stringify(r);",
                vec![],
            )
            .await?;
            Ok(())
        })
        .await
}

/// Delivers `payload` to the origin's service worker as a push (CDP sends
/// it unencrypted). CDP names registrations by an id that only its events
/// tell; a fresh profile numbers them from 0, and this one has one.
async fn deliver(c: &Client, cdp: &Cdp, origin: &str, payload: &str) -> anyhow::Result<()> {
    cdp.send(c, "ServiceWorker.enable", json!({})).await?;
    cdp.send(
        c,
        "ServiceWorker.deliverPushMessage",
        json!({ "origin": origin, "registrationId": "0", "data": payload }),
    )
    .await?;
    Ok(())
}

/// The accessible name Chromium computes for the element `css` matches
/// (what a screen reader says), through CDP's accessibility tree.
async fn accessible_name(c: &Client, cdp: &Cdp, css: &str) -> anyhow::Result<String> {
    let root = cdp.send(c, "DOM.getDocument", json!({ "depth": 0 })).await?;
    let found = cdp
        .send(
            c,
            "DOM.querySelector",
            json!({ "nodeId": root["root"]["nodeId"], "selector": css }),
        )
        .await?;
    let tree = cdp
        .send(
            c,
            "Accessibility.getPartialAXTree",
            json!({ "nodeId": found["nodeId"], "fetchRelatives": false }),
        )
        .await?;
    Ok(tree["nodes"][0]["name"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Waits until the bell's accessible name is `name`.
async fn bell_named(c: &Client, cdp: &Cdp, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = accessible_name(c, cdp, "#notify-level").await?;
        if now == name {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the bell is named {now:?}, not {name:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether the chat's title reads `title` in full (nothing cut off), and
/// the bell is a 44 px square or more inside the header, clear of the title,
/// that a tap at its middle reaches.
async fn phone_header_fits(c: &Client, title: &str, when: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{when}: the title {title} whole beside an icon-sized bell"),
        "const t = document.getElementById('conversation-title');
         const s = document.getElementById('notify-level');
         const bell = s && s.closest('.notify-setting');
         if (!t || !bell) return 'no header';
         const problems = [];
         if (t.textContent !== arguments[0]) problems.push(`the title reads ${t.textContent}`);
         if (t.scrollWidth > t.clientWidth) problems.push(`the title needs ${t.scrollWidth} px, has ${t.clientWidth}`);
         const b = bell.getBoundingClientRect(), h = t.closest('.pane-header').getBoundingClientRect();
         const r = t.getBoundingClientRect();
         if (b.width < 44 || b.height < 44) problems.push(`the bell is ${b.width}×${b.height}`);
         if (b.width > 64) problems.push(`the bell is ${b.width} px wide: not an icon`);
         if (b.left < h.left - 0.5 || b.right > h.right + 0.5) problems.push('the bell is out of the header');
         if (!(b.left >= r.right || b.right <= r.left)) problems.push('the bell is over the title');
         const hit = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
         if (hit !== s) problems.push(`a tap on the bell reaches ${hit && hit.outerHTML.slice(0, 60)}`);
         return problems.length ? problems.join('; ') : true;",
        vec![json!(title)],
    )
    .await
}

#[tokio::test]
async fn on_a_phone_the_bell_is_an_icon_and_a_short_title_shows_whole() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["icon_ann", "icon_bob"]).await?;
    befriend(&ann, &bob).await?;
    let group = create_group(&ann, "Weekend", &[&bob]).await?.id;

    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    let url = server.url.clone();
    browser
        .run("notify_bell_icon", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "icon_ann").await?;
            open_chat(&c, &url, group.0).await?;
            install_error_hook(&c).await?;
            phone_header_fits(&c, "Weekend", "the default level").await?;
            bell_named(&c, &cdp, "Notifications: Default (mentions)").await?;

            // By touch: the native list of levels, as the tap opens it.
            c.find(Locator::Id("notify-level"))
                .await?
                .select_by_value("muted")
                .await?;
            level_is(&ann, group, "muted").await?;
            bell_named(&c, &cdp, "Notifications: Muted").await?;
            phone_header_fits(&c, "Weekend", "muted").await?;

            // By keyboard: the focus shows on the icon, and Up picks the
            // level before.
            c.execute("document.getElementById('notify-level').focus()", vec![])
                .await?;
            press(&c, Key::Up).await?;
            level_is(&ann, group, "mentions").await?;
            bell_named(&c, &cdp, "Notifications: Mentions only").await?;
            wait_js(
                &c,
                "the focus shown around the bell",
                "const bell = document.querySelector('.notify-setting');
                 const s = getComputedStyle(bell), select = getComputedStyle(document.getElementById('notify-level'));
                 return (document.activeElement.id === 'notify-level'
                     && ((s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
                         || (select.outlineStyle !== 'none' && parseFloat(select.opacity) > 0.5)))
                     || `${document.activeElement.id} ${s.outlineStyle} ${s.outlineWidth}`;",
                vec![],
            )
            .await?;
            phone_header_fits(&c, "Weekend", "mentions only").await?;
            fits_the_width(&c, "the group with its bell on a phone").await?;
            let violations = accessibility_violations(&c).await?;
            ensure!(violations.is_empty(), "axe-core on a phone: {violations:#?}");

            // A desktop keeps the labelled select.
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            wait_js(
                &c,
                "the select shown with its whole label on a desktop",
                "const s = document.getElementById('notify-level');
                 const r = s.getBoundingClientRect();
                 return (getComputedStyle(s).opacity === '1' && s.options[s.selectedIndex].text.trim() === 'Mentions only'
                     && r.width > 80 && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === s)
                     || `${getComputedStyle(s).opacity} ${s.options[s.selectedIndex].text} ${r.width}`;",
                vec![],
            )
            .await?;
            no_page_errors(&c).await
        })
        .await
}

/// Waits until the mention list offers `username` (among others, maybe).
async fn offered(c: &Client, username: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("@{username} offered"),
        "const seen = [...document.querySelectorAll('#mention-list [role=option]')].map(o => o.dataset.username);
         return seen.includes(arguments[0]) || seen.join();",
        vec![json!(username)],
    )
    .await
}

#[tokio::test]
async fn mentions_offer_members_past_the_first_page_of_a_big_group() -> anyhow::Result<()> {
    let (server, provisioned, _owner, group) = everyone_group_with_app("big", 150).await?;
    // Members are listed by user id: these two are past the first 100.
    let (late, renamed) = (&provisioned.users[140], &provisioned.users[141]);
    let response = Authed::from_token(&server, &renamed.token)
        .await?
        .call(
            reqwest::Method::PATCH,
            "api/v1/me",
            Some(json!({ "display_name": "Quentin Zephyr" })),
        )
        .await?;
    ensure!(response.status() == StatusCode::OK, "PATCH /me: {}", response.status());

    let url = server.url.clone();
    let owner = provisioned.users[0].username.clone();
    let (late, renamed) = (late.username.clone(), renamed.username.clone());
    Browser::launch()
        .await?
        .run("notify_mention_big_group", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in_with(&c, &url, &owner, PROVISIONED_PASSWORD).await?;
            open_chat(&c, &url, group.id.0).await?;
            install_error_hook(&c).await?;
            let composer = c.find(Locator::Id("composer")).await?;
            // By a prefix of the username.
            composer.send_keys(&format!("@{late}")).await?;
            offered(&c, &late).await?;
            composer.clear().await?;
            // By a word of the name, and picked.
            composer.send_keys("hi @zeph").await?;
            offered(&c, &renamed).await?;
            press(&c, Key::Enter).await?;
            wait_js(
                &c,
                "the mention put in",
                "return document.getElementById('composer').value === `hi @${arguments[0]} ` || document.getElementById('composer').value;",
                vec![json!(renamed)],
            )
            .await?;
            no_page_errors(&c).await
        })
        .await
}
