//! Turning a help request into a few focused documentation search queries.
//!
//! One query per signal (the question, the error, the task's instruction) rather than one
//! concatenation: the docs search is a vector search over chunks, and a query that mixes an error
//! message with a paragraph of instruction matches neither well.

use crate::domain::text::{collapse_whitespace, shorten};

/// The most queries one help request sends; each costs an embedding and a vector search upstream.
pub const MAX_QUERIES: usize = 3;
/// The longest query sent; longer text dilutes the embedding without adding recall.
pub const MAX_QUERY_CHARS: usize = 200;

/// Builds up to [`MAX_QUERIES`] distinct, non-empty queries, most specific first: the question,
/// the error's message, then the instruction without its comment markers.
///
/// Returns an empty list only when there is nothing searchable at all (e.g. an instruction made
/// only of markers and no question or error).
pub fn build_queries(
    instruction: &str,
    question: Option<&str>,
    error: Option<&str>,
) -> Vec<String> {
    let candidates = [
        question.map(collapse_whitespace),
        error.map(error_message),
        Some(strip_comment_markers(instruction)),
    ];
    let mut queries: Vec<String> = Vec::with_capacity(MAX_QUERIES);
    for candidate in candidates.into_iter().flatten() {
        if !candidate.chars().any(char::is_alphanumeric) {
            continue;
        }
        let query = shorten(&candidate, MAX_QUERY_CHARS);
        if queries.iter().any(|q| q.eq_ignore_ascii_case(&query)) {
            continue;
        }
        queries.push(query);
        if queries.len() == MAX_QUERIES {
            break;
        }
    }
    queries
}

/// The instruction as prose: placeholders (`###NAME###`) removed, and the comment syntax it was
/// written in (`/* */`, `//`, `#`, `--`, `<!-- -->`, ` * ` continuation lines) stripped, on one
/// line. Markers are only recognised at the edges of lines and words, so URLs, paths and
/// `snake_case` survive.
pub fn strip_comment_markers(instruction: &str) -> String {
    let text = remove_placeholders(instruction);
    let mut words: Vec<&str> = Vec::new();
    for line in text.lines() {
        for token in strip_line_leader(line).split_whitespace() {
            let word = strip_token_markers(token);
            if !word.is_empty() {
                words.push(word);
            }
        }
    }
    words.join(" ")
}

/// The message of an error without its stack frames: the message names the problem, the frames
/// name only our files. That is the first two meaningful lines, except for a Python traceback,
/// which puts its message last.
fn error_message(error: &str) -> String {
    let lines: Vec<&str> = error
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.first().is_some_and(|l| l.starts_with("Traceback")) {
        return lines
            .last()
            .map(|l| collapse_whitespace(l))
            .unwrap_or_default();
    }
    let message: Vec<&str> = lines
        .into_iter()
        .filter(|l| !l.starts_with("at "))
        .take(2)
        .collect();
    collapse_whitespace(&message.join(" "))
}

