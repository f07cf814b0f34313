//! Checks a model's patch before anything is committed: the target placeholder inserted once,
//! every other placeholder kept, and no existing line changed or removed.
//!
//! Lines compare after normalising line endings (CRLF and LF alike), a final newline, and a
//! leading byte-order mark, because models rewrite all three freely and none of them changes
//! what a factory finds in the file. [`conform_to_original`] puts the original's conventions
//! back before the patch is committed, so the pull request shows only the inserted lines.

use serde::Serialize;
use std::fmt;

use crate::domain::text::clip_chars;

/// How much of a rejected line a [`PatchRejection`] keeps: enough to recognise it in a log.
const MAX_QUOTED_CHARS: usize = 200;
/// Preamble or trailing prose lines tolerated around a fenced answer ("Here is the file:").
const MAX_PROSE_LINES: usize = 3;
const BOM: char = '\u{feff}';

/// Why a patch was refused; each variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum PatchRejection {
    /// The answer held nothing but whitespace.
    Empty,
    /// The target placeholder is not in the patched file.
    MissingTarget,
    /// The target placeholder appears this many times; exactly once is allowed.
    DuplicateTarget(usize),
    /// Another task's placeholder (its name) appears fewer times than in the original.
    DroppedPlaceholder(String),
    /// The original's line `line_no` (1-based) is missing from the patch, changed or removed.
    ChangedLine { line_no: usize, original: String },
    /// The patch is the original: nothing to commit.
    Unchanged,
}

impl PatchRejection {
    /// A stable machine-readable code for logs and follow-up records.
    pub fn code(&self) -> &'static str {
        match self {
            PatchRejection::Empty => "empty",
            PatchRejection::MissingTarget => "missing_target",
            PatchRejection::DuplicateTarget(_) => "duplicate_target",
            PatchRejection::DroppedPlaceholder(_) => "dropped_placeholder",
            PatchRejection::ChangedLine { .. } => "changed_line",
            PatchRejection::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for PatchRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchRejection::Empty => write!(f, "the patched file is empty"),
            PatchRejection::MissingTarget => {
                write!(f, "the patched file does not contain the placeholder")
            }
            PatchRejection::DuplicateTarget(n) => write!(
                f,
                "the patched file contains the placeholder {n} times; exactly once is allowed"
            ),
            PatchRejection::DroppedPlaceholder(name) => write!(
                f,
                "the patch removes placeholder {} of another task",
                placeholder_marker(name)
            ),
            PatchRejection::ChangedLine { line_no, original } => write!(
                f,
                "line {line_no} of the original was changed or removed: {original:?}"
            ),
            PatchRejection::Unchanged => write!(f, "the patch changes nothing"),
        }
    }
}

impl std::error::Error for PatchRejection {}

/// The marker a factory looks for: `###NAME###`. A name already wrapped is returned as is.
pub fn placeholder_marker(name: &str) -> String {
    if name.len() > 6 && name.starts_with("###") && name.ends_with("###") {
        name.to_owned()
    } else {
        format!("###{name}###")
    }
}

/// Literal, non-overlapping occurrences of `marker` in `text`; 0 for an empty marker.
pub fn count_occurrences(text: &str, marker: &str) -> usize {
    if marker.is_empty() {
        0
    } else {
        text.matches(marker).count()
    }
}

/// Accepts `patched` only as `original` plus inserted lines, holding the `placeholder`'s
/// marker exactly once and every marker of `other_placeholders` (names, as in D1) at least as
/// often as the original did. Placeholder checks come first: their reasons say more.
pub fn verify_patch(
    original: &str,
    patched: &str,
    placeholder: &str,
    other_placeholders: &[&str],
) -> Result<(), PatchRejection> {
    if patched
        .trim_matches(|c: char| c.is_whitespace() || c == BOM)
        .is_empty()
    {
        return Err(PatchRejection::Empty);
    }
    let target = placeholder_marker(placeholder);
    match count_occurrences(patched, &target) {
        0 => return Err(PatchRejection::MissingTarget),
        1 => {}
        n => return Err(PatchRejection::DuplicateTarget(n)),
    }
    check_other_placeholders(original, patched, &target, other_placeholders)?;
    check_only_insertions(original, patched)
}

fn check_other_placeholders(
    original: &str,
    patched: &str,
    target: &str,
    others: &[&str],
) -> Result<(), PatchRejection> {
    for name in others {
        let marker = placeholder_marker(name);
        if marker == target {
            continue;
        }
        if count_occurrences(patched, &marker) < count_occurrences(original, &marker) {
            return Err(PatchRejection::DroppedPlaceholder((*name).to_owned()));
        }
    }
    Ok(())
}

/// The original's lines must be a subsequence of the patch's, in order. Matching each original
/// line at its earliest possible place is optimal for a subsequence test, so the first line
/// that cannot be matched is the one that was changed or removed.
fn check_only_insertions(original: &str, patched: &str) -> Result<(), PatchRejection> {
    let mut patched_lines = normalised_lines(patched);
    let mut inserted = false;
    for (index, line) in normalised_lines(original).enumerate() {
        loop {
            match patched_lines.next() {
                Some(candidate) if candidate == line => break,
                Some(_) => inserted = true,
                None => {
                    return Err(PatchRejection::ChangedLine {
                        line_no: index + 1,
                        original: quote(line),
                    })
                }
            }
        }
    }
    if inserted || patched_lines.next().is_some() {
        Ok(())
    } else {
        Err(PatchRejection::Unchanged)
    }
}

