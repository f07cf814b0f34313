//! Merging the hits of several docs queries into one ranked, deduplicated, size-bounded list of
//! [`Source`]s.
//!
//! Ranking is reciprocal-rank fusion plus the best similarity: a page found by several queries is
//! more likely what the agent needs than one query's top hit, and similarity breaks ties between
//! pages found once. RRF needs no calibration between queries, whose similarity scales differ.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::text::shorten;

use crate::upstream::docs::mcp::DocHit;

/// RRF's damping constant. The usual 60 flattens ranks over result lists of hundreds; the docs
/// server returns 10, where rank 1 and rank 10 should differ by about half.
const RRF_K: f64 = 10.0;

/// Below this many characters of budget left, another excerpt would be a fragment: stop instead.
const MIN_EXCERPT_CHARS: usize = 80;

/// One cited documentation page in a help answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub title: String,
    pub url: String,
    pub excerpt: String,
}

/// How much documentation one answer carries; the answer goes to an agent's context window and,
/// when a model is configured, into a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_sources: usize,
    pub max_excerpt_chars: usize,
    pub max_total_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_sources: 5,
            max_excerpt_chars: 700,
            max_total_chars: 2500,
        }
    }
}

/// The identity of a page: scheme and host lowercased, fragment and trailing slash dropped, so
/// `…/d1/`, `…/d1` and `…/d1/#bind` are one page.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split('#').next().unwrap_or(url);
    let url = url.trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase(),
                path
            )
        }
        None => url.to_string(),
    }
}

struct Candidate<'a> {
    best: &'a DocHit,
    fused: f64,
    first_seen: usize,
}

