//! Reading a server's `/metrics`.

use reqwest::StatusCode;

use crate::TestServer;

/// The metrics token the tests give a server (`NATTER_METRICS_TOKEN`).
pub const TOKEN: &str = "metrics-secret-token";

/// The value of the series `name` with these labels (0 when absent).
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// The server's metrics, as text.
pub async fn scrape(server: &TestServer) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .get(server.at("metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "scrape: {}", response.status());
    Ok(response.text().await?)
}
