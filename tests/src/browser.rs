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
