//! The pure half of the operation-log archive: which rows go to which object, how an object's
//! text is built (JSON Lines), how a new batch merges into what an earlier run already wrote,
//! and how a read-back copy is checked. No I/O here; `archive::run` does the D1 and R2 calls.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// A part of one (day, source) stops taking rows once its text reaches this size, and the next
/// part starts: every object is read, merged and written whole, so a busy source's day must not
/// grow one object without bound (a Worker has 128 MB).
pub const PART_MAX_BYTES: usize = 8 << 20;
/// A run takes at most this many bytes of rows (as JSON Lines) out of D1.
pub const RUN_MAX_BYTES: usize = 8 << 20;
/// Where every archive key starts.
pub const PREFIX: &str = "ops/";
const SUFFIX: &str = ".jsonl.gz";
/// The day rows without a readable `ts` are filed under. Every row D1 writes has one (the column
/// defaults to `CURRENT_TIMESTAMP` and no insert sets it), so this only catches hand-made rows.
pub const UNDATED_DAY: &str = "1970-01-01";
/// An encoded source longer than this is cut and suffixed with a hash, so a key never nears
/// R2's 1024-byte limit whatever a (TypeScript-era) client wrote as its source.
const MAX_KEY_SOURCE: usize = 200;

/// One `operation_logs` row exactly as D1 stores it: `details` stays the stored text, so an
/// archived row reads back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedRow {
    pub id: i64,
    pub ts: Option<String>,
    pub source: String,
    pub order_id: Option<String>,
    pub task_uuid: Option<String>,
    pub operation: String,
    pub level: String,
    pub details: String,
}

impl ArchivedRow {
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("a row of strings and an integer serialises")
    }

    pub fn day(&self) -> String {
        day_of(self.ts.as_deref())
    }
}

/// The `YYYY-MM-DD` of a D1 timestamp (`YYYY-MM-DD HH:MM:SS`).
pub fn day_of(ts: Option<&str>) -> String {
    ts.and_then(|ts| ts.get(..10))
        .filter(|day| is_day(day))
        .unwrap_or(UNDATED_DAY)
        .to_owned()
}

/// `YYYY-MM-DD` with a plausible month and day (the calendar's finer points do not matter: a
/// day that never existed simply has no objects).
pub fn is_day(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) {
        return false;
    }
    if !digits(8..10) {
        return false;
    }
    let month: u32 = value[5..7].parse().unwrap_or(0);
    let day: u32 = value[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// `ops/YYYY-MM-DD/`: the prefix listing one day's objects.
pub fn day_prefix(day: &str) -> String {
    format!("{PREFIX}{day}/")
}

/// `ops/YYYY-MM-DD/<source>`: every part of one (day, source) starts with this and a `.`
/// (a source's own dots are encoded, so `agent` never lists `agent.x`'s parts).
pub fn source_prefix(day: &str, source: &str) -> String {
    format!("{}{}.", day_prefix(day), key_source(source))
}

/// `ops/YYYY-MM-DD/<source>.jsonl.gz` for the first part, `<source>.<n>.jsonl.gz` after it.
pub fn object_key(day: &str, source: &str, part: u32) -> String {
    let base = format!("{}{}", day_prefix(day), key_source(source));
    if part <= 1 {
        format!("{base}{SUFFIX}")
    } else {
        format!("{base}.{part}{SUFFIX}")
    }
}

/// The part number of a key under `source_prefix` (1 for the unnumbered first part).
pub fn part_of(key: &str, source_prefix: &str) -> Option<u32> {
    let rest = key.strip_prefix(source_prefix)?;
    if rest == &SUFFIX[1..] {
        return Some(1);
    }
    let n = rest.strip_suffix(SUFFIX)?;
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().filter(|n| *n >= 2)
}

/// A source as it appears in a key: `[A-Za-z0-9_-]` kept, every other byte `%XX`.
fn key_source(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for byte in source.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.len() > MAX_KEY_SOURCE {
        let digest = Sha256::digest(source.as_bytes());
        let mut cut = out[..MAX_KEY_SOURCE - 20].to_owned();
        // Never leave half a `%XX` at the cut.
        while cut.len() > 2 && cut[cut.len().saturating_sub(2)..].contains('%') {
            cut.pop();
        }
        out = format!("{cut}~{}", hex(&digest[..8]));
    }
    out
}

/// One (day, source) of a batch, its rows in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    pub day: String,
    pub source: &'a str,
    pub rows: Vec<&'a ArchivedRow>,
}

