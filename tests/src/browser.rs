//! `Browser`: chromedriver plus headless Debian Chromium, one fresh profile
//! per instance, driven through fantoccini.

use std::{future::Future, process::Stdio, time::Duration};

use anyhow::{bail, Context};
use fantoccini::{
    actions::{InputSource, PointerAction, TouchActions, MOUSE_BUTTON_LEFT},
    elements::Element,
    Client, ClientBuilder,
};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::workspace_root;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    /// chromedriver's address, for commands fantoccini has no call for.
    driver_url: String,
    _driver: Child,
    _profile: TempDir,
}

impl Browser {
    pub async fn launch() -> anyhow::Result<Self> {
        Self::launch_with(&[]).await
    }

    /// A browser whose pages prefer the dark colour scheme.
    pub async fn launch_dark() -> anyhow::Result<Self> {
        Self::launch_with(&["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]).await
    }

    /// [`Self::launch`] with extra Chromium flags.
    pub async fn launch_with(extra: &[&str]) -> anyhow::Result<Self> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(tool).exists() {
                bail!("{tool} is missing: install Debian's chromium and chromium-driver (make test does)");
            }
        }
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("spawning chromedriver")?;
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until_ready(&format!("{endpoint}/status")).await?;

        let profile = tempfile::Builder::new().prefix("natter-chromium-").tempdir()?;
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(str::to_owned)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&endpoint)
            .await
            .context("starting a Chromium session")?;
        Ok(Self {
            client,
            driver_url: endpoint,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Sends Chrome DevTools Protocol commands to this browser's page.
    pub fn cdp(&self) -> Cdp {
        Cdp {
            driver_url: self.driver_url.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Runs a test body; if it fails, saves a screenshot under
    /// `tests/screenshots/<name>.png` before passing the error on.
    pub async fn run<F, Fut>(self, name: &str, body: F) -> anyhow::Result<()>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let outcome = body(self.client.clone()).await;
        if let Err(err) = &outcome {
            let dir = workspace_root().join("tests").join("screenshots");
            let path = dir.join(format!("{name}.png"));
            match self.client.screenshot().await {
                Ok(png) => {
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(&path, png);
                    eprintln!("{name} failed ({err:#}); screenshot at {}", path.display());
                }
                Err(shot_err) => eprintln!("{name} failed; no screenshot: {shot_err}"),
            }
        }
        let _ = self.client.close().await;
        outcome
    }
}

/// Signs `username` in through the login page (password: `api::PASSWORD`)
/// and waits for the signed-in shell.
pub async fn sign_in(c: &Client, base_url: &str, username: &str) -> anyhow::Result<()> {
    sign_in_with(c, base_url, username, crate::api::PASSWORD).await
}

/// [`sign_in`] with another password (e.g. provisioned accounts').
pub async fn sign_in_with(c: &Client, base_url: &str, username: &str, password: &str) -> anyhow::Result<()> {
    use fantoccini::Locator;
    c.goto(&format!("{base_url}login")).await?;
    c.wait()
        .for_element(Locator::Id("username"))
        .await?
        .send_keys(username)
        .await?;
    c.find(Locator::Id("password")).await?.send_keys(password).await?;
    c.find(Locator::Css("button[type=submit]")).await?.click().await?;
    c.wait().for_element(Locator::Css(".shell-user")).await?;
    Ok(())
}

/// Opens conversation `conversation` and waits for the composer and a live
/// connection.
pub async fn open_chat(c: &Client, base_url: &str, conversation: i64) -> anyhow::Result<()> {
    c.goto(&format!("{base_url}c/{conversation}")).await?;
    c.wait().for_element(fantoccini::Locator::Id("composer")).await?;
    wait_online(c).await
}

/// Waits until the connection indicator reads "Online".
pub async fn wait_online(c: &Client) -> anyhow::Result<()> {
    wait_for(c, "//*[@id='connection-state'][normalize-space(.)='Online']").await
}

/// Types into the composer and presses Enter. (ChromeDriver can only type
/// characters of the Basic Multilingual Plane, so no emoji here; the API
/// tests carry those.)
pub async fn say(c: &Client, text: &str) -> anyhow::Result<()> {
    let composer = c.find(fantoccini::Locator::Id("composer")).await?;
    composer.send_keys(text).await?;
    composer.send_keys("\u{E007}").await?; // Enter
    Ok(())
}

/// Waits (up to 40 s: reconnects back off) for an element matching `xpath`.
pub async fn wait_for(c: &Client, xpath: &str) -> anyhow::Result<()> {
    c.wait()
        .at_most(Duration::from_secs(40))
        .for_element(fantoccini::Locator::XPath(xpath))
        .await
        .with_context(|| format!("waiting for {xpath}"))?;
    Ok(())
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes: text with
/// both kinds of quote becomes a `concat(…)`).
pub fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Sizes the window so that the page's viewport (`innerWidth` ×
/// `innerHeight`) is `width` × `height` CSS pixels. Headless Chromium draws
/// no browser chrome, so the window's size is the viewport's; should a build
/// differ, the difference is measured and made up once.
pub async fn set_viewport(c: &Client, width: u32, height: u32) -> anyhow::Result<()> {
    let wanted = (i64::from(width), i64::from(height));
    let mut window = wanted;
    let mut seen = (0, 0);
    for _ in 0..2 {
        c.set_window_rect(0, 0, window.0.max(1) as u32, window.1.max(1) as u32)
            .await?;
        // The page hears of a resize a moment after the window has it.
        for _ in 0..40 {
            let inner = c
                .execute("return [window.innerWidth, window.innerHeight]", vec![])
                .await?;
            seen = (inner[0].as_i64().unwrap_or(0), inner[1].as_i64().unwrap_or(0));
            if seen == wanted {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        window = (window.0 + wanted.0 - seen.0, window.1 + wanted.1 - seen.1);
    }
    bail!(
        "could not give the page a {width}×{height} viewport: it is {}×{}",
        seen.0,
        seen.1
    )
}

/// How long [`wait_js`] and [`click`] wait (as [`wait_for`]: reconnects back off).
const WAIT: Duration = Duration::from_secs(40);

/// Polls `script` (a function body, given `args`) until it returns `true`,
/// for at most 40 s: for states that no element marks (positions, scroll
/// offsets, computed styles). Whatever else it returns is taken as the
/// reason it is not so yet, and shown if time runs out.
pub async fn wait_js(c: &Client, what: &str, script: &str, args: Vec<serde_json::Value>) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = c
            .execute(script, args.clone())
            .await
            .with_context(|| format!("checking {what}"))?;
        if value == serde_json::Value::Bool(true) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("not so within {} s: {what}; last seen: {value}", WAIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page has drawn `count` frames from now, so that what the
/// app put off to the next animation frame (scrolling, say) has happened.
pub async fn frames(c: &Client, count: u32) -> anyhow::Result<()> {
    c.execute_async(
        "const done = arguments[arguments.length - 1];
         let left = arguments[0];
         const next = () => (--left <= 0 ? done(true) : requestAnimationFrame(next));
         requestAnimationFrame(next);",
        vec![json!(count)],
    )
    .await?;
    Ok(())
}

/// A finger put on (`x`, `y`) of the viewport, held there for `hold` and
/// lifted: a long-press, or a tap.
pub async fn touch(c: &Client, (x, y): (f64, f64), hold: Duration) -> anyhow::Result<()> {
    c.perform_actions(
        TouchActions::new("finger".into())
            .then(PointerAction::MoveTo { duration: None, x, y })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Pause { duration: hold })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            }),
    )
    .await?;
    c.release_actions().await?;
    Ok(())
}

/// A finger held for 0.7 s (the app opens a message's menu after 0.5 s) on
/// the middle of what is in view of `element` (inside its list, if in one),
/// brought into view first.
pub async fn long_press(c: &Client, element: &Element) -> anyhow::Result<()> {
    let element = serde_json::to_value(element)?;
    c.execute("arguments[0].scrollIntoView({block: 'nearest'})", vec![element.clone()])
        .await?;
    frames(c, 2).await?;
    let point = c
        .execute(
            "const r = arguments[0].getBoundingClientRect();
             const list = arguments[0].closest('ol')?.getBoundingClientRect() ?? r;
             return [(r.left + r.right) / 2, (Math.max(r.top, list.top) + Math.min(r.bottom, list.bottom)) / 2];",
            vec![element],
        )
        .await?;
    let (x, y) = (point[0].as_f64().context("no x")?, point[1].as_f64().context("no y")?);
    touch(c, (x, y), Duration::from_millis(700)).await
}

/// Waits for `locator` and clicks it; again if a re-render replaced the
/// element between finding and clicking.
pub async fn click(c: &Client, locator: fantoccini::Locator<'_>) -> anyhow::Result<()> {
    for _ in 0..3 {
        let element = c
            .wait()
            .at_most(WAIT)
            .for_element(locator)
            .await
            .with_context(|| format!("waiting for {locator:?}"))?;
        match element.click().await {
            Err(err) if err.is_stale_element_reference() => continue,
            other => return other.with_context(|| format!("clicking {locator:?}")),
        }
    }
    bail!("{locator:?} went stale three times in a row")
}

/// From now on, records in `window.__errors` what the page reports as
/// errors: every `console.error` (a Leptos panic is logged there, "panicked
/// at …", before the wasm app aborts), uncaught exceptions and unhandled
/// rejections. A page loaded anew needs it installed again.
pub async fn install_error_hook(c: &Client) -> anyhow::Result<()> {
    c.execute(
        r#"
        if (Array.isArray(window.__errors)) return;
        window.__errors = [];
        const say = value => value instanceof Error ? `${value.message}
${value.stack}` : String(value);
        const original = console.error.bind(console);
        console.error = (...args) => {
            window.__errors.push(args.map(say).join(' '));
            original(...args);
        };
        window.addEventListener('error', e => window.__errors.push(`uncaught: ${e.message}`));
        window.addEventListener('unhandledrejection', e => window.__errors.push(`unhandled rejection: ${say(e.reason)}`));
        "#,
        vec![],
    )
    .await?;
    Ok(())
}

/// What [`install_error_hook`] has recorded. Fails if the page was loaded
/// anew since (its record went with it).
pub async fn page_errors(c: &Client) -> anyhow::Result<Vec<String>> {
    let value = c
        .execute("return Array.isArray(window.__errors) ? window.__errors : null", vec![])
        .await?;
    if value.is_null() {
        bail!("the page has no error hook: it was loaded anew since install_error_hook");
    }
    Ok(serde_json::from_value(value)?)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Polls chromedriver's status endpoint until it answers (bounded).
async fn wait_until_ready(status_url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(status_url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("chromedriver did not come up within 10 s")
}

/// Runs axe-core (installed into `.tools/` by `scripts/bootstrap.sh
/// --browser`) on the current page and returns its serious and critical
/// violations, each as "rule: target…".
pub async fn accessibility_violations(c: &Client) -> anyhow::Result<Vec<String>> {
    let axe = workspace_root().join(".tools/node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&axe)
        .with_context(|| format!("{} is missing: run scripts/bootstrap.sh --browser", axe.display()))?;
    c.execute(&source, vec![]).await.context("loading axe-core")?;
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
                 .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ') + (n.failureSummary ? ' (' + n.failureSummary.replace(/\s+/g, ' ').slice(0, 160) + ')' : '')).join(' | '))))
                 .catch(e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await
        .context("running axe-core")?;
    Ok(serde_json::from_value(found)?)
}

/// Presses `key` (a special key, or a character to type) wherever the
/// focus is, as a user would.
pub async fn press(c: &Client, key: impl Into<char>) -> anyhow::Result<()> {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let value = key.into();
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value }),
    )
    .await?;
    Ok(())
}

/// The page does not scroll sideways, nor does anything in it, and nothing
/// reaches past the right edge of the viewport.
pub async fn fits_the_width(c: &Client, when: &str) -> anyhow::Result<()> {
    let verdict = c
        .execute(
            "const doc = document.documentElement;
             if (doc.scrollWidth > doc.clientWidth) return `the page is ${doc.scrollWidth} px wide in ${doc.clientWidth}`;
             const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).split(' ').join('.') : '');
             const scrolling = [...document.querySelectorAll('*')].filter(el => {
                 const s = getComputedStyle(el);
                 return (s.overflowX === 'auto' || s.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1;
             });
             if (scrolling.length) return 'scrolls sideways: ' + scrolling.map(name).join(', ');
             const beyond = [...document.querySelectorAll('body *')].filter(el =>
                 el.getClientRects().length > 0 && el.getBoundingClientRect().right > window.innerWidth + 1);
             return beyond.length ? 'past the right edge: ' + beyond.map(name).join(', ') : true;",
            vec![],
        )
        .await?;
    anyhow::ensure!(verdict == json!(true), "{when}: {verdict}");
    Ok(())
}

/// Page-script helpers for what a person can see: `shown(el)` (rendered at
/// all) and `inView(el)` (wholly visible: inside the viewport and inside
/// every ancestor that clips it — the message list, the pane, the shell).
/// Put it before a script that uses them.
pub const VISIBILITY_JS: &str = r#"
const shown = el => !!el && getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0;
const inView = el => {
    if (!shown(el)) return false;
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return false;
    let top = 0, bottom = window.innerHeight, left = 0, right = window.innerWidth;
    for (let p = el.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
            const v = p.getBoundingClientRect();
            top = Math.max(top, v.top); bottom = Math.min(bottom, v.bottom);
            left = Math.max(left, v.left); right = Math.min(right, v.right);
        }
    }
    return r.top >= top - 1 && r.bottom <= bottom + 1 && r.left >= left - 1 && r.right <= right + 1;
};
"#;

/// Ctrl+K, wherever the focus is.
pub async fn ctrl_k(c: &Client) -> anyhow::Result<()> {
    use fantoccini::{
        actions::{InputSource, KeyAction, KeyActions},
        key::Key,
    };
    let ctrl = char::from(Key::Control);
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ctrl })
            .then(KeyAction::Down { value: 'k' })
            .then(KeyAction::Up { value: 'k' })
            .then(KeyAction::Up { value: ctrl }),
    )
    .await?;
    Ok(())
}

