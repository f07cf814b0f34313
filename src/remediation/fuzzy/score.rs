//! The definition of the score: how similar a repository path is to the missing one, in
//! `[0, 1]`. Plain code, no bounds and no packing: this is what the search means.
//! [`super::prefilter`] only makes it fast, and must rank exactly as [`score_path`] scores (the
//! contract test in [`super`]).
//!
//! A candidate's score weighs three signals of the path:
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
//!   [`super::MIN_CONSIDERED`].
//!
//! [`combine`] is the one place the weights meet the signals; the prefilter's bounds call it
//! with upper bounds of the signals, so changing a weight here needs no change there.

/// Weight of the file-name similarity; the name is the strongest evidence of a rename.
pub const W_NAME: f64 = 0.7;
/// Weight of the directory similarity; moves between folders are common, so it weighs less.
pub const W_DIR: f64 = 0.3;
/// Factor for a sibling extension (`js` -> `ts`): plausible in a migration, but less likely.
pub const EXT_FAMILY_FACTOR: f64 = 0.9;
/// Factor for an unrelated extension: caps the score at 0.5, below
/// [`super::MIN_CONSIDERED`]. A file of another kind is never where a task's placeholder went
/// (`x.ts` does not become `x.py`), and skipping those files after reading a few bytes is most
/// of the speed.
pub const EXT_MISMATCH_FACTOR: f64 = 0.5;
/// How much a folder-name variant (`agent`/`agents`) counts towards the shared directories.
pub const DIR_VARIANT_SIM: f64 = 0.8;

/// Extensions that the same kind of source can move between.
pub(super) const EXT_FAMILIES: &[&[&str]] = &[
    &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"],
    &["yml", "yaml"],
    &["md", "markdown", "mdx"],
    &["htm", "html"],
    &["jpg", "jpeg"],
    &["py", "pyi"],
    &["c", "h", "cc", "cpp", "cxx", "hpp", "hh"],
];

/// The score of `candidate` for `missing`: every signal computed in full.
pub fn score_path(missing: &str, candidate: &str) -> f64 {
    let (q_dir, q_stem, q_ext) = split_path(normalise(missing));
    let (c_dir, c_stem, c_ext) = split_path(normalise(candidate));
    combine(
        ext_factor(q_ext, c_ext),
        soft_jaccard(&dir_components(q_dir), c_dir),
        name_similarity(q_stem, c_stem),
    )
}

/// The score from its signals. Non-decreasing in each argument (the weights are not
/// negative), so the same call with upper bounds of the signals bounds the score, to the last
/// bit.
#[inline(always)]
pub(super) fn combine(ext_factor: f64, dir_sim: f64, name_sim: f64) -> f64 {
    ext_factor * W_DIR * dir_sim + ext_factor * W_NAME * name_sim
}

/// 1 for the same extension ignoring ASCII case, [`EXT_FAMILY_FACTOR`] for a sibling,
/// [`EXT_MISMATCH_FACTOR`] otherwise. No extension counts as the same as no extension.
pub fn ext_factor(query: &str, candidate: &str) -> f64 {
    if query.eq_ignore_ascii_case(candidate) {
        1.0
    } else if ext_family(query).is_some_and(|f| f.iter().any(|x| x.eq_ignore_ascii_case(candidate)))
    {
        EXT_FAMILY_FACTOR
    } else {
        EXT_MISMATCH_FACTOR
    }
}

/// The family of `ext` in [`EXT_FAMILIES`], if it has one.
pub(super) fn ext_family(ext: &str) -> Option<&'static [&'static str]> {
    EXT_FAMILIES
        .iter()
        .copied()
        .find(|f| f.iter().any(|x| x.eq_ignore_ascii_case(ext)))
}

/// The similarity of two file stems: normalised Levenshtein of their token forms (see
/// [`name_forms`]), in order or sorted, whichever is higher.
pub fn name_similarity(query_stem: &str, candidate_stem: &str) -> f64 {
    let (mut tokens, mut q_name, mut q_sorted) = (Vec::new(), String::new(), String::new());
    name_forms(query_stem, &mut tokens, &mut q_name, &mut q_sorted);
    let (mut c_name, mut c_sorted) = (String::new(), String::new());
    name_forms(candidate_stem, &mut tokens, &mut c_name, &mut c_sorted);
    forms_similarity((&q_name, &q_sorted), (&c_name, &c_sorted))
}

/// [`name_similarity`] from the `(in order, sorted)` forms of both stems.
pub(super) fn forms_similarity(query: (&str, &str), candidate: (&str, &str)) -> f64 {
    let in_order = strsim::normalized_levenshtein(query.0, candidate.0);
    if in_order >= 1.0 {
        return in_order;
    }
    in_order.max(strsim::normalized_levenshtein(query.1, candidate.1))
}

