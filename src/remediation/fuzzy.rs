//! Fuzzy search for the file a missing path was renamed or moved to, over a repository tree.
//!
//! A candidate's score in `[0, 1]` weighs three signals of the path:
//!
//! - **file name** (weight [`W_NAME`]): the stem is split into lowercase tokens at separators
//!   and camelCase boundaries, and compared with normalised Levenshtein both in original token
//!   order and with tokens sorted, keeping the better; so `agent_gmail` matches `gmailAgent`.
//! - **directories** (weight [`W_DIR`]): a soft Jaccard index of the directory components, the
//!   repository root counting as a shared component, components matching when equal ignoring
//!   case, or partly when variants of one word (`agent` ~ `agents`, `user_svc` ~ `user-svc`).
//! - **extension**: the weighted name and directory score is multiplied by 1 for the same
//!   extension, [`EXT_FAMILY_FACTOR`] for a sibling (`ts`/`tsx`, `yml`/`yaml`) and
//!   [`EXT_MISMATCH_FACTOR`] otherwise, which puts files of another kind below
//!   [`MIN_CONSIDERED`]: the extension is the pre-filter.
//!
//! Speed (one path against 100,000 files in a few milliseconds): each candidate passes cheap
//! upper bounds before any Levenshtein runs. The extension is read from the last few bytes;
//! one backward pass over the stem finds the directory and counts characters for a
//! bag-distance bound on the name; directory scores are cached for runs of files in the same
//! directory; nothing is allocated per candidate except for the few that enter the top k.
//! The bounds only skip candidates that provably cannot reach the current top k, and ties are
//! broken by path, so the result never depends on the order of the candidates.

use serde::Serialize;

/// Weight of the file-name similarity; the name is the strongest evidence of a rename.
pub const W_NAME: f64 = 0.7;
/// Weight of the directory similarity; moves between folders are common, so it weighs less.
pub const W_DIR: f64 = 0.3;
/// Factor for a sibling extension (`js` -> `ts`): plausible in a migration, but less likely.
pub const EXT_FAMILY_FACTOR: f64 = 0.9;
/// Factor for an unrelated extension: caps the score at 0.5, below [`MIN_CONSIDERED`]. A file
/// of another kind is never where a task's placeholder went (`x.ts` does not become `x.py`),
/// and skipping those files after reading a few bytes is most of the speed.
pub const EXT_MISMATCH_FACTOR: f64 = 0.5;
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
/// How much a folder-name variant (`agent`/`agents`) counts towards the shared directories.
pub const DIR_VARIANT_SIM: f64 = 0.8;
/// Slack for floating-point rounding, so that a lead of exactly [`MARGIN`] (0.9 against 0.85)
/// or a score of exactly [`ACCEPT_MIN`] is judged the same whatever the last bit says.
const EPSILON: f64 = 1e-9;

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
        let path = normalise(candidate.as_ref());
        if path.is_empty() || path.as_bytes().last() == Some(&b'/') || path == query.path {
            continue;
        }
        if let Some(score) = scorer.score(&query, path, top.floor) {
            top.offer(path, score);
        }
    }
    top.into_sorted()
}

