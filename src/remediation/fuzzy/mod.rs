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
//! upper bounds before any Levenshtein runs. The extension is judged from the last two bytes
//! by one table lookup (most candidates stop there), then confirmed by comparing the last
//! eight bytes with the accepted extensions; one backward pass over the stem finds the
//! directory and adds up per-byte counters (two table reads per byte) for a bag-distance
//! bound on the name; the few candidates within that bound get a bound on the directory from
//! the first letters of its components, and the fewer still in the running a directory score,
//! which resumes from the components shared with the previous directory scored (most of them,
//! in a sorted tree); nothing is allocated per candidate except for the few that enter the
//! top k.
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
        if path.is_empty() || path.as_bytes().last() == Some(&b'/') {
            continue;
        }
        // Most candidates stop at the last two bytes of their extension, here, without a call.
        if prunes_mismatch(top.floor) && !query.ext.may_end(path.as_bytes()) {
            continue;
        }
        if let Some(score) = scorer.score(&query, path, top.floor) {
            if path != query.path {
                top.offer(path, score);
            }
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

/// Whether a candidate scoring [`EXT_MISMATCH_FACTOR`] at best cannot reach `floor`: then
/// only the query's extension and its siblings are worth reading further.
#[inline(always)]
fn prunes_mismatch(floor: f64) -> bool {
    EXT_MISMATCH_FACTOR * (W_NAME + W_DIR) < floor
}

/// Drops a leading `./` or `/`, so tree paths and factory paths compare alike.
/// Byte tests rather than `strip_prefix`: this runs once per candidate.
#[inline(always)]
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
    /// By the [`ending_key`] of a path's last two bytes, 1 + the index of the first pattern
    /// that the path may end with, or 0 for none: most paths are rejected by this one load,
    /// and most others match that first pattern.
    endings: [u8; 1024],
    /// The query's extension and its siblings as [`ExtPattern`]s, the query's own first; empty
    /// when the query has no extension or one that does not pack: [`Self::classify`] then
    /// always answers [`ExtClass::Unknown`].
    patterns: Vec<ExtPattern>,
}

/// One accepted extension, to compare with the last eight bytes of a path in one step.
struct ExtPattern {
    /// The extension's bytes (lowercase) in the high bytes of a little-endian word, as
    /// [`last_word`] places a path's last bytes.
    bytes: u64,
    /// Selects the extension's bytes.
    mask: u64,
    /// `0x20` on the letters: a path byte ORed with it equals a lowercase letter exactly when
    /// the byte is that letter in either case, so the test ignores ASCII case like
    /// [`ext_tail`] does, and compares every other byte exactly.
    fold: u64,
    /// The extension's length in bytes, 1 to 8.
    len: usize,
    factor: f64,
}

impl ExtPattern {
    /// The pattern of a non-zero extension packed by [`ext_tail`], which holds its bytes
    /// (lowercase, without the zero bytes packing drops in front) in its low bytes.
    fn new(packed: u64, factor: f64) -> Self {
        let len = 8 - packed.leading_zeros() as usize / 8;
        let shift = 8 * (8 - len);
        let mut bytes = [0u8; 8];
        bytes[8 - len..].copy_from_slice(&packed.to_be_bytes()[8 - len..]);
        let fold = bytes.map(|b| if b.is_ascii_lowercase() { 0x20 } else { 0 });
        ExtPattern {
            bytes: u64::from_le_bytes(bytes),
            mask: u64::MAX << shift,
            fold: u64::from_le_bytes(fold),
            len,
            factor,
        }
    }
}

/// What [`ExtMatcher::classify`] can tell from a path's last bytes.
#[derive(Debug, PartialEq)]
enum ExtClass {
    /// The extension is accepted: its factor, and the index of its dot.
    Accepted(f64, usize),
    /// The extension is neither the query's nor a sibling: the factor is
    /// [`EXT_MISMATCH_FACTOR`].
    Rejected,
    /// Undecided (no fast test, or NUL bytes where the dot would be): use [`ext_tail`].
    Unknown,
}

/// A 10-bit key of the last two bytes of a path, the same for both cases of a letter.
fn ending_key(before: u8, last: u8) -> usize {
    usize::from(before & 0x1F) << 5 | usize::from(last & 0x1F)
}

