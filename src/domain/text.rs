//! Cutting text to a length, on char boundaries: the one place that does it for logs, upstream
//! errors, help answers and patch reviews; and whitespace collapsing.

/// Every run of whitespace (newlines included) becomes one space; ends are trimmed.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest prefix of `s` with at most `max_chars` characters, cut on a char boundary.
pub fn clip_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((byte, _)) => &s[..byte],
        None => s,
    }
}

/// At most `max_chars` characters. A cut prefers the last word boundary in the final fifth of
/// the allowance (a half word reads worse than a slightly shorter line) and ends with `…`.
pub fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    if max_chars == 0 {
        return String::new();
    }
    // Room for the ellipsis.
    let keep = max_chars - 1;
    let head = clip_chars(s, keep);
    let floor = keep - keep / 5;
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if head[..space].chars().count() >= floor => &head[..space],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_chars_is_char_safe() {
        assert_eq!(clip_chars("héllo", 2), "hé");
        assert_eq!(clip_chars("hi", 10), "hi");
        assert_eq!(clip_chars("", 0), "");
    }

    #[test]
    fn collapse_joins_runs() {
        assert_eq!(collapse_whitespace("  a \n\t b  c "), "a b c");
        assert_eq!(collapse_whitespace(" \n "), "");
    }

    #[test]
    fn shorten_keeps_short_text() {
        assert_eq!(shorten("hello", 5), "hello");
        assert_eq!(shorten("", 3), "");
    }

    #[test]
    fn shorten_prefers_word_boundary() {
        let out = shorten("the quick brown fox jumps", 12);
        assert_eq!(out, "the quick…");
        assert!(out.chars().count() <= 12);
    }

    #[test]
    fn shorten_cuts_long_words_hard() {
        let out = shorten("abcdefghijklmnop", 6);
        assert_eq!(out, "abcde…");
    }

    #[test]
    fn shorten_is_char_safe() {
        let out = shorten("ééééééééé", 4);
        assert_eq!(out, "ééé…");
        assert_eq!(shorten("abc", 0), "");
    }
}
