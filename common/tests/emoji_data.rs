//! `assets/emoji/emoji-data.json`, the emoji picker's data, generated from
//! the `emojis` crate. The browser app fetches it the first time the picker
//! opens instead of carrying the crate's tables in its wasm. This test
//! fails when the committed file no longer matches the crate (say, after
//! `cargo update -p emojis`); regenerate it with
//!
//! ```text
//! NATTER_WRITE_EMOJI_DATA=1 cargo test -p natter-common --test emoji_data
//! ```
//!
//! Format, one emoji a line, in the crate's (CLDR) order, groups contiguous:
//! `{"groups":9,"emoji":[[emoji, name, group index, [shortcodes],
//! [light, medium-light, medium, medium-dark, dark] or []], …]}`; the group
//! index is the position in `emojis::Group::iter()`.

use std::path::PathBuf;

use emojis::{Group, SkinTone};

const TONES: [SkinTone; 5] = [
    SkinTone::Light,
    SkinTone::MediumLight,
    SkinTone::Medium,
    SkinTone::MediumDark,
    SkinTone::Dark,
];

fn generate() -> String {
    let groups: Vec<Group> = Group::iter().collect();
    let lines: Vec<String> = emojis::iter()
        .map(|e| {
            let group = groups.iter().position(|g| *g == e.group()).expect("known group");
            let codes: Vec<&str> = e.shortcodes().collect();
            let tones: Vec<&str> = if e.skin_tone().is_some() {
                TONES
                    .iter()
                    .map(|t| e.with_skin_tone(*t).unwrap_or(e).as_str())
                    .collect()
            } else {
                Vec::new()
            };
            serde_json::to_string(&(e.as_str(), e.name(), group, codes, tones)).expect("json")
        })
        .collect();
    format!(
        "{{\"groups\":{},\"emoji\":[\n{}\n]}}\n",
        groups.len(),
        lines.join(",\n")
    )
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/emoji/emoji-data.json")
}

#[test]
fn emoji_data_file_matches_the_emojis_crate() {
    let fresh = generate();
    if std::env::var_os("NATTER_WRITE_EMOJI_DATA").is_some() {
        std::fs::write(path(), &fresh).expect("write emoji-data.json");
        return;
    }
    let committed = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        committed == fresh,
        "assets/emoji/emoji-data.json is missing or out of date with the `emojis` crate; \
         regenerate it with: NATTER_WRITE_EMOJI_DATA=1 cargo test -p natter-common --test emoji_data"
    );
}

#[test]
fn emoji_data_has_every_group_and_skin_tones() {
    let data: serde_json::Value = serde_json::from_str(&generate()).expect("valid json");
    let list = data["emoji"].as_array().expect("emoji array");
    assert!(list.len() > 1800, "{} emoji", list.len());
    for g in 0..9u64 {
        assert!(list.iter().any(|e| e[2] == g), "group {g} empty");
    }
    let wave = list.iter().find(|e| e[1] == "waving hand").expect("waving hand");
    assert_eq!(wave[4].as_array().map(Vec::len), Some(5));
    assert_eq!(wave[4][0], "👋🏻");
}
