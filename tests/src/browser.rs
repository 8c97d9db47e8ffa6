//! `Browser`: chromedriver plus headless Debian Chromium, one fresh profile
//! per instance, driven through fantoccini.

use std::{future::Future, process::Stdio, time::Duration};

use anyhow::{bail, Context};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::workspace_root;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: TempDir,
}

impl Browser {
    pub async fn launch() -> anyhow::Result<Self> {
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
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
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
            _driver: driver,
            _profile: profile,
        })
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
    use fantoccini::Locator;
    c.goto(&format!("{base_url}login")).await?;
    c.wait()
        .for_element(Locator::Id("username"))
        .await?
        .send_keys(username)
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(crate::api::PASSWORD)
        .await?;
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