fn remove_placeholders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("###") {
        let after = &rest[start + 3..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with("###") {
            out.push_str(&rest[..start]);
            out.push(' ');
            rest = &after[name_len + 3..];
        } else {
            // Not a placeholder: keep one '#' and look again from the next one.
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Strips the comment leaders a line can start with, repeatedly (`// # Title`, ` * // x`).
fn strip_line_leader(line: &str) -> &str {
    const LEADERS: [&str; 8] = ["<!--", "/**", "/*", "///", "//!", "//", "*/", "-->"];
    let mut line = line.trim();
    loop {
        let before = line;
        if let Some(rest) = LEADERS.iter().find_map(|l| line.strip_prefix(l)) {
            line = rest.trim_start();
        }
        // `#` as a heading or shell comment only when it stands alone: `#include` and `#123` stay.
        let hashes = line.len() - line.trim_start_matches('#').len();
        if hashes > 0
            && line[hashes..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
        {
            line = line[hashes..].trim_start();
        }
        for leader in ["*", "--"] {
            if let Some(rest) = line.strip_prefix(leader) {
                if rest.chars().next().is_none_or(char::is_whitespace) {
                    line = rest.trim_start();
                }
            }
        }
        if line == before {
            return line;
        }
    }
}

/// Strips markers glued to a word (`/*Initialize`, `idempotent.*/`, `-->`).
fn strip_token_markers(token: &str) -> &str {
    let mut word = token;
    for prefix in ["<!--", "/*"] {
        if let Some(rest) = word.strip_prefix(prefix) {
            word = rest.trim_start_matches('*');
        }
    }
    for suffix in ["-->", "*/"] {
        if let Some(rest) = word.strip_suffix(suffix) {
            word = rest.trim_end_matches('*');
        }
    }
    if word.chars().all(|c| matches!(c, '#' | '*')) || word == "//" {
        return "";
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_block_comment_of_seed_instruction() {
        let instruction = "/* Implement core logic: fetch D1 record, process inputs, stream results via WebSocket. Avoid direct external network calls. */";
        assert_eq!(
            strip_comment_markers(instruction),
            "Implement core logic: fetch D1 record, process inputs, stream results via WebSocket. Avoid direct external network calls."
        );
    }

    #[test]
    fn strips_glued_and_doc_block_markers() {
        let instruction = "/**\n * Bind the KV namespace.\n * Keep it idempotent.\n **/";
        assert_eq!(
            strip_comment_markers(instruction),
            "Bind the KV namespace. Keep it idempotent."
        );
        assert_eq!(strip_comment_markers("/*Init state*/"), "Init state");
    }

    #[test]
    fn strips_line_comments_html_and_hash() {
        assert_eq!(strip_comment_markers("// use D1 batch"), "use D1 batch");
        assert_eq!(strip_comment_markers("/// doc line"), "doc line");
        assert_eq!(
            strip_comment_markers("# Configure wrangler"),
            "Configure wrangler"
        );
        assert_eq!(
            strip_comment_markers("## Heading\n-- SQL note"),
            "Heading SQL note"
        );
        assert_eq!(
            strip_comment_markers("<!-- Render the page with Workers Assets -->"),
            "Render the page with Workers Assets"
        );
    }

    #[test]
    fn removes_placeholders() {
        assert_eq!(
            strip_comment_markers(
                "/* TASK_ID:abc */\n###FINAL_MILE_PROMPT__AGENT_INIT###\nValidate env vars"
            ),
            "TASK_ID:abc Validate env vars"
        );
        assert_eq!(strip_comment_markers("###PLACEHOLDER###"), "");
    }

    #[test]
    fn keeps_urls_paths_and_hashtags() {
        assert_eq!(
            strip_comment_markers(
                "See https://developers.cloudflare.com/d1/ and src/*.rs, #include, C# ### x"
            ),
            "See https://developers.cloudflare.com/d1/ and src/*.rs, #include, C# x"
        );
    }

    #[test]
    fn queries_in_order_question_error_instruction() {
        let queries = build_queries(
            "/* Fetch the D1 record */",
            Some("  How do I   connect D1? "),
            Some("TypeError: fetchD1Record is not a function\n    at handler (src/index.ts:10:5)\n    at run"),
        );
        assert_eq!(
            queries,
            vec![
                "How do I connect D1?".to_string(),
                "TypeError: fetchD1Record is not a function".to_string(),
                "Fetch the D1 record".to_string(),
            ]
        );
    }

    #[test]
    fn queries_are_deduplicated_case_insensitively() {
        let queries = build_queries("// Bind KV", Some("bind kv"), None);
        assert_eq!(queries, vec!["bind kv".to_string()]);
    }

    #[test]
    fn queries_never_empty_and_bounded() {
        let long = "word ".repeat(200);
        let queries = build_queries("###ONLY_A_PLACEHOLDER###", Some("  ?? "), Some(&long));
        assert_eq!(queries.len(), 1);
        assert!(queries[0].chars().count() <= MAX_QUERY_CHARS);
        assert!(queries.iter().all(|q| !q.trim().is_empty()));
    }

    #[test]
    fn nothing_searchable_gives_no_queries() {
        assert!(build_queries("/* */ ###X###", None, Some("  \n ")).is_empty());
    }

    #[test]
    fn error_keeps_two_meaningful_lines() {
        assert_eq!(
            error_message("Error: D1_ERROR\nno such table: tasks\nat foo"),
            "Error: D1_ERROR no such table: tasks"
        );
        assert_eq!(
            error_message(
                "Traceback (most recent call last):\n  File \"x.py\", line 3\n    t = tasks[k]\nKeyError: 'uuid'\n"
            ),
            "KeyError: 'uuid'"
        );
    }
}