/// Polls, bounded, until exactly `count` elements match `css`.
pub async fn count_is(c: &Client, css: &str, count: usize) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{count} × {css}"),
        "const n = document.querySelectorAll(arguments[0]).length; return n === arguments[1] || `${n} of them`;",
        vec![json!(css), json!(count)],
    )
    .await
}

/// Chrome DevTools Protocol commands through chromedriver's
/// `goog/cdp/execute` endpoint (to the session's current page; `Browser.*`
/// commands reach the browser). Commands only: events are not delivered.
#[derive(Clone)]
pub struct Cdp {
    driver_url: String,
    http: reqwest::Client,
}

impl Cdp {
    /// Runs `method` with `params` and returns its result.
    pub async fn send(&self, c: &Client, method: &str, params: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let session = c.session_id().await?.context("no WebDriver session")?;
        let response = self
            .http
            .post(format!("{}/session/{session}/goog/cdp/execute", self.driver_url))
            .json(&json!({ "cmd": method, "params": params }))
            .send()
            .await?;
        let status = response.status();
        let mut body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{method}: {status} {body}");
        Ok(body["value"].take())
    }

    /// Runs `source` in every page loaded from now on, before its own scripts.
    pub async fn before_load(&self, c: &Client, source: &str) -> anyhow::Result<()> {
        self.send(c, "Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }))
            .await?;
        Ok(())
    }

    /// Grants `origin` the permission to show notifications (as a person
    /// answering the browser's prompt would).
    pub async fn grant_notifications(&self, c: &Client, origin: &str) -> anyhow::Result<()> {
        self.send(
            c,
            "Browser.grantPermissions",
            json!({ "origin": origin.trim_end_matches('/'), "permissions": ["notifications"] }),
        )
        .await?;
        Ok(())
    }
}

/// Records, before the app loads (put it in with [`Cdp::before_load`]),
/// each request the page makes through `fetch`, as "METHOD /path?query",
/// in `window.__fetched`. Read it with [`fetched`].
pub const FETCH_LOG_JS: &str = r#"
(() => {
    window.__fetched = [];
    const real = window.fetch;
    window.fetch = (input, init) => {
        const method = (init && init.method) || (input && input.method) || 'GET';
        const url = new URL(input && input.url ? input.url : String(input), location.href);
        window.__fetched.push(method + ' ' + url.pathname + url.search);
        return real.call(window, input, init);
    };
})();
"#;

/// The requests [`FETCH_LOG_JS`] has recorded since the page loaded.
pub async fn fetched(c: &Client) -> anyhow::Result<Vec<String>> {
    let value = c
        .execute(
            "return Array.isArray(window.__fetched) ? window.__fetched : null",
            vec![],
        )
        .await?;
    if value.is_null() {
        bail!("the page has no fetch log: put FETCH_LOG_JS in with Cdp::before_load before loading it");
    }
    Ok(serde_json::from_value(value)?)
}