impl Group<'_> {
    pub fn ids(&self) -> Vec<i64> {
        self.rows.iter().map(|r| r.id).collect()
    }
}

/// The batch's rows by (day, source), in key order, each group's rows in id order.
pub fn group(rows: &[ArchivedRow]) -> Vec<Group<'_>> {
    let mut groups: BTreeMap<(String, &str), Vec<&ArchivedRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.day(), row.source.as_str()))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|((day, source), mut rows)| {
            crate::sort::sort_by_key(&mut rows, |r| r.id);
            Group { day, source, rows }
        })
        .collect()
}

/// How many of `rows` (in order) one run takes: as many as fit in `max_bytes` of JSON Lines,
/// and at least one, so a single huge row still moves.
pub fn fit(rows: &[ArchivedRow], max_bytes: usize) -> usize {
    let mut total = 0;
    for (i, row) in rows.iter().enumerate() {
        total += row.line().len() + 1;
        if total > max_bytes {
            return i.max(1);
        }
    }
    rows.len()
}

/// Why a batch could not be merged into an existing object. Nothing is written or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// The object's text is not JSON Lines of rows (line number, 1-based).
    Unreadable { line: usize },
    /// The object holds a row with this id whose content differs from D1's: someone else
    /// wrote the object, or the row changed in D1 after it was archived.
    Conflict { id: i64 },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Unreadable { line } => {
                write!(
                    f,
                    "the existing object is not JSON Lines of rows (line {line})"
                )
            }
            MergeError::Conflict { id } => write!(
                f,
                "the existing object holds row {id} with other content than D1"
            ),
        }
    }
}

/// The rows of an object's text, in order.
pub fn parse_lines(text: &str) -> Result<Vec<ArchivedRow>, MergeError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|_| MergeError::Unreadable { line: i + 1 })
        })
        .collect()
}

/// What a part will hold after the merge, and what to check when it is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The full JSON Lines text to write (the existing lines verbatim, then the new ones).
    pub text: String,
    pub rows: usize,
    /// Rows of the batch not in the object before (0: an earlier run wrote them all already,
    /// and only the delete is left to do).
    pub added: usize,
    pub first_id: i64,
    pub last_id: i64,
    pub sha256: String,
}

/// Merges a group's rows into a part's existing text. A row already in the object with the same
/// content is one an interrupted run archived but did not delete: it is not written twice. A row
/// with the same id and other content stops the merge. The result never holds fewer rows than
/// the existing object.
pub fn merge(existing: Option<&str>, rows: &[&ArchivedRow]) -> Result<Merged, MergeError> {
    let existing_text = existing.unwrap_or("");
    let old = parse_lines(existing_text)?;
    let by_id: HashMap<i64, &ArchivedRow> = old.iter().map(|r| (r.id, r)).collect();
    let mut text = existing_text.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let mut added = 0;
    for row in rows {
        match by_id.get(&row.id) {
            Some(stored) if *stored == *row => {}
            Some(_) => return Err(MergeError::Conflict { id: row.id }),
            None => {
                text.push_str(&row.line());
                text.push('\n');
                added += 1;
            }
        }
    }
    let ids = old.iter().map(|r| r.id).chain(rows.iter().map(|r| r.id));
    let (first_id, last_id) = ids.fold((i64::MAX, i64::MIN), |(lo, hi), id| {
        (lo.min(id), hi.max(id))
    });
    Ok(Merged {
        sha256: sha256_hex(text.as_bytes()),
        rows: old.len() + added,
        added,
        first_id,
        last_id,
        text,
    })
}

