//! `@username` mentions in message text. The server resolves them to the
//! members they name when a message is stored; the app uses the same rule to
//! highlight them and to complete them in the composer.

use std::ops::Range;

/// Each `@name` in `text` that could name a user: the byte range of the
/// whole token (with the `@`) and the name. An `@` inside a word (an e-mail
/// address) starts none, and trailing `.` and `-` are punctuation.
pub fn find(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    let bytes = text.as_bytes();
    text.match_indices('@').filter_map(move |(at, _)| {
        if at > 0 && (is_name_char(bytes[at - 1]) || bytes[at - 1] == b'@') {
            return None;
        }
        let start = at + 1;
        let len = bytes[start..].iter().take_while(|b| is_name_char(**b)).count();
        let name = text[start..start + len].trim_end_matches(['.', '-']);
        let valid = name.len() >= crate::limits::USERNAME_MIN_CHARS
            && name.len() <= crate::limits::USERNAME_MAX_CHARS
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        valid.then(|| (at..start + name.len(), name))
    })
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        find(text).map(|(_, name)| name).collect()
    }

    #[test]
    fn mentions_are_whole_tokens() {
        assert_eq!(names("@bob hi"), ["bob"]);
        assert_eq!(names("hi @bob.smith, and @carol."), ["bob.smith", "carol"]);
        assert_eq!(names("(@dave) @eve-"), ["dave", "eve"]);
        assert_eq!(names("mail bob@example.com"), Vec::<&str>::new());
        assert_eq!(names("@@bob @ bob @x @_bob"), Vec::<&str>::new());
        assert_eq!(names("你好@bob @bob@carol"), ["bob", "bob"]);
        let (range, _) = find("hey @Bob!").next().unwrap();
        assert_eq!(&"hey @Bob!"[range], "@Bob");
    }
}