/// Merges per-query hit lists (each in the server's rank order) into at most
/// `budget.max_sources` sources, best first, within the character budget.
pub fn merge_hits(per_query: &[Vec<DocHit>], budget: &Budget) -> Vec<Source> {
    let mut by_page: HashMap<String, Candidate<'_>> = HashMap::new();
    let mut seen = 0;
    for hits in per_query {
        let mut counted_in_this_query: Vec<String> = Vec::new();
        for (rank, hit) in hits.iter().enumerate() {
            let key = normalize_url(&hit.url);
            if key.is_empty() {
                continue;
            }
            let entry = by_page.entry(key.clone()).or_insert_with(|| {
                seen += 1;
                Candidate {
                    best: hit,
                    fused: 0.0,
                    first_seen: seen,
                }
            });
            if hit.score > entry.best.score {
                entry.best = hit;
            }
            // A page's second chunk in the same query is not a second vote.
            if !counted_in_this_query.contains(&key) {
                entry.fused += (RRF_K + 1.0) / (RRF_K + rank as f64 + 1.0);
                counted_in_this_query.push(key);
            }
        }
    }

    let mut ranked: Vec<Candidate<'_>> = by_page.into_values().collect();
    crate::sort::sort_by(&mut ranked, |a, b| {
        let score = |c: &Candidate<'_>| c.fused + finite_or_zero(c.best.score);
        score(b)
            .partial_cmp(&score(a))
            .unwrap_or(Ordering::Equal)
            .then(a.first_seen.cmp(&b.first_seen))
    });

    let mut sources = Vec::new();
    let mut remaining = budget.max_total_chars;
    for candidate in ranked.into_iter().take(budget.max_sources) {
        if remaining < MIN_EXCERPT_CHARS.min(budget.max_excerpt_chars) {
            break;
        }
        let excerpt = shorten(
            &clean_excerpt(&candidate.best.text),
            budget.max_excerpt_chars.min(remaining),
        );
        remaining -= excerpt.chars().count();
        sources.push(Source {
            title: title_or_from_url(&candidate.best.title, &candidate.best.url),
            url: candidate.best.url.trim().to_string(),
            excerpt,
        });
    }
    sources
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// A chunk as readable text: a leading YAML front matter block dropped, trailing spaces and runs
/// of blank lines removed. Line breaks stay: chunks hold code samples.
pub fn clean_excerpt(text: &str) -> String {
    let text = strip_front_matter(text.trim());
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

fn strip_front_matter(text: &str) -> &str {
    let Some(body) = text.strip_prefix("---\n") else {
        return text;
    };
    match body.find("\n---") {
        Some(end) => {
            let after = &body[end + "\n---".len()..];
            after.split_once('\n').map_or("", |(_, rest)| rest)
        }
        None => text,
    }
}

/// The server's title, or the last path segment of the URL when it sent none.
fn title_or_from_url(title: &str, url: &str) -> String {
    let title = title.trim();
    if !title.is_empty() {
        return title.to_string();
    }
    let key = normalize_url(url);
    let path = match key.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => key.as_str(),
    };
    let segment = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("Cloudflare documentation");
    segment.replace(['-', '_'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(url: &str, text: &str, score: f64) -> DocHit {
        DocHit {
            url: url.into(),
            title: "T".into(),
            text: text.into(),
            score,
        }
    }

    const D1: &str = "https://developers.cloudflare.com/d1/";

    #[test]
    fn normalizes_trailing_slash_fragment_and_host_case() {
        assert_eq!(
            normalize_url("HTTPS://Developers.Cloudflare.com/d1/Guide/#bind"),
            "https://developers.cloudflare.com/d1/Guide"
        );
        assert_eq!(
            normalize_url(D1),
            normalize_url("https://developers.cloudflare.com/d1")
        );
        assert_eq!(normalize_url("  "), "");
    }

    #[test]
    fn dedupes_by_url_across_and_within_queries() {
        let per_query = vec![
            vec![
                hit(D1, "first chunk", 0.8),
                hit("https://developers.cloudflare.com/d1", "second chunk", 0.9),
            ],
            vec![hit("https://developers.cloudflare.com/d1/#x", "other", 0.7)],
        ];
        let sources = merge_hits(&per_query, &Budget::default());
        assert_eq!(sources.len(), 1);
        assert_eq!(
            sources[0].excerpt, "second chunk",
            "best-scoring chunk wins"
        );
        assert_eq!(sources[0].url, "https://developers.cloudflare.com/d1");
    }

    #[test]
    fn page_found_by_several_queries_ranks_first() {
        let kv = "https://developers.cloudflare.com/kv/";
        let r2 = "https://developers.cloudflare.com/r2/";
        let per_query = vec![
            vec![hit(kv, "kv", 0.95), hit(D1, "d1", 0.7)],
            vec![hit(r2, "r2", 0.9), hit(D1, "d1", 0.7)],
        ];
        let urls: Vec<String> = merge_hits(&per_query, &Budget::default())
            .into_iter()
            .map(|s| s.url)
            .collect();
        assert_eq!(urls, vec![D1, kv, r2]);
    }

    #[test]
    fn ties_keep_first_seen_order() {
        let per_query = vec![
            vec![hit("https://a/", "a", 0.5)],
            vec![hit("https://b/", "b", 0.5)],
        ];
        let urls: Vec<String> = merge_hits(&per_query, &Budget::default())
            .into_iter()
            .map(|s| s.url)
            .collect();
        assert_eq!(urls, vec!["https://a/", "https://b/"]);
    }

    #[test]
    fn trims_each_excerpt_and_the_total() {
        let long = "word ".repeat(400);
        let per_query = vec![(0..6)
            .map(|i| hit(&format!("https://x/{i}"), &long, 1.0 - i as f64 / 10.0))
            .collect()];
        let budget = Budget {
            max_sources: 10,
            max_excerpt_chars: 300,
            max_total_chars: 700,
        };
        let sources = merge_hits(&per_query, &budget);
        let sizes: Vec<usize> = sources.iter().map(|s| s.excerpt.chars().count()).collect();
        assert!(sizes.iter().all(|&n| n <= 300), "{sizes:?}");
        assert!(sizes.iter().sum::<usize>() <= 700, "{sizes:?}");
        assert_eq!(
            sources.len(),
            3,
            "300 + 300 + the last 100 (>= 80) fit; {sizes:?}"
        );
    }

    #[test]
    fn caps_source_count() {
        let per_query = vec![(0..8)
            .map(|i| hit(&format!("https://x/{i}"), "t", 0.5))
            .collect()];
        assert_eq!(merge_hits(&per_query, &Budget::default()).len(), 5);
    }

    #[test]
    fn empty_input_gives_no_sources() {
        assert!(merge_hits(&[], &Budget::default()).is_empty());
        assert!(merge_hits(&[vec![], vec![]], &Budget::default()).is_empty());
    }

    #[test]
    fn clean_excerpt_drops_front_matter_and_blank_runs() {
        let text = "---\ntitle: D1\npcx_content_type: concept\n---\n\n# D1  \n\n\n\nUse `bind()`.\n  code\n";
        assert_eq!(clean_excerpt(text), "# D1\n\nUse `bind()`.\n  code");
        assert_eq!(
            clean_excerpt("--- not front matter"),
            "--- not front matter"
        );
    }

    #[test]
    fn missing_title_comes_from_url() {
        let mut h = hit(
            "https://developers.cloudflare.com/workers/wrangler/",
            "x",
            0.5,
        );
        h.title = " ".into();
        let sources = merge_hits(&[vec![h]], &Budget::default());
        assert_eq!(sources[0].title, "wrangler");
        assert_eq!(
            title_or_from_url("", "https://developers.cloudflare.com"),
            "Cloudflare documentation"
        );
        assert_eq!(
            title_or_from_url("", "https://x/durable-objects/"),
            "durable objects"
        );
    }
}
