//! Harness for end-to-end tests: the real `natter-server` binary on a random
//! port with its own temporary data directory, and headless Chromium.

pub mod api;
pub mod browser;
pub mod metrics;
pub mod nats;
pub mod postgres;
pub mod push;
pub mod server;
pub mod ws;

pub use browser::Browser;
pub use server::{TestServer, FAST};

use std::path::PathBuf;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