/// The directory components of the missing path, lowercase, as [`soft_jaccard`] takes them.
pub(super) fn dir_components(dir: &str) -> Vec<String> {
    dir.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Drops a leading `./` or `/`, so tree paths and factory paths compare alike.
/// Byte tests rather than `strip_prefix`: the search runs this once per candidate.
#[inline(always)]
pub(super) fn normalise(path: &str) -> &str {
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

/// Splits `dir/stem.ext` (each part may be empty). The extension starts after the last dot of
/// the file name, unless that dot opens the name (`.env` has none, `.env.local` has `local`).
pub(super) fn split_path(path: &str) -> (&str, &str, &str) {
    let (dir, file) = match path.rfind('/') {
        Some(slash) => (&path[..slash], &path[slash + 1..]),
        None => ("", path),
    };
    match file.rfind('.') {
        Some(dot) if dot > 0 => (dir, &file[..dot], &file[dot + 1..]),
        _ => (dir, file, ""),
    }
}

/// Soft Jaccard of directory components, with the root as one shared component so that a
/// root file and `agents/x` score 1/2 rather than 0. Each query component takes its best
/// unused match, in order, which keeps the value deterministic. `query` holds the missing
/// path's components, lowercase ([`dir_components`]).
pub fn soft_jaccard(query: &[String], dir: &str) -> f64 {
    let firsts: Vec<u16> = query.iter().map(|c| first_key(c.as_bytes())).collect();
    let mut fold = DirFold::ROOT;
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        fold.add(query, &firsts, comp.as_bytes());
    }
    fold.value(query.len())
}

/// The state of [`soft_jaccard`] after some leading components of a directory.
#[derive(Clone, Copy)]
pub(super) struct DirFold {
    /// Query components already matched (the first 64 are considered).
    pub(super) used: u64,
    pub(super) matched: f64,
    pub(super) count: usize,
}

impl DirFold {
    /// The root, shared by every path.
    pub(super) const ROOT: DirFold = DirFold {
        used: 0,
        matched: 1.0,
        count: 1,
    };

    /// Adds a non-empty component, which takes its best unused query component (the first
    /// among equals). `firsts` holds the [`first_key`]s of the query components: one whose
    /// first letter differs matches neither equal nor as a variant, and is skipped untested.
    pub(super) fn add(&mut self, query: &[String], firsts: &[u16], comp: &[u8]) {
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
    pub(super) fn value(&self, query_len: usize) -> f64 {
        let union = (query_len + 1) as f64 + self.count as f64 - self.matched;
        self.matched / union
    }
}

/// [`first_letter`] as a key that also tells no letter (256) from a NUL byte.
#[inline(always)]
pub(super) fn first_key(comp: &[u8]) -> u16 {
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
pub(super) fn is_word_separator(c: u8) -> bool {
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
/// `tokens` is scratch space.
pub(super) fn name_forms(
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
    crate::sort::sort_by(tokens, |a, b| name[a.0..a.1].cmp(&name[b.0..b.1]));
    for (n, &(s, e)) in tokens.iter().enumerate() {
        if n > 0 {
            sorted.push('_');
        }
        sorted.push_str(&name[s..e]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(split_path("a/x."), ("a", "x", ""));
    }

    #[test]
    fn extensions_compare_ignoring_ascii_case_within_families() {
        assert_eq!(ext_factor("ts", "TS"), 1.0);
        assert_eq!(ext_factor("", ""), 1.0);
        assert_eq!(ext_factor("ts", "JSX"), EXT_FAMILY_FACTOR);
        assert_eq!(ext_factor("yaml", "yml"), EXT_FAMILY_FACTOR);
        assert_eq!(ext_factor("ts", "py"), EXT_MISMATCH_FACTOR);
        assert_eq!(ext_factor("ts", ""), EXT_MISMATCH_FACTOR);
        assert_eq!(ext_factor("verylongext", "VeryLongExt"), 1.0);
        assert_eq!(ext_factor("ñ", "Ñ"), EXT_MISMATCH_FACTOR);
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

    #[test]
    fn scores_combine_the_signals() {
        assert!((score_path("src/a.ts", "./src/a.ts") - 1.0).abs() < 1e-12);
        let moved = score_path("src/agent_gmail.ts", "src/agents/gmail_agent.ts");
        let expected = combine(1.0, soft_jaccard(&["src".into()], "src/agents"), 1.0);
        assert_eq!(moved, expected);
        assert!(score_path("src/a.ts", "src/a.py") <= EXT_MISMATCH_FACTOR);
    }
}
