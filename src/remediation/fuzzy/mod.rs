//! Fuzzy search for the file a missing path was renamed or moved to, over a repository tree.
//!
//! - [`ranked`]: the best `k` candidates of a tree for a missing path; [`decide`]: whether the
//!   best is good enough and clearly ahead ([`RenameMatch`]).
//! - [`score`]: **what** the search means, the score of one candidate (name tokens, directory
//!   components, extension, and their weights), in plain code: [`score_path`].
//! - [`prefilter`]: **how** it is fast (one path against 100,000 files in a few milliseconds):
//!   upper bounds that skip candidates which provably cannot reach the current top k.
//!
//! # The contract between the two
//!
//! [`ranked`] must return exactly the top `k` of scoring every candidate with [`score_path`]:
//! same paths, same order, same scores to the last bit. The test
//! `pruned_ranking_matches_unpruned_scoring` below checks it on random trees built to hit near
//! misses, ties, sibling extensions and odd names; `pruning_never_changes_the_ranking` on a
//! hand-picked one. The prefilter's bounds go through [`score::combine`], the one place the
//! weights meet the signals, so tuning a weight in `score.rs` needs no change in
//! `prefilter.rs`; changing how a signal is computed may, and then this test says so.
//!
//! Ties are broken by path, so the result never depends on the order of the candidates.

mod prefilter;
pub mod score;

use serde::Serialize;

use prefilter::{Query, Scorer};
pub use score::{
    score_path, DIR_VARIANT_SIM, EXT_FAMILY_FACTOR, EXT_MISMATCH_FACTOR, W_DIR, W_NAME,
};

/// Lowest score accepted as a rename. A same-extension file reaches it with an identical name
/// moved to an unrelated folder (0.7 + 0.3 * ~0.2), or a name one or two edits away in a
/// nearby folder; anything less is a different file more often than not.
pub const ACCEPT_MIN: f64 = 0.75;
/// How far the best must lead the runner-up. 0.05 is roughly one directory component or one
/// character edit of a ten-character name: less than that and the choice would be a guess.
pub const MARGIN: f64 = 0.05;
/// Candidates below this are not ranked at all. It is below `ACCEPT_MIN - MARGIN`, so every
/// runner-up that could make the best ambiguous is still seen by [`decide`].
pub const MIN_CONSIDERED: f64 = 0.6;
/// Top candidates kept by [`find_renamed`]; enough to show an operator the near misses.
pub const DEFAULT_TOP_K: usize = 5;
/// Slack for floating-point rounding, so that a lead of exactly [`MARGIN`] (0.9 against 0.85)
/// or a score of exactly [`ACCEPT_MIN`] is judged the same whatever the last bit says.
const EPSILON: f64 = 1e-9;

// What `decide` relies on, checked when the constants change.
const _: () = assert!(MIN_CONSIDERED < ACCEPT_MIN - MARGIN);
// A file of another kind never enters the ranking: skipping those is most of the speed.
const _: () = assert!(EXT_MISMATCH_FACTOR * (W_NAME + W_DIR) < MIN_CONSIDERED);

/// One ranked candidate path with its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub path: String,
    pub score: f64,
}

/// The verdict on a ranked list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RenameMatch {
    /// One candidate is good enough and clearly better than the rest.
    Unique {
        path: String,
        score: f64,
        runner_up_score: Option<f64>,
    },
    /// Good enough candidates too close to call: every candidate within [`MARGIN`] of the best.
    Ambiguous { best: Vec<(String, f64)> },
    /// Nothing scored [`ACCEPT_MIN`] or more.
    NoMatch,
}

/// Ranks `candidates` (repository file paths) against `missing` and decides in one call.
pub fn find_renamed<I, S>(missing: &str, candidates: I) -> RenameMatch
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    decide(&ranked(missing, candidates, DEFAULT_TOP_K))
}

/// The best `k` candidates (at least 2, so [`decide`] sees the runner-up) scoring at least
/// [`MIN_CONSIDERED`], best first, ties by path. The missing path itself and duplicates are
/// skipped: a file cannot be its own rename.
pub fn ranked<I, S>(missing: &str, candidates: I, k: usize) -> Vec<Candidate>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let query = Query::new(missing);
    let mut scorer = Scorer::default();
    let mut top = TopK::new(k.max(2));
    for candidate in candidates {
        let path = score::normalise(candidate.as_ref());
        if path.is_empty() || path.as_bytes().last() == Some(&b'/') {
            continue;
        }
        if query.ruled_out_by_ending(path, top.floor) {
            continue;
        }
        if let Some(score) = scorer.score(&query, path, top.floor) {
            if path != query.path() {
                top.offer(path, score);
            }
        }
    }
    top.into_sorted()
}

