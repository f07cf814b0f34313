//! Benchmark of the rename search: one missing path against a synthetic 100,000-file tree.
//!
//! The Workers free plan allows 10 ms of CPU per request, so one search must stay well under
//! that natively. Run with `cargo bench --bench fuzzy_match`; std only, no harness.

use mission_control::remediation::fuzzy::{decide, ranked, RenameMatch, DEFAULT_TOP_K};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const TREE_SIZE: usize = 100_000;
/// Runs per case; `FUZZY_MATCH_ITERATIONS` overrides it (e.g. 1 under a profiler).
const ITERATIONS: usize = 50;
const TARGET_MS: f64 = 10.0;

/// Files planted in the tree: the true destinations of the renames searched for below.
const PLANTED: &[&str] = &[
    "src/integrations/agents/gmail_agent.ts",
    "apps/web/src/lib/format_currency.tsx",
    "services/billing/internal/invoice/renderer_pdf.go",
];

/// (missing path, what the case exercises)
const CASES: &[(&str, &str)] = &[
    ("src/agents/agent_gmail.ts", "token swap and directory move"),
    ("apps/web/src/utils/formatCurrency.tsx", "camelCase rename"),
    (
        "services/billing/invoice/pdf_renderer.go",
        "deeper directory",
    ),
    ("src/components/index.ts", "very common name"),
    ("tools/quantum_flux_capacitor.rs", "nothing close"),
];

const TOP: &[&str] = &[
    "src", "lib", "apps", "packages", "services", "tests", "docs", "scripts", "config", "tools",
];
const WORDS: &[&str] = &[
    "agent",
    "agents",
    "api",
    "auth",
    "billing",
    "cache",
    "calendar",
    "client",
    "common",
    "components",
    "config",
    "core",
    "data",
    "db",
    "email",
    "events",
    "feature",
    "format",
    "gateway",
    "handlers",
    "helpers",
    "http",
    "internal",
    "invoice",
    "jobs",
    "lib",
    "logger",
    "mail",
    "models",
    "notify",
    "orders",
    "parser",
    "payments",
    "queue",
    "render",
    "routes",
    "schema",
    "search",
    "server",
    "session",
    "shared",
    "slack",
    "store",
    "sync",
    "tasks",
    "ui",
    "user",
    "utils",
    "views",
    "web",
    "worker",
    "admin",
    "analytics",
    "report",
    "storage",
    "metrics",
    "profile",
    "settings",
    "team",
    "upload",
];
const EXTS: &[(&str, u32)] = &[
    ("ts", 28),
    ("tsx", 12),
    ("js", 8),
    ("py", 10),
    ("rs", 6),
    ("go", 6),
    ("md", 6),
    ("json", 6),
    ("yml", 4),
    ("css", 4),
    ("html", 2),
    ("sql", 2),
    ("sh", 2),
    ("test.ts", 4),
];
const COMMON_NAMES: &[&str] = &[
    "index", "mod", "README", "main", "types", "utils", "__init__",
];

/// xorshift64*: deterministic, so every run scans the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn random_dir(rng: &mut Rng) -> String {
    let mut dir = rng.pick(TOP).to_owned();
    for _ in 0..1 + rng.below(5) {
        dir.push('/');
        dir.push_str(rng.pick(WORDS));
    }
    dir
}

fn random_stem(rng: &mut Rng) -> String {
    if rng.below(10) == 0 {
        return rng.pick(COMMON_NAMES).to_owned();
    }
    let words: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(WORDS)).collect();
    match rng.below(3) {
        0 => words.join("_"),
        1 => words.join("-"),
        _ => words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == 0 {
                    (*w).to_owned()
                } else {
                    w[..1].to_uppercase() + &w[1..]
                }
            })
            .collect(),
    }
}

fn random_ext(rng: &mut Rng) -> &'static str {
    let total: u32 = EXTS.iter().map(|e| e.1).sum();
    let mut roll = (rng.next() % u64::from(total)) as u32;
    for &(ext, weight) in EXTS {
        if roll < weight {
            return ext;
        }
        roll -= weight;
    }
    "ts"
}

/// A sorted tree of `size` distinct files (as GitHub lists it), planted files included.
/// Directories are drawn from a pool so that, as in real repositories, folders hold many files.
fn build_tree(size: usize) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let dirs: Vec<String> = (0..size / 12).map(|_| random_dir(&mut rng)).collect();
    let mut tree: BTreeSet<String> = PLANTED.iter().map(|p| (*p).to_owned()).collect();
    while tree.len() < size {
        let dir = &dirs[rng.below(dirs.len())];
        let path = format!("{dir}/{}.{}", random_stem(&mut rng), random_ext(&mut rng));
        tree.insert(path);
    }
    // Copied in sorted order so the strings lie in memory in the order they are scanned, as
    // they do when the Worker parses GitHub's (sorted) tree listing; the BTreeSet's own
    // strings lie in insertion order and would make the bench measure cache misses instead.
    tree.iter().cloned().collect()
}

fn iterations() -> usize {
    std::env::var("FUZZY_MATCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(ITERATIONS)
}

fn run_case(tree: &[&str], missing: &str, iterations: usize) -> (Vec<Duration>, RenameMatch) {
    let mut times = Vec::with_capacity(iterations);
    let mut verdict = RenameMatch::NoMatch;
    for _ in 0..iterations {
        let start = Instant::now();
        let list = ranked(missing, tree.iter(), DEFAULT_TOP_K);
        verdict = decide(&list);
        times.push(start.elapsed());
        std::hint::black_box(&verdict);
    }
    times.sort();
    (times, verdict)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn describe(verdict: &RenameMatch) -> String {
    match verdict {
        RenameMatch::Unique {
            path,
            score,
            runner_up_score,
        } => format!("unique {path} ({score:.3}, runner-up {runner_up_score:.3?})"),
        RenameMatch::Ambiguous { best } => format!("ambiguous between {} candidates", best.len()),
        RenameMatch::NoMatch => "no match".to_owned(),
    }
}

fn main() {
    let started = Instant::now();
    let owned = build_tree(TREE_SIZE);
    let tree: Vec<&str> = owned.iter().map(String::as_str).collect();
    let iterations = iterations();
    println!(
        "tree: {} files generated in {:.0} ms; {iterations} iterations per case",
        tree.len(),
        ms(started.elapsed())
    );
    let mut all = Vec::new();
    for &(missing, what) in CASES {
        let (times, verdict) = run_case(&tree, missing, iterations);
        println!(
            "  {missing} ({what}): min {:.2} / p50 {:.2} / max {:.2} ms -> {}",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
            describe(&verdict)
        );
        all.extend(times);
    }
    all.sort();
    let p50 = ms(all[all.len() / 2]);
    let max = ms(all[all.len() - 1]);
    println!(
        "fuzzy_match {} files: p50 {p50:.2} ms, max {max:.2} ms (target < {TARGET_MS} ms)",
        tree.len()
    );
}