/// The score of one candidate for `missing`, unpruned: for logs and tests.
pub fn score_path(missing: &str, candidate: &str) -> f64 {
    let query = Query::new(missing);
    Scorer::default()
        .score(&query, normalise(candidate), f64::NEG_INFINITY)
        .unwrap_or(0.0)
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

/// Drops a leading `./` or `/`, so tree paths and factory paths compare alike.
/// Byte tests rather than `strip_prefix`: this runs once per candidate.
fn normalise(path: &str) -> &str {
    let bytes = path.as_bytes();
    if !matches!(bytes.first(), Some(b'.' | b'/')) {
        return path;
    }
    let mut start = 0;
    if bytes.len() >= 2 && bytes[0] == b'.' && bytes[1] == b'/' {
        start = 2;
    }
    while bytes.get(start) == Some(&b'/') {
        start += 1;
    }
    &path[start..]
}

/// Marks an extension that does not pack into a `u64` (long or not ASCII): compared as text.
const UNPACKED: u64 = u64::MAX;

/// The index of the dot before the extension, and the extension lowercase packed into an
/// integer (up to 8 ASCII bytes) so that comparing it costs one instruction. Read from the end,
/// so only the extension is touched. A leading dot belongs to the stem (`.env` has none).
fn ext_tail(bytes: &[u8]) -> (Option<usize>, u64) {
    // Plain loops: this runs once per candidate, and iterator adapters with closures are not
    // reliably inlined under the size-optimised release profile.
    let mut start = bytes.len();
    while start > 0 && bytes[start - 1] != b'.' && bytes[start - 1] != b'/' {
        start -= 1;
    }
    if start < 2 || bytes[start - 1] == b'/' || bytes[start - 2] == b'/' {
        return (None, 0);
    }
    let ext = &bytes[start..];
    if ext.len() > 8 {
        return (Some(start - 1), UNPACKED);
    }
    let mut packed = 0u64;
    for &b in ext {
        if !b.is_ascii() {
            return (Some(start - 1), UNPACKED);
        }
        packed = packed << 8 | u64::from(b.to_ascii_lowercase());
    }
    (Some(start - 1), packed)
}

/// Splits `dir/stem.ext` (each part may be empty).
fn split_path(path: &str) -> (&str, &str, &str) {
    let bytes = path.as_bytes();
    let (dot, _) = ext_tail(bytes);
    let stem_end = dot.unwrap_or(bytes.len());
    let ext = dot.map_or("", |d| &path[d + 1..]);
    match bytes[..stem_end].iter().rposition(|&b| b == b'/') {
        Some(slash) => (&path[..slash], &path[slash + 1..stem_end], ext),
        None => ("", &path[..stem_end], ext),
    }
}

/// Extensions that the same kind of source can move between.
const EXT_FAMILIES: &[&[&str]] = &[
    &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"],
    &["yml", "yaml"],
    &["md", "markdown", "mdx"],
    &["htm", "html"],
    &["jpg", "jpeg"],
    &["py", "pyi"],
    &["c", "h", "cc", "cpp", "cxx", "hpp", "hh"],
];

/// The query's extension with its family, prepared once.
struct ExtMatcher<'a> {
    ext: &'a str,
    packed: u64,
    /// The other members of the query extension's family, as text and packed.
    family: Vec<&'static str>,
    family_packed: Vec<u64>,
    /// Distances from the end at which a same-family extension has its dot (`.ts`: 3).
    dot_offsets: Vec<usize>,
}

impl<'a> ExtMatcher<'a> {
    fn new(ext: &'a str) -> Self {
        let pack = |e: &str| {
            let dotted = format!("x.{e}");
            ext_tail(dotted.as_bytes()).1
        };
        let family: Vec<&'static str> = EXT_FAMILIES
            .iter()
            .find(|f| f.iter().any(|x| x.eq_ignore_ascii_case(ext)))
            .map(|f| {
                f.iter()
                    .copied()
                    .filter(|x| !x.eq_ignore_ascii_case(ext))
                    .collect()
            })
            .unwrap_or_default();
        let mut dot_offsets: Vec<usize> = family.iter().map(|x| x.len() + 1).collect();
        dot_offsets.push(ext.len() + 1);
        dot_offsets.sort_unstable();
        dot_offsets.dedup();
        ExtMatcher {
            ext,
            packed: pack(ext),
            family_packed: family.iter().map(|x| pack(x)).collect(),
            family,
            dot_offsets,
        }
    }

    /// False when the path provably has neither the query's extension nor a sibling: no dot
    /// where one would be. A few byte tests, where [`ext_tail`] would scan the extension.
    fn may_match(&self, bytes: &[u8]) -> bool {
        if self.ext.is_empty() {
            return true;
        }
        self.dot_offsets
            .iter()
            .any(|&n| n < bytes.len() && bytes[bytes.len() - n] == b'.')
    }

    /// The factor for a candidate extension, given as text and as packed by [`ext_tail`].
    fn factor(&self, ext: &str, packed: u64) -> f64 {
        let (same, sibling) = if packed != UNPACKED && self.packed != UNPACKED {
            (packed == self.packed, self.family_packed.contains(&packed))
        } else {
            (
                self.ext.eq_ignore_ascii_case(ext),
                self.family.iter().any(|x| x.eq_ignore_ascii_case(ext)),
            )
        };
        if same {
            1.0
        } else if sibling {
            EXT_FAMILY_FACTOR
        } else {
            EXT_MISMATCH_FACTOR
        }
    }
}