/// Lines without their `\n` or `\r\n`, a leading byte-order mark, or a final empty line.
fn normalised_lines(text: &str) -> impl Iterator<Item = &str> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    // An empty text has no lines, not one empty line.
    let lines = (!text.is_empty()).then(|| text.split('\n'));
    lines
        .into_iter()
        .flatten()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
}

fn quote(line: &str) -> String {
    let clipped = clip_chars(line, MAX_QUOTED_CHARS);
    if clipped.len() < line.len() {
        format!("{clipped}…")
    } else {
        line.to_owned()
    }
}

/// `patched` rewritten with the original's line endings (CRLF when the original's first line
/// ends so), final newline and byte-order mark, so the commit differs only by inserted lines.
pub fn conform_to_original(original: &str, patched: &str) -> String {
    let crlf = original
        .find('\n')
        .is_some_and(|i| original[..i].ends_with('\r'));
    let ending = if crlf { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(patched.len() + patched.len() / 16);
    if original.starts_with(BOM) {
        out.push(BOM);
    }
    for (i, line) in normalised_lines(patched).enumerate() {
        if i > 0 {
            out.push_str(ending);
        }
        out.push_str(line);
    }
    if original.ends_with('\n') {
        out.push_str(ending);
    }
    out
}

/// The file inside a model's answer: the content of a fenced block (```` ```lang ```` or
/// `~~~`) when the answer is one, allowing a line or two of prose around it; otherwise the
/// answer unchanged. A file that merely contains fences further down is left alone, and a
/// wrong cut still fails [`verify_patch`], so this can only refuse a patch, never corrupt one.
pub fn strip_code_fences(model_output: &str) -> &str {
    let lines = line_spans(model_output);
    let Some(open) = opening_fence(model_output, &lines) else {
        return model_output;
    };
    let (open_at, fence_char, fence_len) = open;
    let Some(close_at) = closing_fence(model_output, &lines, open_at, fence_char, fence_len) else {
        return model_output;
    };
    &model_output[lines[open_at].1..lines[close_at].0]
}

/// `(start, end_including_newline)` of each line.
fn line_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        spans.push((start, start + piece.len()));
        start += piece.len();
    }
    spans
}

/// The first fence line, if no more than [`MAX_PROSE_LINES`] non-blank lines precede it.
fn opening_fence(text: &str, lines: &[(usize, usize)]) -> Option<(usize, char, usize)> {
    let mut prose = 0;
    for (i, &(start, end)) in lines.iter().enumerate() {
        let line = text[start..end].trim();
        if let Some((ch, len)) = fence_of(line) {
            return Some((i, ch, len));
        }
        if !line.is_empty() {
            prose += 1;
            if prose > MAX_PROSE_LINES {
                return None;
            }
        }
    }
    None
}

/// The last bare fence line closing `fence_char` x `fence_len`, after the opening one, with
/// no more than [`MAX_PROSE_LINES`] non-blank lines after it.
fn closing_fence(
    text: &str,
    lines: &[(usize, usize)],
    open_at: usize,
    fence_char: char,
    fence_len: usize,
) -> Option<usize> {
    let mut prose = 0;
    for i in (open_at + 1..lines.len()).rev() {
        let line = text[lines[i].0..lines[i].1].trim();
        let closes = line.len() >= fence_len && line.chars().all(|c| c == fence_char);
        if closes {
            return Some(i);
        }
        if !line.is_empty() {
            prose += 1;
            if prose > MAX_PROSE_LINES {
                return None;
            }
        }
    }
    None
}

