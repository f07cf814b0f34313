//! `limit` and `cursor`, the paging parameters every newest-first list shares.

use crate::error::FieldError;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// A page of rows with ids below `before_id` (the previous page's last id), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u32,
    pub before_id: Option<i64>,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE,
            before_id: None,
        }
    }
}

impl Paging {
    /// Takes `key=value` if it is a paging parameter: `None` when it is not one, else whether
    /// its value was acceptable.
    pub fn accept(&mut self, key: &str, value: &str) -> Option<Result<(), FieldError>> {
        match key {
            "limit" => Some(match value.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => {
                    self.limit = n;
                    Ok(())
                }
                _ => Err(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_PAGE}"),
                )),
            }),
            "cursor" => Some(match parse_cursor(value) {
                Some(n) => {
                    self.before_id = Some(n);
                    Ok(())
                }
                None => Err(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            }),
            _ => None,
        }
    }
}

/// The cursor's one form, as openapi.yaml documents it (`^[1-9][0-9]{0,17}$`): a positive row
/// id in plain digits, no sign, no leading zero, small enough for any id D1 hands out.
fn parse_cursor(value: &str) -> Option<i64> {
    let plain = (1..=18).contains(&value.len())
        && !value.starts_with('0')
        && value.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| value.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters() {
        let mut page = Paging::default();
        assert_eq!(page.accept("other", "x"), None);
        assert_eq!(page.accept("limit", "3"), Some(Ok(())));
        assert_eq!(page.accept("cursor", "42"), Some(Ok(())));
        assert_eq!(
            page,
            Paging {
                limit: 3,
                before_id: Some(42)
            }
        );
        for (key, bad) in [
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "x"),
            ("cursor", "-1"),
            ("cursor", "x"),
            ("cursor", "0"),
            ("cursor", "007"),
            ("cursor", "+5"),
            ("cursor", "1234567890123456789"),
        ] {
            assert!(matches!(page.accept(key, bad), Some(Err(_))), "{key}={bad}");
        }
        assert_eq!(
            page,
            Paging {
                limit: 3,
                before_id: Some(42)
            },
            "bad values change nothing"
        );
    }
}
