//! `natter-server`: with no arguments, serves the whole app.

use clap::Parser;
use natter_backend::{config::Config, telemetry, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let app = Application::build(config).await?;
    // Printed on stdout (not only logged) so people and test harnesses see it.
    println!("natter listening on {}", app.url());
    app.run_until_stopped().await
}