/// Why a read-back copy does not match what was written. The rows stay in D1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    Hash,
    LineCount { expected: usize, found: usize },
    Missing { id: i64 },
    Unreadable(MergeError),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Hash => f.write_str("the read-back object's SHA-256 differs"),
            VerifyError::LineCount { expected, found } => {
                write!(f, "the read-back object has {found} rows, not {expected}")
            }
            VerifyError::Missing { id } => write!(f, "the read-back object lacks row {id}"),
            VerifyError::Unreadable(err) => write!(f, "the read-back object: {err}"),
        }
    }
}

/// Checks the object read back after the write: same hash, same number of rows, and every row
/// of the group in it, equal to D1's. Only then may the group's rows be deleted.
pub fn verify(read_back: &str, merged: &Merged, group: &[&ArchivedRow]) -> Result<(), VerifyError> {
    if sha256_hex(read_back.as_bytes()) != merged.sha256 {
        return Err(VerifyError::Hash);
    }
    let rows = parse_lines(read_back).map_err(VerifyError::Unreadable)?;
    if rows.len() != merged.rows {
        return Err(VerifyError::LineCount {
            expected: merged.rows,
            found: rows.len(),
        });
    }
    let by_id: HashMap<i64, &ArchivedRow> = rows.iter().map(|r| (r.id, r)).collect();
    for row in group {
        if by_id.get(&row.id) != Some(row) {
            return Err(VerifyError::Missing { id: row.id });
        }
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, ts: &str, source: &str) -> ArchivedRow {
        ArchivedRow {
            id,
            ts: Some(ts.into()),
            source: source.into(),
            order_id: None,
            task_uuid: Some("ABC123".into()),
            operation: "op".into(),
            level: "info".into(),
            details: format!("{{\"n\":{id}}}"),
        }
    }

    #[test]
    fn groups_by_day_and_source_in_id_order() {
        let rows = vec![
            row(3, "2026-01-02 00:00:01", "agent"),
            row(1, "2026-01-01 23:59:59", "agent"),
            row(2, "2026-01-01 10:00:00", "factory-init"),
            row(4, "2026-01-01 12:00:00", "agent"),
        ];
        let groups = group(&rows);
        let summary: Vec<(String, &str, Vec<i64>)> = groups
            .iter()
            .map(|g| (g.day.clone(), g.source, g.ids()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("2026-01-01".into(), "agent", vec![1, 4]),
                ("2026-01-01".into(), "factory-init", vec![2]),
                ("2026-01-02".into(), "agent", vec![3]),
            ]
        );
    }

    #[test]
    fn undated_rows_get_a_fixed_day() {
        assert_eq!(day_of(None), UNDATED_DAY);
        assert_eq!(day_of(Some("yesterday")), UNDATED_DAY);
        assert_eq!(day_of(Some("2026-03-04 05:06:07")), "2026-03-04");
    }

    #[test]
    fn days_are_checked() {
        assert!(is_day("2026-12-31"));
        for bad in [
            "2026-13-01",
            "2026-00-10",
            "26-01-01",
            "2026-01-1",
            "2026/01/01",
            "2026-01-32",
            "",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }

    #[test]
    fn keys_encode_the_source_and_number_parts() {
        assert_eq!(
            object_key("2026-01-01", "agent", 1),
            "ops/2026-01-01/agent.jsonl.gz"
        );
        assert_eq!(
            object_key("2026-01-01", "agent", 3),
            "ops/2026-01-01/agent.3.jsonl.gz"
        );
        assert_eq!(
            object_key("2026-01-01", "a.b/c d", 1),
            "ops/2026-01-01/a%2Eb%2Fc%20d.jsonl.gz"
        );
        let prefix = source_prefix("2026-01-01", "agent");
        assert_eq!(part_of("ops/2026-01-01/agent.jsonl.gz", &prefix), Some(1));
        assert_eq!(
            part_of("ops/2026-01-01/agent.12.jsonl.gz", &prefix),
            Some(12)
        );
        assert_eq!(part_of("ops/2026-01-01/agent%2Ex.jsonl.gz", &prefix), None);
        assert_eq!(part_of("ops/2026-01-01/agentx.jsonl.gz", &prefix), None);
    }

    #[test]
    fn long_sources_make_bounded_distinct_keys() {
        let a = object_key("2026-01-01", &"é".repeat(500), 1);
        let b = object_key("2026-01-01", &format!("{}x", "é".repeat(500)), 1);
        assert!(a.len() < 260, "{}", a.len());
        assert_ne!(a, b);
        assert!(!a.contains("%C~") && !a.contains("%~"), "{a}");
    }

    #[test]
    fn a_run_takes_what_fits_and_at_least_one_row() {
        let rows: Vec<_> = (1..=10)
            .map(|i| row(i, "2026-01-01 00:00:00", "s"))
            .collect();
        let one = rows[0].line().len() + 1;
        assert_eq!(fit(&rows, one * 3), 3);
        assert_eq!(fit(&rows, one * 3 + 1), 3);
        assert_eq!(fit(&rows, 1), 1);
        assert_eq!(fit(&rows, usize::MAX), 10);
    }

    #[test]
    fn jsonl_round_trips_rows_exactly() {
        let mut r = row(7, "2026-01-01 00:00:00", "agent");
        r.details = "{\"b\": 1.50, \"a\": \"\\u00e9\\n\"}".into();
        let merged = merge(None, &[&r]).unwrap();
        assert_eq!(parse_lines(&merged.text).unwrap(), vec![r]);
        assert_eq!(merged.text.lines().count(), 1);
    }

    #[test]
    fn merging_appends_new_rows_and_skips_archived_ones() {
        let rows: Vec<_> = (1..=4)
            .map(|i| row(i, "2026-01-01 00:00:00", "s"))
            .collect();
        let first = merge(None, &[&rows[0], &rows[1]]).unwrap();
        assert_eq!((first.rows, first.added), (2, 2));
        // An interrupted run wrote rows 1-2 but did not delete them: they come again with 3-4.
        let second = merge(Some(&first.text), &[&rows[0], &rows[1], &rows[2], &rows[3]]).unwrap();
        assert_eq!((second.rows, second.added), (4, 2));
        assert!(second.text.starts_with(&first.text));
        assert_eq!((second.first_id, second.last_id), (1, 4));
        verify(&second.text, &second, &rows.iter().collect::<Vec<_>>()).unwrap();
    }

    #[test]
    fn conflicting_or_unreadable_objects_stop_the_merge() {
        let a = row(1, "2026-01-01 00:00:00", "s");
        let mut changed = a.clone();
        changed.details = "{}".into();
        let first = merge(None, &[&a]).unwrap();
        assert_eq!(
            merge(Some(&first.text), &[&changed]),
            Err(MergeError::Conflict { id: 1 })
        );
        assert_eq!(
            merge(Some("not json\n"), &[&a]),
            Err(MergeError::Unreadable { line: 1 })
        );
    }

    #[test]
    fn verification_catches_a_different_copy() {
        let rows: Vec<_> = (1..=3)
            .map(|i| row(i, "2026-01-01 00:00:00", "s"))
            .collect();
        let refs: Vec<_> = rows.iter().collect();
        let merged = merge(None, &refs).unwrap();
        let truncated: String = merged
            .text
            .lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(verify(&truncated, &merged, &refs), Err(VerifyError::Hash));
        let other = merge(None, &refs[..2]).unwrap();
        assert_eq!(
            verify(&other.text, &other, &refs),
            Err(VerifyError::Missing { id: 3 })
        );
    }
}
