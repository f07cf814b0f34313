//! Placeholder names: what sits between the `###` of a `###NAME###` marker in a template.

pub const MAX_PLACEHOLDER_LEN: usize = 128;

/// Checks a placeholder name. Letters, digits, `_`, `-` and `.` only: a `#` would end the
/// marker early, and whitespace or regex metacharacters have broken naive injectors before.
pub fn check_placeholder(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with("###") || name.ends_with("###") {
        return Err("must be the bare NAME, without the ### markers".into());
    }
    if name.len() > MAX_PLACEHOLDER_LEN {
        return Err(format!("must be at most {MAX_PLACEHOLDER_LEN} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("may contain only letters, digits, '_', '-' and '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_original_sample_names() {
        assert!(check_placeholder("FINAL_MILE_PROMPT__AGENT_INIT").is_ok());
        assert!(check_placeholder("a.b-c_9").is_ok());
    }

    #[test]
    fn refuses_what_a_marker_cannot_carry() {
        for bad in ["", "###X###", "A B", "A#B", "A*", "(A)", "Ä", "A\n"] {
            assert!(check_placeholder(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_placeholder(&"A".repeat(MAX_PLACEHOLDER_LEN + 1)).is_err());
    }
}