/// Byte classes for the stem scan: the low 6 bits hold a bin of the query's characters or one
/// of the bins below, which the query never has; [`UPPER`] flags `A`-`Z`.
const SLASH: u8 = 60;
/// ASCII bytes other than alphanumerics.
const SEPARATOR: u8 = 61;
/// Bytes of non-ASCII characters.
const NON_ASCII: u8 = 62;
/// Alphanumerics the query stem lacks.
const OTHER_ALNUM: u8 = 63;
const UPPER: u8 = 0x40;
const BINS: usize = 64;

/// The query stem's character counts, for a bag-distance bound on the name similarity.
///
/// Only ASCII alphanumerics count, folded to lowercase, and separators are left out, so the
/// bag is the same for both name forms. The bag distance of two strings (the larger one-sided
/// difference of their character counts) is a lower bound of their Levenshtein distance, and
/// a stem's name form is at most its length plus its uppercase letters (one `_` per camelCase
/// boundary), which bounds the divisor.
struct NameProfile {
    class: [u8; 256],
    counts: [u32; BINS],
    /// Bins in use: `0..bins`.
    bins: usize,
    alnum: u32,
    form_len: u32,
}

/// What one backward pass over a candidate stem found.
struct StemScan {
    start: usize,
    /// `(common characters, alphanumerics, upper bound of the name form's length)`, or
    /// `None` when the stem is not ASCII (lowercasing can change lengths: no sound bound).
    counts: Option<(u32, u32, u32)>,
}

impl NameProfile {
    /// `None` for a stem that is not ASCII.
    fn new(stem: &str, name_form: &str) -> Option<Self> {
        if !stem.is_ascii() {
            return None;
        }
        let mut class = [SEPARATOR; 256];
        class[0x80..].fill(NON_ASCII);
        class[usize::from(b'/')] = SLASH;
        for b in (b'a'..=b'z').chain(b'0'..=b'9') {
            class[usize::from(b)] = OTHER_ALNUM;
        }
        for b in b'A'..=b'Z' {
            class[usize::from(b)] = UPPER | OTHER_ALNUM;
        }
        let mut counts = [0u32; BINS];
        let mut bins = 0;
        let mut alnum = 0;
        for b in stem.bytes().filter(u8::is_ascii_alphanumeric) {
            let lower = b.to_ascii_lowercase();
            if class[usize::from(lower)] == OTHER_ALNUM {
                class[usize::from(lower)] = bins as u8;
                if lower.is_ascii_lowercase() {
                    class[usize::from(lower.to_ascii_uppercase())] = UPPER | bins as u8;
                }
                bins += 1;
            }
            counts[usize::from(class[usize::from(lower)])] += 1;
            alnum += 1;
        }
        Some(NameProfile {
            class,
            counts,
            bins,
            alnum,
            form_len: name_form.len() as u32,
        })
    }

    /// Scans `bytes[..end]` backwards up to the last `/`, counting the stem's characters.
    /// Branch-free per byte (every byte lands in some bin; the query has none in the marker
    /// bins, so they never count as common): data-dependent branches here cost more than
    /// the arithmetic, at 100,000 stems per search.
    fn scan(&self, bytes: &[u8], end: usize, counts: &mut [u32; BINS]) -> StemScan {
        counts[..self.bins].fill(0);
        counts[usize::from(SEPARATOR)..].fill(0);
        let (mut common, mut upper, mut len) = (0u32, 0u32, 0usize);
        for &b in bytes[..end].iter().rev() {
            let class = self.class[usize::from(b)];
            let bin = usize::from(class & 0x3F);
            if bin == usize::from(SLASH) {
                break;
            }
            len += 1;
            upper += u32::from(class >> 6);
            common += u32::from(counts[bin] < self.counts[bin]);
            counts[bin] += 1;
        }
        let ascii = counts[usize::from(NON_ASCII)] == 0;
        let alnum = len as u32 - counts[usize::from(SEPARATOR)];
        StemScan {
            start: end - len,
            counts: ascii.then_some((common, alnum, len as u32 + upper)),
        }
    }

