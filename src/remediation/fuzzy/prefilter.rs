//! What makes the search fast: bounds that skip a candidate before its score is computed.
//!
//! Nothing here defines what a good candidate is; that is [`super::score`]. Every bound is an
//! upper bound of a signal of the score, and every test against the floor of the top k goes
//! through [`combine`] with those bounds, so a weight can be tuned in `score.rs` without
//! touching this file. The contract test in [`super`] checks that the pruned ranking equals
//! scoring every candidate with [`super::score::score_path`].
//!
//! The stages, cheapest first (one path against 100,000 files in a few milliseconds): the
//! extension is judged from the last two bytes by one table lookup (most candidates stop
//! there), then confirmed by comparing the last eight bytes with the accepted extensions; one
//! backward pass over the stem finds the directory and adds up per-byte counters (two table
//! reads per byte) for a bag-distance bound on the name; the few candidates within that bound
//! get a bound on the directory from the first letters of its components, and the fewer still
//! in the running a directory score, which resumes from the components shared with the
//! previous directory scored (most of them, in a sorted tree); nothing is allocated per
//! candidate except for the few that enter the top k. The bounds only skip candidates that
//! provably cannot reach the current top k.

use super::score::{
    combine, dir_components, ext_factor, ext_family, first_key, forms_similarity,
    is_word_separator, name_forms, normalise, split_path, DirFold, EXT_FAMILY_FACTOR,
    EXT_MISMATCH_FACTOR,
};

/// Whether a candidate scoring [`EXT_MISMATCH_FACTOR`] at best cannot reach `floor`: then
/// only the query's extension and its siblings are worth reading further.
#[inline(always)]
fn prunes_mismatch(floor: f64) -> bool {
    combine(EXT_MISMATCH_FACTOR, 1.0, 1.0) < floor
}

/// Marks an extension that does not pack into a `u64` (long, not ASCII, or with a NUL byte):
/// compared as text.
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
        // A NUL byte would vanish in the packing (`\0ts` would pack as `ts`).
        if !b.is_ascii() || b == 0 {
            return (Some(start - 1), UNPACKED);
        }
        packed = packed << 8 | u64::from(b.to_ascii_lowercase());
    }
    (Some(start - 1), packed)
}