/// The verdict on a list from [`ranked`] (best first). The caller still has to check that a
/// `Unique` path holds the task's placeholder before using it.
pub fn decide(ranked: &[Candidate]) -> RenameMatch {
    let Some(best) = ranked.first() else {
        return RenameMatch::NoMatch;
    };
    if best.score + EPSILON < ACCEPT_MIN {
        return RenameMatch::NoMatch;
    }
    let too_close = |c: &Candidate| best.score - c.score + EPSILON < MARGIN;
    let runner_up_score = ranked.get(1).map(|c| c.score);
    match ranked.get(1) {
        Some(second) if too_close(second) => RenameMatch::Ambiguous {
            best: ranked
                .iter()
                .filter(|c| too_close(c))
                .map(|c| (c.path.clone(), c.score))
                .collect(),
        },
        _ => RenameMatch::Unique {
            path: best.path.clone(),
            score: best.score,
            runner_up_score,
        },
    }
}

/// The best k under (score desc, path asc), a total order, so ties never depend on input order.
struct TopK {
    k: usize,
    items: Vec<Candidate>,
    /// The lowest score that can still enter: the worst kept score once full (not above it,
    /// since a tie can still enter on its path); a field because it is read per candidate.
    floor: f64,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
            floor: MIN_CONSIDERED,
        }
    }

    fn offer(&mut self, path: &str, score: f64) {
        if self.items.iter().any(|c| c.path == path) {
            return;
        }
        let pos = self
            .items
            .partition_point(|c| c.score > score || (c.score == score && c.path.as_str() < path));
        if pos >= self.k {
            return;
        }
        self.items.insert(
            pos,
            Candidate {
                path: path.to_owned(),
                score,
            },
        );
        self.items.truncate(self.k);
        if self.items.len() == self.k {
            self.floor = self.items[self.k - 1].score.max(MIN_CONSIDERED);
        }
    }

    fn into_sorted(self) -> Vec<Candidate> {
        self.items
    }
}

/// Deterministic random paths, shared by the tests of this module and of [`prefilter`].
#[cfg(test)]
mod testing {
    /// xorshift64*: deterministic pseudo-random choices for the randomized tests below.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        }

        pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// A path from a small vocabulary, so that near misses, ties, sibling extensions and odd
    /// names (non-ASCII, long, many distinct letters, separators only) are common.
    pub fn random_path(rng: &mut Rng) -> String {
        const DIRS: &[&str] = &[
            "src", "lib", "Agents", "agent", "api", "app", "a_b", "tests",
        ];
        const WORDS: &[&str] = &[
            "gmail",
            "agent",
            "Agent",
            "mail",
            "email",
            "http",
            "https",
            "index",
            "quantum",
            "flux",
            "capacitor",
            "ägent",
            "x",
            "__",
            "v2",
            "formatCurrency",
        ];
        const SEPARATORS: &[&str] = &["", "_", "-", "."];
        const EXTS: &[&str] = &[
            "ts", "TS", "tsx", "js", "py", "md", "c", "h", "yaml", "", "ñ",
        ];
        let mut path = String::new();
        for _ in 0..rng.below(4) {
            path.push_str(rng.pick(DIRS));
            path.push('/');
        }
        for i in 0..1 + rng.below(3) {
            if i > 0 {
                path.push_str(rng.pick(SEPARATORS));
            }
            path.push_str(rng.pick(WORDS));
        }
        if rng.below(20) == 0 {
            path.push_str(&"abcdefghijklmnopqrstuvwxyz0123456789".repeat(4));
        }
        let ext = rng.pick(EXTS);
        if !ext.is_empty() {
            path.push('.');
            path.push_str(ext);
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::score::normalise;
    use super::testing::{random_path, Rng};
    use super::*;

    fn tree() -> Vec<&'static str> {
        vec![
            "README.md",
            "package.json",
            "src/index.ts",
            "src/agents/gmail_agent.ts",
            "src/agents/slack_agent.ts",
            "src/agents/calendar_agent.ts",
            "src/lib/http.ts",
            "src/lib/logger.ts",
            "tests/agents/slack_agent.test.ts",
            "docs/agents.md",
        ]
    }

    #[test]
    fn finds_token_swapped_name_in_new_directory() {
        let got = find_renamed("src/agent_gmail.ts", tree());
        match got {
            RenameMatch::Unique { path, .. } => assert_eq!(path, "src/agents/gmail_agent.ts"),
            other => panic!("expected unique, got {other:?}"),
        }
    }

    #[test]
    fn finds_root_file_moved_into_a_folder() {
        let candidates = ["agents/gmail_agent.ts", "agents/slack_agent.ts", "index.ts"];
        let got = find_renamed("agent_gmail.ts", candidates);
        assert!(
            matches!(&got, RenameMatch::Unique { path, .. } if path == "agents/gmail_agent.ts"),
            "{got:?}"
        );
    }

    #[test]
    fn finds_directory_move_with_same_name() {
        let candidates = [
            "packages/core/src/utils/format_date.py",
            "packages/core/src/utils/parse.py",
            "packages/web/src/app.py",
        ];
        let got = find_renamed("src/utils/format_date.py", candidates);
        assert!(
            matches!(&got, RenameMatch::Unique { path, .. } if path == "packages/core/src/utils/format_date.py"),
            "{got:?}"
        );
    }

    #[test]
    fn finds_camel_case_rename_and_plural_folder() {
        let candidates = ["src/agents/gmailAgent.ts", "src/agents/outlookAgent.ts"];
        let got = find_renamed("src/agent/gmail_agent.ts", candidates);
        assert!(
            matches!(&got, RenameMatch::Unique { path, .. } if path == "src/agents/gmailAgent.ts"),
            "{got:?}"
        );
    }

    #[test]
    fn two_equally_good_candidates_are_ambiguous() {
        let candidates = ["api/v1/handler.rs", "api/v2/handler.rs", "api/mod.rs"];
        let got = find_renamed("api/handler.rs", candidates);
        match got {
            RenameMatch::Ambiguous { best } => {
                let paths: Vec<_> = best.iter().map(|(p, _)| p.as_str()).collect();
                assert_eq!(paths, ["api/v1/handler.rs", "api/v2/handler.rs"]);
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
    }

    #[test]
    fn nothing_close_is_no_match() {
        let got = find_renamed("src/billing/invoice_renderer.ts", tree());
        assert_eq!(got, RenameMatch::NoMatch);
        assert_eq!(
            find_renamed("x.ts", Vec::<String>::new()),
            RenameMatch::NoMatch
        );
    }

    #[test]
    fn extension_mismatch_is_penalised() {
        let same = score_path("src/lib/http.ts", "src/lib/https.ts");
        let family = score_path("src/lib/http.ts", "src/lib/https.js");
        let other = score_path("src/lib/http.ts", "src/lib/http.py");
        assert!(family < same, "{family} < {same}");
        assert!(other < family, "{other} < {family}");
        assert!(other < MIN_CONSIDERED);
        // An identical name and folder with another extension is never accepted.
        let got = find_renamed("src/lib/http.ts", ["src/lib/http.py"]);
        assert_eq!(got, RenameMatch::NoMatch);
        // A sibling extension can be, when nothing else competes.
        let got = find_renamed("src/lib/http.ts", ["src/lib/http.py", "src/lib/http.js"]);
        assert!(
            matches!(&got, RenameMatch::Unique { path, .. } if path == "src/lib/http.js"),
            "{got:?}"
        );
        // Between equal names, the same extension wins clearly.
        let got = find_renamed("src/lib/http.ts", ["lib/http.js", "lib/http.ts"]);
        assert!(
            matches!(&got, RenameMatch::Unique { path, .. } if path == "lib/http.ts"),
            "{got:?}"
        );
    }

    #[test]
    fn result_does_not_depend_on_input_order() {
        let mut paths = tree();
        paths.extend(["src/agents/gmail_agents.ts", "lib/agents/gmail_agent.ts"]);
        let forward = ranked("src/agent_gmail.ts", &paths, 3);
        paths.reverse();
        let backward = ranked("src/agent_gmail.ts", &paths, 3);
        paths.sort_by_key(|p| p.len());
        let by_len = ranked("src/agent_gmail.ts", &paths, 3);
        assert_eq!(forward, backward);
        assert_eq!(forward, by_len);
        assert_eq!(forward.len(), 3);
    }

    #[test]
    fn ties_are_broken_by_path() {
        let got = ranked("a/x.rs", ["c/x.rs", "b/x.rs"], 1);
        let paths: Vec<_> = got.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["b/x.rs", "c/x.rs"], "k is raised to 2");
    }

    #[test]
    fn exact_ties_at_the_cutoff_do_not_depend_on_candidate_order() {
        // All three score the same; the bounds once rounded differently from the score and
        // dropped whichever tied candidate came after the top k had filled.
        let files = ["src/app/https.js", "src/app/httpx.js", "src/app/httpa.js"];
        let mut orders = vec![files.to_vec()];
        orders.push(vec![files[2], files[0], files[1]]);
        orders.push(vec![files[1], files[2], files[0]]);
        let results: Vec<Vec<String>> = orders
            .iter()
            .map(|order| {
                ranked("src/app/http.ts", order.iter().copied(), 2)
                    .into_iter()
                    .map(|c| c.path)
                    .collect()
            })
            .collect();
        assert_eq!(results[0], ["src/app/httpa.js", "src/app/https.js"]);
        assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    }

    #[test]
    fn skips_the_missing_path_itself_and_duplicates() {
        let got = ranked("./src/a.ts", ["src/a.ts", "/src/b/a.ts", "src/b/a.ts"], 5);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, "src/b/a.ts");
    }

    #[test]
    fn unique_reports_runner_up() {
        let got = find_renamed("src/agent_gmail.ts", tree());
        let RenameMatch::Unique {
            score,
            runner_up_score,
            ..
        } = got
        else {
            panic!("expected unique");
        };
        assert!(score >= ACCEPT_MIN);
        if let Some(second) = runner_up_score {
            assert!(score - second >= MARGIN);
        }
    }

    #[test]
    fn pruning_never_changes_the_ranking() {
        let paths = [
            "src/agents/gmail_agent.ts",
            "src/agents/gmail_agent.tsx",
            "src/agent/gmail.ts",
            "src/agents/mail_agent.ts",
            "src/gmail_agent.js",
            "lib/gmail/agent.ts",
            "src/agents/gmail_agent.py",
            "src/agents/gmail_agent.js",
            "gmail_agent.ts",
            "src/agents/.gmail_agent.ts",
            "src/Agents/GmailAgent.ts",
            "src/agents/gmail_agent_v2.ts",
            "src/agents/ägent_gmäil.ts",
            "src/a.ts",
            "docs/gmail.md",
        ];
        let mut brute: Vec<Candidate> = paths
            .iter()
            .map(|p| Candidate {
                path: (*p).to_owned(),
                score: score_path("src/agent_gmail.ts", p),
            })
            .filter(|c| c.score >= MIN_CONSIDERED)
            .collect();
        brute.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)));
        assert!(brute.len() >= 5, "{brute:?}");
        for k in 2..=paths.len() {
            let mut expected = brute.clone();
            expected.truncate(k);
            assert_eq!(ranked("src/agent_gmail.ts", paths, k), expected, "k = {k}");
        }
    }

    /// The top `k` by [`score_path`] of every candidate, as [`ranked`] defines it.
    fn unpruned(missing: &str, candidates: &[String], k: usize) -> Vec<Candidate> {
        let query = normalise(missing);
        let mut all: Vec<Candidate> = Vec::new();
        for c in candidates {
            let path = normalise(c);
            if path.is_empty() || path.ends_with('/') || path == query {
                continue;
            }
            if all.iter().any(|a| a.path == path) {
                continue;
            }
            let score = score_path(missing, path);
            if score >= MIN_CONSIDERED {
                all.push(Candidate {
                    path: path.to_owned(),
                    score,
                });
            }
        }
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)));
        all.truncate(k.max(2));
        all
    }

    #[test]
    fn pruned_ranking_matches_unpruned_scoring() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let mut candidates: Vec<String> = (0..60).map(|_| random_path(&mut rng)).collect();
            let missing = random_path(&mut rng);
            if round % 2 == 0 {
                candidates.sort();
            }
            for k in [2, 5] {
                assert_eq!(
                    ranked(&missing, &candidates, k),
                    unpruned(&missing, &candidates, k),
                    "{missing} among {candidates:?}, k = {k}"
                );
            }
        }
    }
}
