//! Session tokens: 256 random bits handed to the client once; the server
//! keeps only their SHA-256.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Length of a token on the wire: 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

/// A fresh token (to give the client) and its hash (to store).
pub fn generate() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let (a, hash_a) = generate();
        let (b, _) = generate();
        assert_eq!(a.len(), TOKEN_CHARS);
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash_a);
    }
}
