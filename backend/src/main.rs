//! `natter-server`: with no arguments, serves the whole app;
//! `natter-server admin …` runs operator tasks.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use natter_backend::{admin::AdminTask, config::Config, telemetry, Application};

/// natter: a self-hosted chat server. With no arguments it serves the whole
/// app on 127.0.0.1:8080, keeping its data under ./data.
#[derive(Debug, Parser)]
#[command(name = "natter-server", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Operator tasks on the database (most of them beside a running server).
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    if let Some(Command::Admin { task }) = cli.command {
        return natter_backend::admin::run(&cli.config, task).await;
    }
    let app = Application::build(cli.config).await?;
    // Printed on stdout (not only logged) so people and test harnesses see it.
    println!("natter listening on {}", app.url());
    app.run_until_stopped().await
}
