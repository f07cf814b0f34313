//! Repository-relative file paths: normalised, and never able to leave the checkout.

pub const MAX_PATH_BYTES: usize = 512;
const MAX_SEGMENT_BYTES: usize = 255;

/// Normalises `raw` to `dir/sub/file.ext` or says why it is not a safe relative path.
///
/// `./` and empty segments are dropped; `..`, absolute paths (`/x`, `C:/x`, `~/x`),
/// backslashes and control characters are refused rather than repaired, because a factory
/// writes to this path and a guess could write somewhere else.
pub fn normalise_file_path(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if raw.contains('\\') {
        return Err("must use '/' as separator, not '\\'".into());
    }
    if raw.starts_with('/') {
        return Err("must be relative to the repository root, not absolute".into());
    }
    if raw.starts_with('~') {
        return Err("must be relative to the repository root, not start with '~'".into());
    }
    let mut segments = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return Err("must not contain '..'".into()),
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(format!(
                    "has a segment longer than {MAX_SEGMENT_BYTES} bytes"
                ))
            }
            s => segments.push(s),
        }
    }
    if let Some(first) = segments.first() {
        let b = first.as_bytes();
        if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
            return Err("must be relative to the repository root, not a drive path".into());
        }
    }
    if raw.ends_with('/') {
        return Err("must name a file, not a directory".into());
    }
    if segments.is_empty() {
        return Err("must name a file".into());
    }
    Ok(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_harmless_variations() {
        assert_eq!(
            normalise_file_path("worker/agents/agent_gmail.ts").unwrap(),
            "worker/agents/agent_gmail.ts"
        );
        assert_eq!(normalise_file_path("./a//b/./c.py").unwrap(), "a/b/c.py");
        assert_eq!(normalise_file_path("README.md").unwrap(), "README.md");
        assert_eq!(
            normalise_file_path("dir/..name.ts").unwrap(),
            "dir/..name.ts"
        );
    }

    #[test]
    fn refuses_paths_that_could_leave_the_checkout() {
        for bad in [
            "",
            "   ",
            "/etc/passwd",
            "../secrets",
            "a/../../b",
            "a/..",
            "C:/Windows/x",
            "c:x",
            "~/x",
            "a\\b",
            "a/b/",
            ".",
            "./",
            "a\0b",
            "a\nb",
        ] {
            assert!(normalise_file_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bounds_lengths() {
        assert!(normalise_file_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
        assert!(normalise_file_path(&format!("d/{}", "a".repeat(256))).is_err());
        assert!(normalise_file_path(&format!("d/{}", "a".repeat(255))).is_ok());
    }
}
