//! Serving the built single-page app: files from the dist folder, and
//! index.html for every client-side route.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode, Uri},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// index.html held in memory, and the Content-Security-Policy that lets
/// exactly its inline bootstrap script run.
#[derive(Clone)]
pub struct SpaIndex {
    html: Option<Arc<str>>,
    pub csp: Arc<str>,
}

impl SpaIndex {
    pub fn load(static_dir: &Path) -> anyhow::Result<Self> {
        let path = static_dir.join("index.html");
        if !path.exists() {
            tracing::warn!(dir = %static_dir.display(), "no built web app found; serving the API only");
            return Ok(Self {
                html: None,
                csp: content_security_policy(&[]).into(),
            });
        }
        let html = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let hashes = inline_script_hashes(&html);
        Ok(Self {
            csp: content_security_policy(&hashes).into(),
            html: Some(html.into()),
        })
    }

    /// The fallback for paths no route or file matched.
    pub fn respond(&self, uri: &Uri) -> Response {
        let path = uri.path();
        // API paths and missing files get a real 404; anything else is a
        // client-side route the app resolves itself.
        let last = path.rsplit('/').next().unwrap_or_default();
        if path == "/api" || path.starts_with("/api/") || path == "/ws" || last.contains('.') {
            return AppError::not_found().into_response();
        }
        match &self.html {
            Some(html) => ([(header::CACHE_CONTROL, "no-cache")], Html(html.to_string())).into_response(),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The natter web app has not been built. Run `make run` from the source tree.",
            )
                .into_response(),
        }
    }
}

/// Middleware for built files: trunk puts a content hash in their names
/// (`app-23d4160a973112f0.css`), so they can be cached for good.
pub async fn cache_hashed_files(request: Request, next: Next) -> Response {
    let hashed = is_content_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if hashed && response.status().is_success() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

/// True for names like `name-<12+ hex digits>.ext` (trunk's file hash).
fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Policy: our own scripts, styles, images and connections only; wasm may be
/// compiled; nothing may frame us. Inline scripts run only if their hash is listed.
fn content_security_policy(script_hashes: &[String]) -> String {
    let hashes: String = script_hashes.iter().map(|h| format!(" 'sha256-{h}'")).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; media-src 'self' blob:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Base64 SHA-256 of each inline `<script>` body (trunk's bootstrap script).
fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let body_and_after = &rest[tag_end + 1..];
        let Some(close) = body_and_after.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            hashes.push(STANDARD.encode(Sha256::digest(&body_and_after.as_bytes()[..close])));
        }
        rest = &body_and_after[close..];
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_trunk_hashed_names() {
        assert!(is_content_hashed("/natter-frontend-6157b3dd07902d3_bg.wasm"));
        assert!(is_content_hashed("/natter-frontend-6157b3dd07902d3.js"));
        assert!(is_content_hashed("/app-23d4160a973112f0.css"));
        assert!(is_content_hashed("/app-0123456789abcdef.css"));
        assert!(!is_content_hashed("/index.html"));
        assert!(!is_content_hashed("/stickers/cat-happy.png"));
    }

    #[test]
    fn hashes_only_inline_scripts() {
        let html = r#"<head><script src="/a.js"></script><script type="module">boot()</script></head>"#;
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes, vec![STANDARD.encode(Sha256::digest(b"boot()"))]);
        let csp = content_security_policy(&hashes);
        assert!(csp.contains(&format!("'sha256-{}'", hashes[0])));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
