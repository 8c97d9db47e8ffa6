//! Validation at the boundary: parse raw strings into types that can only
//! hold valid values. The browser runs the same rules for inline messages.

use crate::limits::*;

/// Why a field was refused; `field` is the JSON field name and the message
/// is fit to show next to that field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A username: 3–32 characters from `a–z A–Z 0–9 _ . -`, starting with a
/// letter or digit. Unique case-insensitively; shown as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&len) {
            return Err(invalid(
                "username",
                format!("Username must be {USERNAME_MIN_CHARS}–{USERNAME_MAX_CHARS} characters."),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(invalid(
                "username",
                "Username may contain only letters a–z, digits, '_', '.' and '-'.",
            ));
        }
        if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(invalid("username", "Username must start with a letter or digit."));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters a name may not hold: controls, and the invisible ones that
/// make one name look like another — bidirectional overrides, embeddings
/// and isolates (which can make "evil\u{202E}gnp.exe" read "evilexe.png"),
/// zero-width spaces, the word joiner and the byte-order mark. Zero-width
/// joiners and non-joiners stay: emoji sequences and Persian need them.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{180E}' | '\u{2061}'..='\u{2064}')
}

/// A display name: trimmed, 1–64 characters, none of them controls or
/// invisible tricks ([`is_deceptive`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("display_name", "Display name cannot be empty."));
        }
        if name.chars().count() > DISPLAY_NAME_MAX_CHARS {
            return Err(invalid(
                "display_name",
                format!("Display name must be at most {DISPLAY_NAME_MAX_CHARS} characters."),
            ));
        }
        if name.chars().any(is_deceptive) {
            return Err(invalid(
                "display_name",
                "Display name cannot contain control characters or invisible direction and spacing marks.",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group name: trimmed, 1–64 characters, none of them controls or
/// invisible tricks ([`is_deceptive`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > GROUP_NAME_MAX_CHARS {
            return Err(invalid(
                "name",
                format!("Group name must be 1–{GROUP_NAME_MAX_CHARS} characters."),
            ));
        }
        if name.chars().any(is_deceptive) {
            return Err(invalid(
                "name",
                "Group name cannot contain control characters or invisible direction and spacing marks.",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message's text: not blank, at most 4 000 characters.
pub fn message_text(text: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(invalid("text", "A message cannot be empty."));
    }
    if text.chars().count() > MESSAGE_TEXT_MAX_CHARS {
        return Err(invalid(
            "text",
            format!("A message can be at most {MESSAGE_TEXT_MAX_CHARS} characters."),
        ));
    }
    // NUL shows as nothing anywhere, and PostgreSQL can store it neither as
    // text nor inside JSON.
    if text.contains('\0') {
        return Err(invalid("text", "A message cannot contain NUL characters."));
    }
    Ok(())
}

/// A reaction: exactly one emoji of the Unicode set (skin tones included).
pub fn reaction(emoji: &str) -> Result<(), Invalid> {
    if emoji.len() > 64 || emojis::get(emoji).is_none() {
        return Err(invalid("emoji", "A reaction is a single emoji."));
    }
    Ok(())
}

/// A new password: at least 8 characters, at most 1024 bytes.
pub fn check_new_password(raw: &str) -> Result<(), Invalid> {
    if raw.chars().count() < PASSWORD_MIN_CHARS {
        return Err(invalid(
            "password",
            format!("Password must be at least {PASSWORD_MIN_CHARS} characters."),
        ));
    }
    if raw.len() > PASSWORD_MAX_BYTES {
        return Err(invalid(
            "password",
            format!("Password must be at most {PASSWORD_MAX_BYTES} bytes."),
        ));
    }
    Ok(())
}

/// A device label: trimmed, control characters dropped, cut to 128 characters;
/// falls back to the given default when empty.
pub fn device_name(raw: Option<&str>, fallback: &str) -> String {
    let cleaned: String = raw
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(DEVICE_NAME_MAX_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        fallback
            .chars()
            .filter(|c| !c.is_control())
            .take(DEVICE_NAME_MAX_CHARS)
            .collect()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["bob", "Alice_01", "a.b-c", "x".repeat(32).as_str(), "9lives"] {
            assert!(Username::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "ab",
            "",
            "x".repeat(33).as_str(),
            "_bob",
            ".bob",
            "bo b",
            "bøb",
            "bob!",
            "名前です",
        ] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.field, "username", "{bad}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert_eq!(DisplayName::parse("Zoë 🦀").unwrap().as_str(), "Zoë 🦀");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        for trick in [
            "evil\u{202E}gnp.exe",
            "ad\u{200B}min",
            "\u{2066}bob\u{2069}",
            "a\u{FEFF}b",
            "x\u{2060}y",
        ] {
            assert!(DisplayName::parse(trick).is_err(), "{trick:?}");
            assert!(GroupName::parse(trick).is_err(), "{trick:?}");
        }
        // Joiners are how emoji families and Persian words are written.
        assert!(DisplayName::parse("👨\u{200D}👩\u{200D}👧 family").is_ok());
        assert!(DisplayName::parse("می\u{200C}خواهم").is_ok());
        assert!(
            DisplayName::parse("مريم").is_ok(),
            "right-to-left names themselves are fine"
        );
    }

    #[test]
    fn group_names() {
        assert_eq!(GroupName::parse(" Rustaceans ").unwrap().as_str(), "Rustaceans");
        assert!(GroupName::parse("").is_err());
        assert!(GroupName::parse(&"g".repeat(65)).is_err());
        assert_eq!(GroupName::parse("\t").unwrap_err().field, "name");
    }

    #[test]
    fn message_texts() {
        assert!(message_text("hi 👋").is_ok());
        assert_eq!(message_text("  \n ").unwrap_err().field, "text");
        assert!(message_text(&"é".repeat(4000)).is_ok());
        assert_eq!(message_text(&"é".repeat(4001)).unwrap_err().field, "text");
        assert_eq!(message_text("a\0b").unwrap_err().field, "text");
        assert!(message_text("tab\tand\nnewline").is_ok());
    }

    #[test]
    fn reactions() {
        for ok in ["👍", "❤️", "👍🏽", "🦀", "🇫🇷", "👩‍👩‍👧"] {
            assert!(reaction(ok).is_ok(), "{ok} is one emoji");
        }
        for bad in ["", "a", "👍👍", "👍 ", ":+1:", "<b>", "👍\u{0}"] {
            assert_eq!(reaction(bad).unwrap_err().field, "emoji", "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password("pässwörd").is_ok());
        assert!(check_new_password(&"a".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn device_names() {
        assert_eq!(device_name(Some("  Laptop\n "), "x"), "Laptop");
        assert_eq!(device_name(None, "Chrome"), "Chrome");
        assert_eq!(device_name(Some(&"d".repeat(500)), "x").len(), DEVICE_NAME_MAX_CHARS);
    }
}