/// The last eight bytes of `bytes` as a little-endian word, zero-padded in front when shorter.
fn last_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 8 {
        return word_at(bytes, n - 8);
    }
    let mut word = 0u64;
    for &b in bytes {
        word = word >> 8 | u64::from(b) << 56;
    }
    word
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
        let packed = pack(ext);
        let family_packed: Vec<u64> = family.iter().map(|x| pack(x)).collect();
        let mut patterns = Vec::new();
        // Not for an extension with NUL bytes, which packing drops but `may_match` counts.
        if packed != UNPACKED && packed != 0 && !ext.contains('\0') {
            patterns.push(ExtPattern::new(packed, 1.0));
            patterns.extend(
                family_packed
                    .iter()
                    .map(|&p| ExtPattern::new(p, EXT_FAMILY_FACTOR)),
            );
        }
        let mut endings = [0u8; 1024];
        for (i, p) in patterns.iter().enumerate().rev() {
            let last = (p.bytes >> 56) as u8;
            let before = (p.bytes >> 48) as u8;
            // A one-byte extension follows its dot, or NUL bytes that packing drops.
            let befores: &[u8] = if p.len >= 2 { &[before] } else { &[b'.', 0] };
            for &before in befores {
                endings[ending_key(before, last)] = i as u8 + 1;
            }
        }
        ExtMatcher {
            ext,
            packed,
            family_packed,
            family,
            dot_offsets,
            endings,
            patterns,
        }
    }

    /// The extension factor read from the last bytes of a path, where it can be decided
    /// without [`ext_tail`]; only exact answers, for a query whose extension packs.
    ///
    /// A path's packed extension equals a pattern's only if the path ends with the pattern's
    /// bytes (ignoring ASCII case) preceded by the dot or by NUL bytes (packing drops leading
    /// zero bytes). None of an extension's bytes is `.` or `/`, so with a dot there, that dot
    /// is the one [`ext_tail`] stops at, and it accepts the extension unless the dot opens
    /// the file name (`a/.ts`, `.ts`): then the path has no extension, which packs to 0,
    /// like no pattern. A path matching no pattern has an extension that packs to another
    /// value or does not pack; the query's packs (ASCII, at most 8 bytes) and so do its
    /// siblings, so such an extension is neither, even compared as text.
    fn classify(&self, bytes: &[u8]) -> ExtClass {
        if self.patterns.is_empty() {
            return ExtClass::Unknown;
        }
        let first = self.first_pattern(bytes);
        if first == 0 {
            return ExtClass::Rejected;
        }
        let word = last_word(bytes);
        let n = bytes.len();
        // The patterns before have other endings, so the path cannot end with them.
        for p in &self.patterns[usize::from(first) - 1..] {
            if (word | p.fold) & p.mask != p.bytes || n <= p.len {
                continue;
            }
            let dot = n - p.len - 1;
            match bytes[dot] {
                b'.' if dot >= 1 && bytes[dot - 1] != b'/' => {
                    return ExtClass::Accepted(p.factor, dot)
                }
                b'.' => return ExtClass::Rejected,
                0 => return ExtClass::Unknown,
                _ => {}
            }
        }
        ExtClass::Rejected
    }

    /// False when the last two bytes of the path rule out the query's extension and its
    /// siblings (always true without [`Self::patterns`]): one table lookup, which is the whole
    /// cost of most candidates. An accepted extension has a dot at index 1 or later and at
    /// least one byte, and ends with one of [`Self::endings`].
    #[inline(always)]
    fn may_end(&self, bytes: &[u8]) -> bool {
        self.patterns.is_empty() || self.first_pattern(bytes) != 0
    }

    /// 1 + the index of the first pattern that `bytes` may end with by its last two bytes, or
    /// 0 for none (see [`Self::endings`]).
    #[inline(always)]
    fn first_pattern(&self, bytes: &[u8]) -> u8 {
        let n = bytes.len();
        if n < 3 {
            return 0;
        }
        self.endings[ending_key(bytes[n - 2], bytes[n - 1])]
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

    /// Where the stem ends and the factor, read with [`ext_tail`]; `None` for a path that
    /// [`Self::may_match`] rules out, when `prune_mismatch` says a mismatch cannot compete.
    #[inline(never)]
    fn read(&self, path: &str, prune_mismatch: bool) -> Option<(usize, f64)> {
        let bytes = path.as_bytes();
        if prune_mismatch && !self.may_match(bytes) {
            return None;
        }
        let (dot, packed) = ext_tail(bytes);
        let factor = self.factor(dot.map_or("", |d| &path[d + 1..]), packed);
        Some((dot.unwrap_or(bytes.len()), factor))
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

/// Lanes of the two words that a stem scan adds up, one byte each: lane `i` is byte `i % 8`
/// of word `i / 8`. Lanes `0..CHAR_LANES` count the query's characters; the others count
/// what the bound needs besides.
const CHAR_LANES: usize = 13;
/// ASCII bytes other than alphanumerics.
const SEPARATOR_LANE: usize = 13;
/// `A`-`Z`, which also count in their letter's lane.
const UPPER_LANE: usize = 14;
/// Bytes of non-ASCII characters.
const NON_ASCII_LANE: usize = 15;
/// Largest count a lane may hold: below 128 so that [`common_chars`] can take lane-wise
/// minimums without borrows, and so that the lanes of a stem that short never carry into
/// each other. Longer stems, and query stems with more alphanumerics, are counted by
/// [`NameProfile::exact_counts`] instead.
const MAX_LANE_COUNT: usize = 127;

/// The query stem's character counts, for a bag-distance bound on the name similarity.
///
/// Only ASCII alphanumerics count, folded to lowercase, and separators are left out, so the
/// bag is the same for both name forms. The bag distance of two strings (the larger one-sided
/// difference of their character counts) is a lower bound of their Levenshtein distance, and
/// a stem's name form is at most its length plus its uppercase letters (one `_` per camelCase
/// boundary), which bounds the divisor.
///
/// Each byte adds a constant to two words of byte-wide lanes, so scanning a stem costs two
/// table reads and two additions per byte. A query stem with more than [`CHAR_LANES`]
/// distinct characters shares lanes between them: a shared lane can only overstate the
/// characters in common (the sum of minimums is at most the minimum of sums), so that bound
/// is looser, and the stems that pass it are counted again exactly by
/// [`Self::exact_counts`]: every stem is finally judged on the exact counts.
struct NameProfile {
    /// What each byte adds to the two lane words.
    add: [[u64; 2]; 256],
    /// The query stem's count per character lane; zero in the other lanes.
    counts: [u64; 2],
    /// Whether the lanes count the query's characters exactly: one character per lane, and
    /// counts that fit. Else [`Self::scan`] only gives a looser bound, if any.
    lanes_exact: bool,
    /// Whether the query's counts fit the lanes at all.
    lanes_fit: bool,
    /// The index of each byte's character among the query stem's distinct characters
    /// (both cases of a letter alike), or [`NO_CHAR`]; and the query stem's count of each.
    chars: [u8; 256],
    char_counts: [u32; 36],
    alnum: u32,
    form_len: u32,
}

/// Lowercase ASCII alphanumerics, from the most to the least common in file names (roughly
/// English letter frequencies, then digits).
const COMMONNESS: &[u8; 36] = b"etaoinsrlcdumphgfbywvkxjqz0123456789";

/// [`NameProfile::chars`] of a byte that is not one of the query stem's characters.
const NO_CHAR: u8 = u8::MAX;

/// What one backward pass over a candidate stem found.
struct StemScan {
    start: usize,
    /// `(common characters, alphanumerics, upper bound of the name form's length)`, or
    /// `None` when there is no sound bound: the stem is not ASCII (lowercasing can change
    /// lengths), or it was not counted (see `exact`).
    counts: Option<(u32, u32, u32)>,
    /// Whether `counts` are exact; if not, they overstate the characters in common (or
    /// are missing), and [`NameProfile::exact_counts`] has the exact ones.
    exact: bool,
}

/// The one-bit count of `lane` in the two lane words.
fn lane_unit(lane: usize) -> [u64; 2] {
    let mut unit = [0u64; 2];
    unit[lane / 8] = 1 << (8 * (lane % 8));
    unit
}

/// The count in `lane` of the two lane words.
#[inline(always)]
fn lane_count(words: &[u64; 2], lane: usize) -> u32 {
    (words[lane / 8] >> (8 * (lane % 8)) & 0xFF) as u32
}

/// The sum over the byte lanes of `min(stem, query)`, for lanes below 128 whose sum is below
/// 256. `(stem | 0x80) - query` cannot borrow across lanes and keeps a lane's high bit exactly
/// when `stem >= query` there.
#[inline(always)]
fn common_chars(stem: u64, query: u64) -> u32 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let stem_ge = ((stem | HIGH) - query) & HIGH;
    let take_query = (stem_ge >> 7) * 0xFF;
    let min = (query & take_query) | (stem & !take_query);
    (min.wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32
}

/// The high bit of each byte of `word` that is a `/`, exactly: no carries between bytes.
#[inline(always)]
fn slash_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = word ^ 0x2F2F_2F2F_2F2F_2F2F;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

impl NameProfile {
    /// `None` for a stem that is not ASCII.
    fn new(stem: &str, name_form: &str) -> Option<Self> {
        if !stem.is_ascii() {
            return None;
        }
        let mut add = [[0u64; 2]; 256];
        for (b, add) in add.iter_mut().enumerate() {
            let b = b as u8;
            *add = if !b.is_ascii() {
                lane_unit(NON_ASCII_LANE)
            } else if !b.is_ascii_alphanumeric() {
                lane_unit(SEPARATOR_LANE)
            } else if b.is_ascii_uppercase() {
                lane_unit(UPPER_LANE)
            } else {
                [0; 2]
            };
        }
        // The query's distinct characters (lowercase) in order, and their counts.
        let mut chars = [NO_CHAR; 256];
        let mut char_counts = [0u32; 36];
        let mut distinct = Vec::new();
        let mut alnum = 0;
        for b in stem.bytes().filter(u8::is_ascii_alphanumeric) {
            let lower = b.to_ascii_lowercase();
            if chars[usize::from(lower)] == NO_CHAR {
                chars[usize::from(lower)] = distinct.len() as u8;
                chars[usize::from(lower.to_ascii_uppercase())] = distinct.len() as u8;
                distinct.push(lower);
            }
            char_counts[usize::from(chars[usize::from(lower)])] += 1;
            alnum += 1;
        }
        // One lane per character; past CHAR_LANES, the rarest in file names share the last
        // lane, where they loosen the bound least.
        let mut by_commonness = distinct.clone();
        by_commonness.sort_by_key(|&c| COMMONNESS.iter().position(|&x| x == c));
        let mut counts = [0u64; 2];
        for (rank, &c) in by_commonness.iter().enumerate() {
            let unit = lane_unit(rank.min(CHAR_LANES - 1));
            for c in [c, c.to_ascii_uppercase()] {
                add[usize::from(c)][0] += unit[0];
                add[usize::from(c)][1] += unit[1];
                if !c.is_ascii_alphabetic() {
                    break;
                }
            }
            let count = u64::from(char_counts[usize::from(chars[usize::from(c)])]);
            // Wrapping: the lanes of a stem with too many characters are not used.
            counts[0] = counts[0].wrapping_add(unit[0].wrapping_mul(count));
            counts[1] = counts[1].wrapping_add(unit[1].wrapping_mul(count));
        }
        let distinct = distinct.len();
        let lanes_fit = alnum <= MAX_LANE_COUNT;
        Some(NameProfile {
            add,
            counts,
            lanes_exact: lanes_fit && distinct <= CHAR_LANES,
            lanes_fit,
            chars,
            char_counts,
            alnum: alnum as u32,
            form_len: name_form.len() as u32,
        })
    }

    /// Scans `bytes[..end]` backwards up to the last `/`, adding up the stem's lanes in
    /// `counts`. Branch-free per byte apart from the `/` test: data-dependent branches here
    /// cost more than the arithmetic, at 100,000 stems per search.
    fn scan(&self, bytes: &[u8], end: usize, counts: &mut [u64; 2]) -> StemScan {
        let bytes = &bytes[..end];
        let (mut low, mut high) = (0u64, 0u64);
        // Two bytes a step: fewer loop tests per byte.
        let mut start = end;
        while start >= 2 {
            let b = bytes[start - 1];
            if b == b'/' {
                break;
            }
            self.add_byte(b, &mut low, &mut high);
            let b = bytes[start - 2];
            if b == b'/' {
                start -= 1;
                break;
            }
            self.add_byte(b, &mut low, &mut high);
            start -= 2;
        }
        if start == 1 && bytes[0] != b'/' {
            self.add_byte(bytes[0], &mut low, &mut high);
            start = 0;
        }
        *counts = [low, high];
        self.bound_counts(start, end, counts)
    }

    /// Adds the lanes of byte `b`. Wrapping: the lanes of a stem too long to count may
    /// overflow; they are not used.
    #[inline(always)]
    fn add_byte(&self, b: u8, low: &mut u64, high: &mut u64) {
        let add = &self.add[usize::from(b)];
        *low = low.wrapping_add(add[0]);
        *high = high.wrapping_add(add[1]);
    }

    /// The counts of a scan from its lanes.
    #[inline(always)]
    fn bound_counts(&self, start: usize, end: usize, counts: &[u64; 2]) -> StemScan {
        let len = end - start;
        if len > MAX_LANE_COUNT || !self.lanes_fit {
            return StemScan {
                start,
                counts: None,
                exact: false,
            };
        }
        if lane_count(counts, NON_ASCII_LANE) != 0 {
            return StemScan {
                start,
                counts: None,
                exact: true,
            };
        }
        let common =
            common_chars(counts[0], self.counts[0]) + common_chars(counts[1], self.counts[1]);
        let alnum = len as u32 - lane_count(counts, SEPARATOR_LANE);
        StemScan {
            start,
            counts: Some((common, alnum, len as u32 + lane_count(counts, UPPER_LANE))),
            exact: self.lanes_exact,
        }
    }

    /// The exact counts of `stem` (see [`StemScan::counts`]), one character at a time: for
    /// the few stems that pass a looser bound from the lanes.
    /// `counts` is scratch space, all zero before and after.
    fn exact_counts(&self, stem: &[u8], counts: &mut [u32; 36]) -> Option<(u32, u32, u32)> {
        let (mut common, mut upper, mut separators) = (0u32, 0u32, 0u32);
        let mut ascii = true;
        for &b in stem {
            ascii &= b.is_ascii();
            let c = usize::from(self.chars[usize::from(b)]);
            if c != usize::from(NO_CHAR) {
                counts[c] += 1;
                common += u32::from(counts[c] <= self.char_counts[c]);
            }
            upper += u32::from(b.is_ascii_uppercase());
            separators += u32::from(!b.is_ascii_alphanumeric());
        }
        for &b in stem {
            let c = usize::from(self.chars[usize::from(b)]);
            if c != usize::from(NO_CHAR) {
                counts[c] = 0;
            }
        }
        let len = stem.len() as u32;
        ascii.then_some((common, len - separators, len + upper))
    }

    /// An upper bound of the name similarity from a scan; 1 when no bound is sound.
    fn upper_bound(&self, scan: &StemScan) -> f64 {
        self.bound(scan.counts)
    }

    /// The bound of [`Self::upper_bound`] from counts.
    #[inline(always)]
    fn bound(&self, counts: Option<(u32, u32, u32)>) -> f64 {
        let Some((common, alnum, form_bound)) = counts else {
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
    /// Directory components, lowercase, and their [`first_key`]s.
    dirs: Vec<String>,
    dir_firsts: Vec<u16>,
    /// The first letters of the (first 64) directory components, as a set of bytes.
    dir_letters: [u64; 4],
    /// Name tokens joined by `_` in their order, and sorted.
    name: String,
    name_sorted: String,
    profile: Option<NameProfile>,
}

impl<'a> Query<'a> {
    /// Where the candidate's stem ends (the dot of its extension, or the end) and its
    /// extension's factor, or `None` when that factor alone keeps it below `floor`.
    fn extension(&self, path: &str, floor: f64) -> Option<(usize, f64)> {
        let prune_mismatch = prunes_mismatch(floor);
        let (stem_end, ext_f) = if prune_mismatch {
            match self.ext.classify(path.as_bytes()) {
                ExtClass::Accepted(factor, dot) => (dot, factor),
                ExtClass::Rejected => return None,
                ExtClass::Unknown => self.ext.read(path, prune_mismatch)?,
            }
        } else {
            self.ext.read(path, prune_mismatch)?
        };
        (ext_f * W_DIR + ext_f * W_NAME >= floor).then_some((stem_end, ext_f))
    }

    /// An upper bound of the [`soft_jaccard`] of `dir`: a component can only match a query
    /// component with the same first letter (see [`DirFold::add`]), so at most as many match
    /// as have one of the query's first letters, or start with a separator (whose first
    /// letter is further). Computed as [`DirFold::value`] would be after that many perfect
    /// matches, so that the score it gives is never below the true one, to the last bit.
    fn dir_bound(&self, dir: &[u8]) -> f64 {
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let (mut components, mut may_match) = (0usize, 0usize);
        // Eight bytes at a time: the high bit of each byte that starts a component (not a `/`,
        // after a `/` or the start), then the first bytes of those components one by one.
        let mut after_slash = 0x80u64;
        let mut i = 0;
        while i < dir.len() {
            let word = if i + 8 <= dir.len() {
                word_at(dir, i)
            } else {
                // Padded with `/`, which start nothing.
                let mut word = 0x2F2F_2F2F_2F2F_2F2F;
                for (k, &b) in dir[i..].iter().enumerate() {
                    word = word & !(0xFF << (8 * k)) | u64::from(b) << (8 * k);
                }
                word
            };
            let slashes = slash_bytes(word);
            let mut starts = !slashes & (slashes << 8 | after_slash) & HIGH;
            after_slash = slashes >> 56;
            while starts != 0 {
                let b = (word >> (starts.trailing_zeros() - 7)) as u8;
                let lower = b.to_ascii_lowercase();
                let letter = self.dir_letters[usize::from(lower / 64)] >> (lower % 64) & 1 != 0;
                components += 1;
                may_match += usize::from(letter || is_word_separator(b));
                starts &= starts - 1;
            }
            i += 8;
        }
        DirFold {
            used: 0,
            matched: 1.0 + may_match.min(self.dirs.len().min(64)) as f64,
            count: 1 + components,
        }
        .value(self.dirs.len())
    }

    fn new(missing: &'a str) -> Self {
        let path = normalise(missing);
        let (dir, stem, ext) = split_path(path);
        let mut name = String::new();
        let mut name_sorted = String::new();
        name_forms(stem, &mut Vec::new(), &mut name, &mut name_sorted);
        let dirs: Vec<String> = dir
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_lowercase)
            .collect();
        let dir_firsts: Vec<u16> = dirs.iter().map(|c| first_key(c.as_bytes())).collect();
        let mut dir_letters = [0u64; 4];
        for &first in dir_firsts.iter().take(64).filter(|&&f| f < 256) {
            dir_letters[usize::from(first / 64)] |= 1 << (first % 64);
        }
        Query {
            path,
            ext: ExtMatcher::new(ext),
            dir_firsts,
            dir_letters,
            dirs,
            profile: NameProfile::new(stem, &name),
            name,
            name_sorted,
        }
    }
}

/// Per-scan scratch space, reused so scoring allocates nothing per candidate.
struct Scorer {
    /// The directory of the last candidate to reach [`Self::score_rest`], its
    /// [`Query::dir_bound`] (`None` before the first), and its [`soft_jaccard`] once computed:
    /// a sorted tree lists the files of a directory together.
    dir: String,
    dir_bound: Option<f64>,
    dir_value: Option<f64>,
    /// The last directory whose [`soft_jaccard`] was computed, and the [`DirFold`] after each
    /// of its non-empty components with the offset where that component ends.
    fold_dir: String,
    dir_folds: Vec<(usize, DirFold)>,
    counts: [u64; 2],
    exact_counts: [u32; 36],
    tokens: Vec<(usize, usize)>,
    name: String,
    name_sorted: String,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer {
            dir: String::new(),
            dir_bound: None,
            dir_value: None,
            fold_dir: String::new(),
            dir_folds: Vec::new(),
            counts: [0; 2],
            exact_counts: [0; 36],
            tokens: Vec::new(),
            name: String::new(),
            name_sorted: String::new(),
        }
    }
}

impl Scorer {
    /// The candidate's score, or `None` when it provably cannot reach `floor`. Cheapest first:
    /// the extension, then the character counts of the name, then the directory.
    #[inline(never)]
    fn score(&mut self, q: &Query, path: &str, floor: f64) -> Option<f64> {
        let (stem_end, ext_f) = q.extension(path, floor)?;
        let bytes = path.as_bytes();
        let (stem_start, name_bound, exact) = match &q.profile {
            Some(profile) => {
                let scan = profile.scan(bytes, stem_end, &mut self.counts);
                (scan.start, profile.upper_bound(&scan), scan.exact)
            }
            None => {
                let slash = bytes[..stem_end].iter().rposition(|&b| b == b'/');
                (slash.map_or(0, |s| s + 1), 1.0, true)
            }
        };
        if ext_f * W_DIR + ext_f * W_NAME * name_bound < floor {
            return None;
        }
        self.score_rest(
            q,
            path,
            (stem_start, stem_end),
            ext_f,
            (name_bound, exact),
            floor,
        )
    }

    /// [`Self::score`] for the few candidates that pass the bound on the name: the directory,
    /// then the name. Not inlined, so that the others do not pay for its stack frame.
    ///
    /// When the bound on the name is not exact (see [`StemScan::exact`]), it is at least the
    /// exact one, and the tests with it rule out no more candidates: then the stems that pass
    /// them are counted exactly, and tested again, as if the exact bound had come first.
    #[inline(never)]
    fn score_rest(
        &mut self,
        q: &Query,
        path: &str,
        (stem_start, stem_end): (usize, usize),
        ext_f: f64,
        (mut name_bound, exact): (f64, bool),
        floor: f64,
    ) -> Option<f64> {
        let dir = path.get(..stem_start.saturating_sub(1)).unwrap_or("");
        // First a bound from the first letters of the directory's components, which rules out
        // most candidates at a fraction of the cost of the score. The directory's score is at
        // most that bound, so the test after it would rule these out as well.
        let dir_bound = self.enter_dir(q, dir);
        if ext_f * W_DIR * dir_bound + ext_f * W_NAME * name_bound < floor {
            return None;
        }
        let dir_sim = self.current_dir_sim(q);
        let without_name = ext_f * W_DIR * dir_sim;
        if without_name + ext_f * W_NAME * name_bound < floor {
            return None;
        }
        if !exact {
            if let Some(profile) = &q.profile {
                let stem = &path.as_bytes()[stem_start..stem_end];
                name_bound = profile.bound(profile.exact_counts(stem, &mut self.exact_counts));
                if ext_f * W_DIR + ext_f * W_NAME * name_bound < floor
                    || without_name + ext_f * W_NAME * name_bound < floor
                {
                    return None;
                }
            }
        }
        let score = without_name + ext_f * W_NAME * self.name_sim(q, &path[stem_start..stem_end]);
        (score >= floor).then_some(score)
    }

    /// The [`soft_jaccard`] of `dir`.
    #[cfg(test)]
    fn dir_sim(&mut self, q: &Query, dir: &str) -> f64 {
        self.enter_dir(q, dir);
        self.current_dir_sim(q)
    }

    /// Makes `dir` the current directory; its [`Query::dir_bound`].
    #[inline(always)]
    fn enter_dir(&mut self, q: &Query, dir: &str) -> f64 {
        match self.dir_bound {
            Some(bound)
                if dir.len() == self.dir.len()
                    && common_prefix(dir.as_bytes(), self.dir.as_bytes()) == dir.len() =>
            {
                bound
            }
            _ => self.enter_new_dir(q, dir),
        }
    }

    /// [`Self::enter_dir`] of another directory than the current one.
    #[inline(never)]
    fn enter_new_dir(&mut self, q: &Query, dir: &str) -> f64 {
        self.dir.clear();
        self.dir.push_str(dir);
        self.dir_value = None;
        let bound = q.dir_bound(dir.as_bytes());
        self.dir_bound = Some(bound);
        bound
    }

    /// The [`soft_jaccard`] of the current directory, computed once.
    #[inline(always)]
    fn current_dir_sim(&mut self, q: &Query) -> f64 {
        match self.dir_value {
            Some(value) => value,
            None => self.fold_current_dir(q),
        }
    }

    /// The [`soft_jaccard`] of the current directory, resuming from the fold after the
    /// leading components it shares with the last directory folded (in a sorted tree, most
    /// of them). The fold takes the same steps in the same order either way, so the value is
    /// the same.
    #[inline(never)]
    fn fold_current_dir(&mut self, q: &Query) -> f64 {
        let bytes = self.dir.as_bytes();
        let common = common_prefix(self.fold_dir.as_bytes(), bytes);
        // Keep the folds of the components that end within the shared prefix, where the
        // directory has a component end too (before the prefix's end, both have a `/` there).
        let mut keep = 0;
        while keep < self.dir_folds.len() {
            let end = self.dir_folds[keep].0;
            if end > common || (end < bytes.len() && bytes[end] != b'/') {
                break;
            }
            keep += 1;
        }
        self.dir_folds.truncate(keep);
        let (mut fold, mut start) = match self.dir_folds.last() {
            Some(&(end, fold)) => (fold, end + 1),
            None => (DirFold::ROOT, 0),
        };
        while start <= bytes.len() {
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'/' {
                end += 1;
            }
            if end > start {
                fold.add(&q.dirs, &q.dir_firsts, &bytes[start..end]);
                self.dir_folds.push((end, fold));
            }
            start = end + 1;
        }
        self.fold_dir.clear();
        self.fold_dir.push_str(&self.dir);
        let value = fold.value(q.dirs.len());
        self.dir_value = Some(value);
        value
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
/// unused match, in order, which keeps the value deterministic. Computed from scratch: the
/// reference for [`Scorer::dir_sim`], which resumes the same fold.
#[cfg(test)]
fn soft_jaccard(query: &[String], dir: &str) -> f64 {
    let firsts: Vec<u16> = query.iter().map(|c| first_key(c.as_bytes())).collect();
    let mut fold = DirFold::ROOT;
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        fold.add(query, &firsts, comp.as_bytes());
    }
    fold.value(query.len())
}

/// The state of [`soft_jaccard`] after some leading components of a directory.
#[derive(Clone, Copy)]
struct DirFold {
    /// Query components already matched (the first 64 are considered).
    used: u64,
    matched: f64,
    count: usize,
}

impl DirFold {
    /// The root, shared by every path.
    const ROOT: DirFold = DirFold {
        used: 0,
        matched: 1.0,
        count: 1,
    };

    /// Adds a non-empty component, which takes its best unused query component (the first
    /// among equals). `firsts` holds the [`first_key`]s of the query components: one whose
    /// first letter differs matches neither equal nor as a variant, and is skipped untested.
    fn add(&mut self, query: &[String], firsts: &[u16], comp: &[u8]) {
        // Index loops: iterator adapters are not reliably inlined under the size-optimised
        // release profile, and this runs for every new directory component.
        self.count += 1;
        let first = first_key(comp);
        let mut best = (0.0, usize::MAX);
        let mut j = 0;
        while j < query.len().min(64) {
            if self.used & (1 << j) == 0 && firsts[j] == first {
                let sim = component_sim(query[j].as_bytes(), comp);
                if sim > best.0 {
                    best = (sim, j);
                    if sim >= 1.0 {
                        break;
                    }
                }
            }
            j += 1;
        }
        if best.1 != usize::MAX {
            self.matched += best.0;
            self.used |= 1 << best.1;
        }
    }

    /// The soft Jaccard index, for a query of `query_len` components.
    fn value(&self, query_len: usize) -> f64 {
        let union = (query_len + 1) as f64 + self.count as f64 - self.matched;
        self.matched / union
    }
}

/// The length of the longest common prefix of `a` and `b`, eight bytes at a time.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let diff = word_at(a, i) ^ word_at(b, i);
        if diff != 0 {
            return i + diff.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The eight bytes of `bytes` from `i` as a little-endian word. Byte by byte: the compiler
/// merges these into one load, where slice methods (`copy_from_slice`, `first_chunk`) stay
/// calls under the size-optimised profile.
#[inline(always)]
fn word_at(bytes: &[u8], i: usize) -> u64 {
    let b = &bytes[i..i + 8];
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// [`first_letter`] as a key that also tells no letter (256) from a NUL byte.
#[inline(always)]
fn first_key(comp: &[u8]) -> u16 {
    first_letter(comp).map_or(256, u16::from)
}

/// 1 for the same folder name ignoring ASCII case, [`DIR_VARIANT_SIM`] for a variant of it
/// (`agent`/`agents`, `user_service`/`user-service`), else 0. Rules rather than an edit
/// distance: short folder names one edit apart are usually different folders (`api`/`app`),
/// and this runs for every distinct directory of the tree.
fn component_sim(query_lower: &[u8], comp: &[u8]) -> f64 {
    if query_lower.eq_ignore_ascii_case(comp) {
        1.0
    } else if same_word(query_lower, comp) {
        DIR_VARIANT_SIM
    } else {
        0.0
    }
}

/// The separators that [`same_word`] ignores.
fn is_word_separator(c: u8) -> bool {
    matches!(c, b'-' | b'_' | b'.')
}

/// The first byte of `w` that is not a separator, lowercase.
#[inline(always)]
fn first_letter(w: &[u8]) -> Option<u8> {
    for &c in w {
        if !is_word_separator(c) {
            return Some(c.to_ascii_lowercase());
        }
    }
    None
}

/// Equal ignoring ASCII case, the separators `-`, `_`, `.` and one trailing `s`.
fn same_word(a: &[u8], b: &[u8]) -> bool {
    // Most pairs differ in their first letter; the full comparison below is slow to reach.
    if first_letter(a) != first_letter(b) {
        return false;
    }
    let strip_plural = |w: &[u8]| match w {
        [rest @ .., b's' | b'S'] if !rest.is_empty() => rest.len(),
        _ => w.len(),
    };
    let (a, b) = (&a[..strip_plural(a)], &b[..strip_plural(b)]);
    // The two words without separators, compared letter by letter.
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && is_word_separator(a[i]) {
            i += 1;
        }
        while j < b.len() && is_word_separator(b[j]) {
            j += 1;
        }
        if i == a.len() || j == b.len() {
            return i == a.len() && j == b.len();
        }
        if !a[i].eq_ignore_ascii_case(&b[j]) {
            return false;
        }
        i += 1;
        j += 1;
    }
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

    /// xorshift64*: deterministic pseudo-random choices for the randomized tests below.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// A path from a small vocabulary, so that near misses, ties, sibling extensions and odd
    /// names (non-ASCII, long, many distinct letters, separators only) are common.
    fn random_path(rng: &mut Rng) -> String {
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

    #[test]
    fn extension_fast_path_agrees_with_ext_tail() {
        let mut rng = Rng(42);
        let pieces = [
            "a", "/", ".", "\0", "t", "s", "T", "x", "m", "c", "h", "d", "mark", "own",
        ];
        for ext in [
            "ts",
            "TS",
            "c",
            "md",
            "yml",
            "markdown",
            "verylongext",
            "ñ",
            "",
        ] {
            let matcher = ExtMatcher::new(ext);
            for _ in 0..2000 {
                let path: String = (0..rng.below(9)).map(|_| rng.pick(&pieces)).collect();
                let bytes = path.as_bytes();
                let (dot, packed) = ext_tail(bytes);
                let factor = matcher.factor(dot.map_or("", |d| &path[d + 1..]), packed);
                match matcher.classify(bytes) {
                    ExtClass::Accepted(f, at) => {
                        assert_eq!((Some(at), f), (dot, factor), "{ext}: {path:?}");
                        assert!(matcher.may_match(bytes), "{ext}: {path:?}");
                    }
                    ExtClass::Rejected => assert!(
                        factor == EXT_MISMATCH_FACTOR || !matcher.may_match(bytes),
                        "{ext}: {path:?}"
                    ),
                    ExtClass::Unknown => {}
                }
                if !matcher.may_end(bytes) {
                    assert_eq!(matcher.classify(bytes), ExtClass::Rejected, "{path:?}");
                }
            }
        }
    }

    #[test]
    fn lanes_count_like_the_exact_scan() {
        let q = Query::new("src/agent_gmail.ts");
        let profile = q.profile.as_ref().expect("ASCII stem");
        let (mut lanes, mut scratch) = ([0u64; 2], [0u32; 36]);
        for path in [
            "x",
            "ab",
            "/ab",
            "a/b",
            "d/gmailAgent",
            "d/__",
            "d/ägent",
            "gmail_agent",
        ] {
            let scan = profile.scan(path.as_bytes(), path.len(), &mut lanes);
            let start = path.rfind('/').map_or(0, |s| s + 1);
            assert_eq!(scan.start, start, "{path}");
            let exact = profile.exact_counts(&path.as_bytes()[start..], &mut scratch);
            assert!(scan.exact, "{path}");
            assert_eq!(scan.counts, exact, "{path}");
            assert_eq!(scratch, [0; 36]);
        }
        // More distinct characters than lanes: the lanes overstate what is in common.
        let q = Query::new("quantum_flux_capacitor_v2.rs");
        let profile = q.profile.as_ref().expect("ASCII stem");
        for path in [
            "d/quantum",
            "d/capacitor_v9",
            "d/zzzz",
            "d/flux_quantum_capacitor_v2",
        ] {
            let scan = profile.scan(path.as_bytes(), path.len(), &mut lanes);
            let exact = profile.exact_counts(&path.as_bytes()[2..], &mut scratch);
            assert!(!scan.exact);
            assert!(profile.upper_bound(&scan) >= profile.bound(exact), "{path}");
        }
        // Too long for the lanes: no bound from them.
        let long = format!("d/{}", "a".repeat(200));
        let scan = profile.scan(long.as_bytes(), long.len(), &mut lanes);
        assert_eq!((scan.start, scan.counts, scan.exact), (2, None, false));
    }

    #[test]
    fn directory_bound_is_never_below_the_score() {
        let mut rng = Rng(7);
        let components = [
            "src", "Src", "agents", "agent", "_agents", "-", "lib", "x", "ägent", "", "s", "tests",
        ];
        for query in [
            "src/agents/x.ts",
            "x.ts",
            "_a/b/c/d/e/f/g/h/i/x.ts",
            "Ägent/SRC/x.ts",
        ] {
            let q = Query::new(query);
            for _ in 0..2000 {
                let dir: Vec<&str> = (0..rng.below(6)).map(|_| rng.pick(&components)).collect();
                let dir = dir.join("/");
                let (bound, sim) = (q.dir_bound(dir.as_bytes()), soft_jaccard(&q.dirs, &dir));
                assert!(bound >= sim, "{query}: {dir:?}: {bound} < {sim}");
            }
        }
    }

    #[test]
    fn resumed_directory_scores_match_scratch() {
        let q = Query::new("src/agents/lib/x.ts");
        let mut scorer = Scorer::default();
        let dirs = [
            "",
            "src",
            "src/agents",
            "src/agents/lib",
            "src/agents/lib2",
            "src/agent",
            "src//lib",
            "src/agents/",
            "Src/Agents/Lib",
            "src",
            "lib/src/agents",
            "lib/src",
            "",
        ];
        for dir in dirs.iter().chain(dirs.iter().rev()) {
            assert_eq!(
                scorer.dir_sim(&q, dir).to_bits(),
                soft_jaccard(&q.dirs, dir).to_bits(),
                "{dir}"
            );
        }
    }
}