/// The query's extension with its family, prepared once.
struct ExtMatcher<'a> {
    ext: &'a str,
    packed: u64,
    /// The other members of the query extension's family, packed.
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
        let family: Vec<&'static str> = ext_family(ext)
            .map(|f| {
                f.iter()
                    .copied()
                    .filter(|x| !x.eq_ignore_ascii_case(ext))
                    .collect()
            })
            .unwrap_or_default();
        let mut dot_offsets: Vec<usize> = family.iter().map(|x| x.len() + 1).collect();
        dot_offsets.push(ext.len() + 1);
        crate::sort::sort_by_key(&mut dot_offsets, |&n| n);
        dot_offsets.dedup();
        let packed = pack(ext);
        let family_packed: Vec<u64> = family.iter().map(|x| pack(x)).collect();
        let mut patterns = Vec::new();
        // An extension with NUL bytes does not pack (see `ext_tail`).
        if packed != UNPACKED && packed != 0 {
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
            dot_offsets,
            endings,
            patterns,
        }
    }

    /// The extension factor read from the last bytes of a path, where it can be decided
    /// without [`ext_tail`]; only exact answers, for a query whose extension packs.
    ///
    /// A path's packed extension equals a pattern's only if the path ends with the pattern's
    /// bytes (ignoring ASCII case) preceded by the dot (an extension with a NUL byte does not
    /// pack). None of an extension's bytes is `.` or `/`, so with a dot there, that dot
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

    /// [`ext_factor`] of a candidate extension, given as text and as packed by [`ext_tail`]:
    /// one integer comparison when both pack (packed extensions are equal exactly when the
    /// texts are equal ignoring ASCII case).
    fn factor(&self, ext: &str, packed: u64) -> f64 {
        if packed == UNPACKED || self.packed == UNPACKED {
            ext_factor(self.ext, ext)
        } else if packed == self.packed {
            1.0
        } else if self.family_packed.contains(&packed) {
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
        crate::sort::sort_by_key(&mut by_commonness, |&c| {
            COMMONNESS.iter().position(|&x| x == c)
        });
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
pub(super) struct Query<'a> {
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
    /// The missing path, normalised: a candidate equal to it is not a rename.
    pub(super) fn path(&self) -> &'a str {
        self.path
    }

    /// True when a look at the last two bytes of `path` shows that it cannot reach `floor`:
    /// the whole cost of most candidates, before any call.
    #[inline(always)]
    pub(super) fn ruled_out_by_ending(&self, path: &str, floor: f64) -> bool {
        prunes_mismatch(floor) && !self.ext.may_end(path.as_bytes())
    }

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
        (combine(ext_f, 1.0, 1.0) >= floor).then_some((stem_end, ext_f))
    }

    /// An upper bound of the [`soft_jaccard`](super::score::soft_jaccard) of `dir`: a component can only match a query
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

    pub(super) fn new(missing: &'a str) -> Self {
        let path = normalise(missing);
        let (dir, stem, ext) = split_path(path);
        let mut name = String::new();
        let mut name_sorted = String::new();
        name_forms(stem, &mut Vec::new(), &mut name, &mut name_sorted);
        let dirs = dir_components(dir);
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
pub(super) struct Scorer {
    /// The directory of the last candidate to reach [`Self::score_rest`], its
    /// [`Query::dir_bound`] (`None` before the first), and its [`soft_jaccard`](super::score::soft_jaccard) once computed:
    /// a sorted tree lists the files of a directory together.
    dir: String,
    dir_bound: Option<f64>,
    dir_value: Option<f64>,
    /// The last directory whose [`soft_jaccard`](super::score::soft_jaccard) was computed, and the [`DirFold`] after each
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
    pub(super) fn score(&mut self, q: &Query, path: &str, floor: f64) -> Option<f64> {
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
        if combine(ext_f, 1.0, name_bound) < floor {
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
        if combine(ext_f, dir_bound, name_bound) < floor {
            return None;
        }
        let dir_sim = self.current_dir_sim(q);
        if combine(ext_f, dir_sim, name_bound) < floor {
            return None;
        }
        if !exact {
            if let Some(profile) = &q.profile {
                let stem = &path.as_bytes()[stem_start..stem_end];
                name_bound = profile.bound(profile.exact_counts(stem, &mut self.exact_counts));
                if combine(ext_f, 1.0, name_bound) < floor
                    || combine(ext_f, dir_sim, name_bound) < floor
                {
                    return None;
                }
            }
        }
        let name_sim = self.name_sim(q, &path[stem_start..stem_end]);
        let score = combine(ext_f, dir_sim, name_sim);
        (score >= floor).then_some(score)
    }

    /// The [`soft_jaccard`](super::score::soft_jaccard) of `dir`.
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

    /// The [`soft_jaccard`](super::score::soft_jaccard) of the current directory, computed once.
    #[inline(always)]
    fn current_dir_sim(&mut self, q: &Query) -> f64 {
        match self.dir_value {
            Some(value) => value,
            None => self.fold_current_dir(q),
        }
    }

    /// The [`soft_jaccard`](super::score::soft_jaccard) of the current directory, resuming from the fold after the
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
        forms_similarity((&q.name, &q.name_sorted), (&self.name, &self.name_sorted))
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

#[cfg(test)]
mod tests {
    use super::super::score::soft_jaccard;
    use super::super::testing::Rng;
    use super::*;

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
                // The packed reading agrees with the definition in `score`.
                let (_, _, text_ext) = split_path(&path);
                assert_eq!(dot.map_or("", |d| &path[d + 1..]), text_ext, "{path:?}");
                assert_eq!(factor, ext_factor(ext, text_ext), "{ext}: {path:?}");
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
