//! The server's VAPID identity (RFC 8292): a P-256 key made on first run
//! and kept in the data directory, and the `Authorization` header that
//! signs each push with it. Push services tie a subscription to this key,
//! so losing the file silently ends every subscription: back it up.

use std::{io::Write, path::Path, time::Duration};

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};

/// The key's file in the data directory.
pub const KEY_FILE: &str = "vapid.key";

/// How long a signed token is good for (RFC 8292 allows up to 24 hours).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

pub struct Vapid {
    key: SigningKey,
    /// The uncompressed public point, base64url: what browsers subscribe
    /// with and what each token names as `k`.
    public_key: String,
    /// The token's `sub`: whom a push service may contact about us.
    subject: String,
}

impl Vapid {
    /// Loads the key from `dir`, making one on first run.
    pub fn load_or_create(dir: &Path, subject: String) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .with_context(|| format!("{} is not base64url", path.display()))?;
                SigningKey::from_slice(&bytes).with_context(|| format!("{} holds no P-256 key", path.display()))?
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = loop {
                    // Nearly every 32 random bytes is a valid scalar.
                    if let Ok(key) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
                        break key;
                    }
                };
                write_private(&path, &URL_SAFE_NO_PAD.encode(key.to_bytes()))?;
                tracing::info!(path = %path.display(), "made a new VAPID key for Web Push");
                key
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let public_key = URL_SAFE_NO_PAD.encode(key.verifying_key().to_encoded_point(false).as_bytes());
        Ok(Self {
            key,
            public_key,
            subject,
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// `Authorization` for a push to a service at `origin`
    /// (`scheme://host[:port]`), valid from `now` (Unix seconds).
    pub fn authorization(&self, origin: &str, now: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": origin,
            "exp": now + TOKEN_LIFETIME.as_secs(),
            "sub": self.subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signed}.{signature}, k={}", self.public_key)
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::{signature::Verifier, VerifyingKey};

    use super::*;

    #[test]
    fn the_key_survives_a_restart_and_tokens_verify_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vapid::load_or_create(dir.path(), "mailto:ops@example.com".into()).unwrap();
        let again = Vapid::load_or_create(dir.path(), "mailto:ops@example.com".into()).unwrap();
        assert_eq!(first.public_key(), again.public_key());

        let header = first.authorization("https://push.example.net", 1_000);
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(key, first.public_key());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let point = URL_SAFE_NO_PAD.decode(key).unwrap();
        let verifier = VerifyingKey::from_sec1_bytes(&point).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        let claims = URL_SAFE_NO_PAD.decode(signed.split_once('.').unwrap().1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }
}
