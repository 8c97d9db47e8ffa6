//! This browser's `localStorage`, as JSON values under `natter.` keys:
//! what should survive a reload (drafts, unsent messages, recent emoji).

use serde::{de::DeserializeOwned, Serialize};

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let json = local()?.get_item(key).ok()??;
    serde_json::from_str(&json).ok()
}

/// Stores `value` (best effort: a full or disabled storage keeps nothing).
pub fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(storage), Ok(json)) = (local(), serde_json::to_string(value)) {
        let _ = storage.set_item(key, &json);
    }
}

pub fn remove(key: &str) {
    if let Some(storage) = local() {
        let _ = storage.remove_item(key);
    }
}

/// Removes everything kept for `user` (drafts, unsent messages): their
/// account is gone, and what they typed must not outlive it here.
pub fn forget_user(user: i64) {
    let Some(storage) = local() else { return };
    let (drafts, outbox) = (format!("natter.draft.{user}."), format!("natter.outbox.{user}"));
    let keys: Vec<String> = (0..storage.length().unwrap_or(0))
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|k| k.starts_with(&drafts) || *k == outbox)
        .collect();
    for key in keys {
        let _ = storage.remove_item(&key);
    }
}