    /// An upper bound of the name similarity from a scan; 1 when no bound is sound.
    fn upper_bound(&self, scan: &StemScan) -> f64 {
        let Some((common, alnum, form_bound)) = scan.counts else {
            return 1.0;
        };
        let distance = (self.alnum - common).max(alnum - common);
        1.0 - f64::from(distance) / f64::from(self.form_len.max(form_bound).max(1))
    }
}

/// The missing path, prepared once.
struct Query<'a> {
    path: &'a str,
    ext: ExtMatcher<'a>,
    /// Directory components, lowercase.
    dirs: Vec<String>,
    /// Name tokens joined by `_` in their order, and sorted.
    name: String,
    name_sorted: String,
    profile: Option<NameProfile>,
}

impl<'a> Query<'a> {
    fn new(missing: &'a str) -> Self {
        let path = normalise(missing);
        let (dir, stem, ext) = split_path(path);
        let mut name = String::new();
        let mut name_sorted = String::new();
        name_forms(stem, &mut Vec::new(), &mut name, &mut name_sorted);
        Query {
            path,
            ext: ExtMatcher::new(ext),
            dirs: dir
                .split('/')
                .filter(|c| !c.is_empty())
                .map(str::to_lowercase)
                .collect(),
            profile: NameProfile::new(stem, &name),
            name,
            name_sorted,
        }
    }
}

/// Per-scan scratch space, reused so scoring allocates nothing per candidate.
struct Scorer {
    cached_dir: String,
    cached_dir_sim: f64,
    cache_valid: bool,
    counts: [u32; BINS],
    tokens: Vec<(usize, usize)>,
    name: String,
    name_sorted: String,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer {
            cached_dir: String::new(),
            cached_dir_sim: 0.0,
            cache_valid: false,
            counts: [0; BINS],
            tokens: Vec::new(),
            name: String::new(),
            name_sorted: String::new(),
        }
    }
}

impl Scorer {
    /// The candidate's score, or `None` when it provably cannot reach `floor`. Cheapest first:
    /// the extension, then the directory, then the character counts of the name.
    fn score(&mut self, q: &Query, path: &str, floor: f64) -> Option<f64> {
        let bytes = path.as_bytes();
        if EXT_MISMATCH_FACTOR * (W_NAME + W_DIR) < floor && !q.ext.may_match(bytes) {
            return None;
        }
        let (dot, packed) = ext_tail(bytes);
        let ext_f = q.ext.factor(dot.map_or("", |d| &path[d + 1..]), packed);
        if ext_f * (W_NAME + W_DIR) < floor {
            return None;
        }
        let stem_end = dot.unwrap_or(bytes.len());
        let (stem_start, name_bound) = match &q.profile {
            Some(profile) => {
                let scan = profile.scan(bytes, stem_end, &mut self.counts);
                (scan.start, profile.upper_bound(&scan))
            }
            None => {
                let slash = bytes[..stem_end].iter().rposition(|&b| b == b'/');
                (slash.map_or(0, |s| s + 1), 1.0)
            }
        };
        if ext_f * (W_NAME * name_bound + W_DIR) < floor {
            return None;
        }
        let dir = path.get(..stem_start.saturating_sub(1)).unwrap_or("");
        let without_name = ext_f * W_DIR * self.dir_sim(q, dir);
        if without_name + ext_f * W_NAME * name_bound < floor {
            return None;
        }
        let score = without_name + ext_f * W_NAME * self.name_sim(q, &path[stem_start..stem_end]);
        (score >= floor).then_some(score)
    }

    /// Directory similarity, cached while consecutive candidates share a directory (as in a
    /// sorted tree). The cache changes only the speed, never the value.
    fn dir_sim(&mut self, q: &Query, dir: &str) -> f64 {
        if !(self.cache_valid && self.cached_dir == dir) {
            self.cached_dir_sim = soft_jaccard(&q.dirs, dir);
            self.cached_dir.clear();
            self.cached_dir.push_str(dir);
            self.cache_valid = true;
        }
        self.cached_dir_sim
    }

