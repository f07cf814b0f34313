//! Per-task help from Cloudflare's documentation (`POST /api/task/:uuid/help`): everything but
//! the handler, the D1 cache and the logging, which live with the other handlers and the store.
//!
//! The flow a handler runs:
//!
//! 1. [`cache_key`] of (task, question, error); a fresh cached answer ends the request.
//! 2. [`query::build_queries`] turns the instruction (markers stripped), question and error into
//!    up to three focused queries.
//! 3. [`crate::upstream::docs::DocsClient::search_all`] runs them concurrently against the docs
//!    MCP server, each under a deadline; [`crate::upstream::docs::mcp`] parses either answer
//!    format (the contract: `docs/upstreams/docs-mcp.md`).
//! 4. [`merge::merge_hits`] dedupes by URL, ranks across queries and trims to a size budget.
//! 5. [`answer`] words the guidance: a model synthesis that cites the sources when a model is
//!    configured ([`crate::upstream::model::ChatModel`]), else the best excerpt; a clear degraded
//!    answer when every query failed.
//!
//! No `worker::Env` here: the handler passes the URL, timeouts and model in.

pub mod answer;
pub mod compose;
pub mod merge;
pub mod query;
pub mod request;

/// Bumped whenever the answer's shape or wording changes, so old cache rows stop matching.
const CACHE_KEY_VERSION: &str = "help-v1";

/// The cache key of a help request: the task's uuid as given (ids are case-sensitive), the
/// question and the error normalised (trimmed, lowercased, whitespace collapsed) so trivially
/// different phrasings of the same question share an answer. A missing and an empty field are
/// the same key.
pub fn cache_key(uuid: &str, question: Option<&str>, error: Option<&str>) -> String {
    let normalise =
        |s: Option<&str>| crate::domain::text::collapse_whitespace(&s.unwrap_or("").to_lowercase());
    // A separator nobody types keeps ("a b", none) and ("a", "b") apart.
    let material = format!(
        "{}\u{1f}{}\u{1f}{}",
        uuid.trim(),
        normalise(question),
        normalise(error)
    );
    format!(
        "{CACHE_KEY_VERSION}-{:016x}",
        crate::domain::hash::fnv1a_64(material.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_normalises_question_and_error() {
        let a = cache_key("T1", Some("  How do I   BIND D1?\n"), Some("TypeError: x"));
        let b = cache_key(" T1 ", Some("how do i bind d1?"), Some("typeerror:   x"));
        assert_eq!(a, b);
        assert!(a.starts_with("help-v1-"));
        assert_eq!(a.len(), "help-v1-".len() + 16);
    }

    #[test]
    fn cache_key_missing_equals_empty() {
        assert_eq!(
            cache_key("T1", None, None),
            cache_key("T1", Some("  "), Some(""))
        );
    }

    #[test]
    fn cache_key_distinguishes_fields_tasks_and_case_of_uuid() {
        let base = cache_key("T1", Some("a b"), None);
        assert_ne!(base, cache_key("T1", Some("a"), Some("b")));
        assert_ne!(base, cache_key("T1", None, Some("a b")));
        assert_ne!(base, cache_key("T2", Some("a b"), None));
        assert_ne!(cache_key("abc", None, None), cache_key("ABC", None, None));
    }
}
