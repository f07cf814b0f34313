//! The `x-d1-bookmark` header: a D1 Sessions API bookmark a client got from an earlier answer
//! and sends back to read its own writes.
//!
//! D1 bookmarks are opaque, but every one D1 hands out is hex groups joined by `-` (for example
//! `0000003c-00000002-00004f1e-6f2c...`). We accept a slightly wider shape (ASCII letters,
//! digits, `-`, at most 256 characters) so a format change on Cloudflare's side does not turn
//! every client's request into an error, and refuse the rest with a 400 before it reaches D1:
//! anything else is a client bug, and the two constraint words (`first-primary`,
//! `first-unconstrained`) would silently change what kind of session the route opens.

use crate::error::ApiError;

pub const HEADER: &str = "x-d1-bookmark";
const MAX_LEN: usize = 256;
const CONSTRAINTS: [&str; 2] = ["first-primary", "first-unconstrained"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark(String);

impl Bookmark {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The header's bookmark, if any. An empty header is no bookmark: Cloudflare's own example
/// answers `getBookmark() ?? ""`, so clients echo empty values.
pub fn parse_bookmark(header: Option<&str>) -> Result<Option<Bookmark>, ApiError> {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let invalid = |why: &str| ApiError::InvalidBookmark(why.to_owned());
    if value.len() > MAX_LEN {
        return Err(invalid("is longer than 256 characters"));
    }
    if CONSTRAINTS.iter().any(|c| value.eq_ignore_ascii_case(c)) {
        return Err(invalid(
            "is a session constraint, not a bookmark; send a bookmark from an earlier answer",
        ));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid("may hold only ASCII letters, digits and '-'"));
    }
    Ok(Some(Bookmark(value.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_empty_is_no_bookmark() {
        assert_eq!(parse_bookmark(None), Ok(None));
        assert_eq!(parse_bookmark(Some("")), Ok(None));
        assert_eq!(parse_bookmark(Some("  ")), Ok(None));
    }

    #[test]
    fn accepts_what_d1_hands_out() {
        let real = "0000003c-00000002-00004f1e-6f2c2f1a3b9c4d5e6f708192a3b4c5d6";
        assert_eq!(parse_bookmark(Some(real)).unwrap().unwrap().as_str(), real);
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            "not a bookmark",
            "abc/def",
            "first-primary",
            "First-Unconstrained",
            "é",
            &"a".repeat(257),
        ] {
            let err = parse_bookmark(Some(bad)).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
            assert_eq!(err.code(), "invalid_bookmark");
        }
    }
}