    fn name_sim(&mut self, q: &Query, stem: &str) -> f64 {
        name_forms(
            stem,
            &mut self.tokens,
            &mut self.name,
            &mut self.name_sorted,
        );
        let in_order = strsim::normalized_levenshtein(&q.name, &self.name);
        if in_order >= 1.0 {
            return in_order;
        }
        in_order.max(strsim::normalized_levenshtein(
            &q.name_sorted,
            &self.name_sorted,
        ))
    }
}

/// Soft Jaccard of directory components, with the root as one shared component so that a
/// root file and `agents/x` score 1/2 rather than 0. Each query component takes its best
/// unused match, in order, which keeps the value deterministic.
fn soft_jaccard(query: &[String], dir: &str) -> f64 {
    let mut used: u64 = 0;
    let mut matched = 1.0; // the root
    let mut count = 1usize;
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        count += 1;
        let mut best = (0.0, usize::MAX);
        for (j, qc) in query.iter().enumerate().take(64) {
            if used & (1 << j) != 0 {
                continue;
            }
            let sim = component_sim(qc, comp);
            if sim > best.0 {
                best = (sim, j);
                if sim >= 1.0 {
                    break;
                }
            }
        }
        if best.1 != usize::MAX {
            matched += best.0;
            used |= 1 << best.1;
        }
    }
    let union = (query.len() + 1) as f64 + count as f64 - matched;
    matched / union
}

/// 1 for the same folder name ignoring ASCII case, [`DIR_VARIANT_SIM`] for a variant of it
/// (`agent`/`agents`, `user_service`/`user-service`), else 0. Rules rather than an edit
/// distance: short folder names one edit apart are usually different folders (`api`/`app`),
/// and this runs for every distinct directory of the tree.
fn component_sim(query_lower: &str, comp: &str) -> f64 {
    if query_lower.eq_ignore_ascii_case(comp) {
        1.0
    } else if same_word(query_lower.as_bytes(), comp.as_bytes()) {
        DIR_VARIANT_SIM
    } else {
        0.0
    }
}

/// Equal ignoring ASCII case, the separators `-`, `_`, `.` and one trailing `s`.
fn same_word(a: &[u8], b: &[u8]) -> bool {
    // Most pairs differ in their first letter; the full comparison below is slow to reach.
    let first = |w: &[u8]| {
        w.iter()
            .find(|c| !matches!(c, b'-' | b'_' | b'.'))
            .map(u8::to_ascii_lowercase)
    };
    if first(a) != first(b) {
        return false;
    }
    let strip_plural = |w: &[u8]| match w {
        [rest @ .., b's' | b'S'] if !rest.is_empty() => rest.len(),
        _ => w.len(),
    };
    let is_sep = |c: &&u8| matches!(**c, b'-' | b'_' | b'.');
    let a = a[..strip_plural(a)].iter().filter(|c| !is_sep(c));
    let b = b[..strip_plural(b)].iter().filter(|c| !is_sep(c));
    a.map(u8::to_ascii_lowercase)
        .eq(b.map(u8::to_ascii_lowercase))
}

