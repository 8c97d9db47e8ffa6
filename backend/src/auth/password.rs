//! Argon2id password hashing, off the async runtime and bounded in concurrency.

use std::sync::Arc;

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, SaltString},
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords. Each hash costs ~19 MiB and tens of
/// milliseconds, so at most a few run at once; the rest wait their turn.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so a wrong username
    /// costs exactly what a wrong password costs.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Ok(Self {
            permits: Arc::new(Semaphore::new(workers)),
            dummy_hash: hash_blocking("natter-dummy-password")?.into(),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
    }

    /// True when `password` matches `stored`; with no stored hash, does the
    /// same work against a dummy and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let parsed = PasswordHash::new(&hash).context("stored password hash is malformed")?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await??;
        Ok(exists && matches)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    // Argon2::default() is argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's baseline).
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("hashing failed: {err}"))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await.unwrap());
        // An unknown user never verifies, even with the dummy's own password.
        assert!(!passwords.verify("natter-dummy-password".into(), None).await.unwrap());
    }
}