/// A fence line: three or more backticks or tildes, then an optional info string.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let ch = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = line.chars().take_while(|c| *c == ch).count();
    let info = &line[len..];
    (len >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "import x from 'x';\n\
                            // ###OTHER###\n\
                            export function a() {}\n\
                            \n\
                            export function b() {}\n";

    fn verify(patched: &str) -> Result<(), PatchRejection> {
        verify_patch(ORIGINAL, patched, "TARGET", &["OTHER", "TARGET"])
    }

    #[test]
    fn markers_and_counts() {
        assert_eq!(placeholder_marker("API_KEY"), "###API_KEY###");
        assert_eq!(placeholder_marker("###API_KEY###"), "###API_KEY###");
        assert_eq!(count_occurrences("###A### ###A######A###", "###A###"), 3);
        assert_eq!(count_occurrences("aaaa", "aa"), 2, "non-overlapping");
        assert_eq!(count_occurrences("abc", ""), 0);
    }

    #[test]
    fn accepts_a_pure_insertion() {
        let patched = ORIGINAL.replace("export function b", "// ###TARGET###\nexport function b");
        assert_eq!(verify(&patched), Ok(()));
        let at_end = format!("{ORIGINAL}// ###TARGET###\n");
        assert_eq!(verify(&at_end), Ok(()));
    }

    #[test]
    fn rejects_a_dropped_other_placeholder() {
        let patched = ORIGINAL.replace("// ###OTHER###\n", "// ###TARGET###\n");
        assert_eq!(
            verify(&patched),
            Err(PatchRejection::DroppedPlaceholder("OTHER".into()))
        );
    }

    #[test]
    fn rejects_an_edited_line() {
        let patched = ORIGINAL.replace("function a()", "function a(y)") + "// ###TARGET###\n";
        assert_eq!(
            verify(&patched),
            Err(PatchRejection::ChangedLine {
                line_no: 3,
                original: "export function a() {}".into()
            })
        );
        // Putting the marker on an existing line also changes that line.
        let inline = ORIGINAL.replace("function b() {}", "function b() {} // ###TARGET###");
        assert!(matches!(
            verify(&inline),
            Err(PatchRejection::ChangedLine { line_no: 5, .. })
        ));
    }

    #[test]
    fn rejects_a_removed_line() {
        let patched = ORIGINAL.replace(
            "\n\nexport function b",
            "\n// ###TARGET###\nexport function b",
        );
        assert!(matches!(
            verify(&patched),
            Err(PatchRejection::ChangedLine { line_no: 4, .. })
        ));
        let truncated = "import x from 'x';\n// ###OTHER###\n// ###TARGET###\n";
        assert!(matches!(
            verify(truncated),
            Err(PatchRejection::ChangedLine { line_no: 3, .. })
        ));
    }

    #[test]
    fn rejects_duplicate_missing_empty_and_unchanged() {
        let twice = format!("// ###TARGET###\n{ORIGINAL}// ###TARGET###\n");
        assert_eq!(verify(&twice), Err(PatchRejection::DuplicateTarget(2)));
        assert_eq!(verify(ORIGINAL), Err(PatchRejection::MissingTarget));
        assert_eq!(verify(" \n\t\n"), Err(PatchRejection::Empty));
        let original = "a\n// ###TARGET###\n";
        assert_eq!(
            verify_patch(original, original, "TARGET", &[]),
            Err(PatchRejection::Unchanged)
        );
    }

    #[test]
    fn crlf_and_final_newline_are_not_changes() {
        let crlf = ORIGINAL.replace('\n', "\r\n");
        let patched = format!("{ORIGINAL}// ###TARGET###");
        assert_eq!(verify_patch(&crlf, &patched, "TARGET", &["OTHER"]), Ok(()));
        let patched_crlf = format!("{crlf}// ###TARGET###\r\n");
        assert_eq!(verify(&patched_crlf), Ok(()));
        let with_bom = format!("\u{feff}{patched}");
        assert_eq!(verify(&with_bom), Ok(()));
    }

    #[test]
    fn conform_restores_the_original_conventions() {
        let crlf = "\u{feff}a\r\nb\r\n";
        assert_eq!(
            conform_to_original(crlf, "a\nX\nb"),
            "\u{feff}a\r\nX\r\nb\r\n"
        );
        assert_eq!(conform_to_original("a\nb", "a\r\nX\r\nb\r\n"), "a\nX\nb");
    }

    #[test]
    fn rejection_messages_are_readable() {
        let dropped = PatchRejection::DroppedPlaceholder("OTHER".into());
        assert_eq!(
            dropped.to_string(),
            "the patch removes placeholder ###OTHER### of another task"
        );
        assert_eq!(dropped.code(), "dropped_placeholder");
        let long = PatchRejection::ChangedLine {
            line_no: 1,
            original: quote(&"x".repeat(500)),
        };
        assert!(long.to_string().chars().count() < 300);
        let json = serde_json::to_value(PatchRejection::DuplicateTarget(3)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"reason": "duplicate_target", "detail": 3})
        );
    }

    #[test]
    fn strips_fences_around_an_answer() {
        assert_eq!(
            strip_code_fences("```ts\nconst a = 1;\n```\n"),
            "const a = 1;\n"
        );
        assert_eq!(strip_code_fences("```\nx\n```"), "x\n");
        assert_eq!(strip_code_fences("~~~python\nx\n~~~"), "x\n");
        let prose = "Here is the updated file:\n\n```typescript\nx\ny\n```\nDone.";
        assert_eq!(strip_code_fences(prose), "x\ny\n");
        // A markdown file with its own fences is kept whole by the outer, longer fence.
        let md = "````markdown\n# T\n```sh\nls\n```\n````\n";
        assert_eq!(strip_code_fences(md), "# T\n```sh\nls\n```\n");
    }

    #[test]
    fn leaves_unfenced_answers_alone() {
        assert_eq!(strip_code_fences("const a = 1;\n"), "const a = 1;\n");
        let file = "# Title\n\nIntro.\n\nMore.\n\nEven more.\n\n```sh\nls\n```\n";
        assert_eq!(strip_code_fences(file), file);
        assert_eq!(
            strip_code_fences("```ts\nunterminated\n"),
            "```ts\nunterminated\n"
        );
        assert_eq!(strip_code_fences(""), "");
    }
}