/// Writes the stem's tokens joined by `_` into `name` and, sorted, into `sorted`.
/// Tokens break at every non-alphanumeric character and at a lower-to-upper case change.
fn name_forms(
    stem: &str,
    tokens: &mut Vec<(usize, usize)>,
    name: &mut String,
    sorted: &mut String,
) {
    name.clear();
    sorted.clear();
    tokens.clear();
    let mut prev_lower = false;
    for ch in stem.chars() {
        if !ch.is_alphanumeric() {
            prev_lower = false;
            if !name.is_empty() && !name.ends_with('_') {
                name.push('_');
            }
            continue;
        }
        if prev_lower && ch.is_uppercase() && !name.ends_with('_') {
            name.push('_');
        }
        prev_lower = ch.is_lowercase() || ch.is_numeric();
        name.extend(ch.to_lowercase());
    }
    if name.ends_with('_') {
        name.pop();
    }
    let mut start = 0;
    for (i, _) in name.match_indices('_') {
        tokens.push((start, i));
        start = i + 1;
    }
    tokens.push((start, name.len()));
    tokens.sort_by(|a, b| name[a.0..a.1].cmp(&name[b.0..b.1]));
    for (n, &(s, e)) in tokens.iter().enumerate() {
        if n > 0 {
            sorted.push('_');
        }
        sorted.push_str(&name[s..e]);
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

#[cfg(test)]
mod tests {
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
    fn name_bound_never_underestimates() {
        let q = Query::new("src/agent_gmail.ts");
        let mut s = Scorer::default();
        let profile = q.profile.as_ref().expect("ASCII stem");
        for stem in [
            "gmail_agent",
            "gmailAgent",
            "agent",
            "x",
            "ägent_gmäil",
            "a-b-c",
            "GMAIL__agent__",
            "_Gmail-AGENT_v2",
            "",
            "zzzz",
        ] {
            let path = format!("dir/{stem}.ts");
            let end = path.len() - 3;
            let scan = profile.scan(path.as_bytes(), end, &mut s.counts);
            assert_eq!(&path[scan.start..end], stem);
            let bound = profile.upper_bound(&scan);
            let sim = s.name_sim(&q, stem);
            assert!(bound + 1e-12 >= sim, "{stem}: bound {bound} < sim {sim}");
            if let Some((_, _, form_bound)) = scan.counts {
                assert!(form_bound as usize >= s.name.len(), "form length of {stem}");
            }
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

    #[test]
    fn extensions_pack_case_insensitively() {
        assert_eq!(ext_tail(b"a/b.TS").1, ext_tail(b"c.ts").1);
        assert_eq!(ext_tail(b"a/b.ts").0, Some(3));
        assert_eq!(ext_tail(b"a/.env"), (None, 0));
        assert_eq!(ext_tail(b"a.b/c"), (None, 0));
        assert_eq!(ext_tail(b"x.verylongext").1, UNPACKED);
        assert_eq!(ext_tail("x.ñ".as_bytes()).1, UNPACKED);
        let m = ExtMatcher::new("verylongext");
        assert_eq!(m.factor("VeryLongExt", UNPACKED), 1.0);
        assert_eq!(
            ExtMatcher::new("ts").factor("JSX", ext_tail(b"a.JSX").1),
            EXT_FAMILY_FACTOR
        );
        let ts = ExtMatcher::new("ts");
        assert!(ts.may_match(b"a/b.ts") && ts.may_match(b"b.tsx") && ts.may_match(b"b.py"));
        assert!(!ts.may_match(b"a/b.json") && !ts.may_match(b"ts") && !ts.may_match(b"a/b"));
    }

    #[test]
    fn name_forms_split_case_and_separators() {
        let (mut t, mut n, mut s) = (Vec::new(), String::new(), String::new());
        name_forms("gmailAgent-v2__Final", &mut t, &mut n, &mut s);
        assert_eq!(n, "gmail_agent_v2_final");
        assert_eq!(s, "agent_final_gmail_v2");
        name_forms("HTTPServer", &mut t, &mut n, &mut s);
        assert_eq!(n, "httpserver");
    }

    #[test]
    fn split_path_keeps_dotfiles_whole() {
        assert_eq!(split_path(".env"), ("", ".env", ""));
        assert_eq!(split_path("a/b/c.test.ts"), ("a/b", "c.test", "ts"));
        assert_eq!(split_path("Makefile"), ("", "Makefile", ""));
        assert_eq!(split_path("a/.env"), ("a", ".env", ""));
        assert_eq!(split_path("a/.env.local"), ("a", ".env", "local"));
        assert_eq!(split_path("a.b/c"), ("a.b", "c", ""));
    }

    #[test]
    fn soft_jaccard_counts_the_root() {
        assert_eq!(soft_jaccard(&[], ""), 1.0);
        assert_eq!(soft_jaccard(&[], "agents"), 0.5);
        let q = vec!["src".to_owned()];
        assert!((soft_jaccard(&q, "src/agents") - 2.0 / 3.0).abs() < 1e-12);
        let q = vec!["src".to_owned(), "agent".to_owned()];
        let with_variant = 1.0 + 1.0 + DIR_VARIANT_SIM;
        let expected = with_variant / (3.0 + 3.0 - with_variant);
        assert!((soft_jaccard(&q, "Src/agents") - expected).abs() < 1e-12);
    }

    #[test]
    fn folder_variants_match() {
        assert!(same_word(b"agent", b"Agents"));
        assert!(same_word(b"user_service", b"user-service"));
        assert!(!same_word(b"api", b"app"));
        assert!(!same_word(b"s", b""));
    }
}
