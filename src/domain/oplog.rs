//! The operation log's inputs: an entry (posted by a factory or agent, or written by the
//! orchestrator itself), and the filters of a read.

use super::page::Paging;
use super::validate::{body_object, kind, Checker};
use crate::error::{ApiError, ApiResult, FieldError};
use serde_json::{Map, Value};
use std::borrow::Cow;

pub const MAX_SOURCE: usize = 64;
pub const MAX_OPERATION: usize = 128;
pub const MAX_ID: usize = 64;
/// Serialised `details` (and error `context`) beyond this are not log material.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// This level and every more severe one, for a "minimum level" filter.
    pub fn and_above(self) -> impl Iterator<Item = LogLevel> {
        Self::ALL.into_iter().filter(move |l| *l >= self)
    }
}

const LEVELS: &str = "debug, info, warn, error, critical";

/// One row to append to `operation_logs`, whoever writes it: a validated `POST /api/ops/log`
/// body borrows its strings from the request's JSON, the orchestrator's own entries borrow
/// theirs from the code and the rows they record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry<'a> {
    pub source: &'a str,
    pub operation: &'a str,
    pub level: LogLevel,
    pub order_id: Option<&'a str>,
    pub task_uuid: Option<&'a str>,
    /// A JSON object (the store writes it as text): a posted entry's borrowed from the request
    /// body, not copied.
    pub details: Cow<'a, Value>,
}

impl<'a> LogEntry<'a> {
    /// An `info` entry written by the orchestrator itself.
    pub fn orchestrator(operation: &'a str, details: Value) -> Self {
        Self {
            source: "orchestrator",
            operation,
            level: LogLevel::Info,
            order_id: None,
            task_uuid: None,
            details: Cow::Owned(details),
        }
    }

    pub fn order(mut self, order_id: &'a str) -> Self {
        self.order_id = Some(order_id);
        self
    }

    pub fn task(mut self, task_uuid: &'a str) -> Self {
        self.task_uuid = Some(task_uuid);
        self
    }

    pub fn level(mut self, level: LogLevel) -> Self {
        self.level = level;
        self
    }

    pub fn source(mut self, source: &'a str) -> Self {
        self.source = source;
        self
    }
}

/// A `POST /api/ops/log` body as the entry to append.
pub fn parse_log_entry(body: &Value) -> ApiResult<LogEntry<'_>> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let source = check.required_str(obj, "source", "source", MAX_SOURCE);
    let operation = check.required_str(obj, "operation", "operation", MAX_OPERATION);
    let level = match obj.get("level") {
        None | Some(Value::Null) => Some(LogLevel::Info),
        Some(Value::String(s)) => LogLevel::parse(s).or_else(|| {
            check.fail("level", format!("'{s}' is not a level; one of {LEVELS}"));
            None
        }),
        Some(other) => {
            check.fail("level", format!("must be a string, not {}", kind(other)));
            None
        }
    };
    let order_id = check.optional_str(obj, "order_id", "order_id", MAX_ID);
    let task_uuid = check.optional_str(obj, "task_uuid", "task_uuid", MAX_ID);
    let details = json_object(&mut check, obj, "details", "details");
    check.finish()?;
    Ok(LogEntry {
        source: source.unwrap_or_default(),
        operation: operation.unwrap_or_default(),
        level: level.unwrap_or(LogLevel::Info),
        order_id,
        task_uuid,
        details: details.map_or_else(|| Cow::Owned(Value::Object(Map::new())), Cow::Borrowed),
    })
}

/// An optional JSON object field, serialised, at most [`MAX_DETAILS_BYTES`]. `None` when absent.
pub fn json_object_field(
    check: &mut Checker,
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Option<String> {
    json_object(check, obj, key, path).map(Value::to_string)
}

/// An optional JSON object field of at most [`MAX_DETAILS_BYTES`] as JSON. `None` when absent.
fn json_object<'v>(
    check: &mut Checker,
    obj: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Option<&'v Value> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => {
            if json_len(value) > MAX_DETAILS_BYTES {
                check.fail(
                    path,
                    format!("must be at most {MAX_DETAILS_BYTES} bytes as JSON"),
                );
                None
            } else {
                Some(value)
            }
        }
        Some(other) => {
            check.fail(path, format!("must be an object, not {}", kind(other)));
            None
        }
    }
}

/// The length of `value` as JSON text, counted without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Neither a `Value` nor this writer can fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The filters of `GET /api/ops/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogQuery {
    pub order_id: Option<String>,
    pub task_uuid: Option<String>,
    pub source: Option<String>,
    pub min_level: Option<LogLevel>,
    /// `YYYY-MM-DD HH:MM:SS`, UTC, as D1's `CURRENT_TIMESTAMP` writes `ts`.
    pub since: Option<String>,
    pub page: Paging,
}

/// Parses the query string pairs; unknown parameters are ignored, as HTTP clients expect.
pub fn parse_log_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ApiResult<LogQuery> {
    let mut query = LogQuery::default();
    let mut errors = Vec::new();
    for (key, value) in pairs {
        if let Some(taken) = query.page.accept(key, value) {
            errors.extend(taken.err());
            continue;
        }
        let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));
        let bounded = |max: usize| !value.is_empty() && value.chars().count() <= max;
        match key {
            "order_id" | "task_uuid" | "source" => {
                if !bounded(MAX_ID) {
                    fail(key, format!("must be 1 to {MAX_ID} characters"));
                    continue;
                }
                let slot = match key {
                    "order_id" => &mut query.order_id,
                    "task_uuid" => &mut query.task_uuid,
                    _ => &mut query.source,
                };
                *slot = Some(value.to_owned());
            }
            "level" => match LogLevel::parse(value) {
                Some(level) => query.min_level = Some(level),
                None => fail(
                    "level",
                    format!("'{value}' is not a level; one of {LEVELS}"),
                ),
            },
            "since" => match normalise_timestamp(value) {
                Some(ts) => query.since = Some(ts),
                None => fail(
                    "since",
                    "must be a UTC time: RFC 3339 with Z or +00:00, or YYYY-MM-DD HH:MM:SS".into(),
                ),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `2026-11-24T20:00:00Z`, `2026-11-24T20:00:00.123+00:00` or `2026-11-24 20:00:00` to the
/// `YYYY-MM-DD HH:MM:SS` that `ts` holds, so text order is time order. Other offsets are
/// refused rather than converted: `ts` is UTC and a silent shift would mislead.
pub fn normalise_timestamp(value: &str) -> Option<String> {
    let value = value.trim();
    let date = value.get(..10)?;
    let sep = *value.as_bytes().get(10)?;
    let time = value.get(11..19)?;
    let mut tail = value.get(19..)?;
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let [year, month, day] = fields(date, b'-', [4, 2, 2])?;
    let [hour, minute, second] = fields(time, b':', [2, 2, 2])?;
    let in_range = year > 0
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !in_range {
        return None;
    }
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        tail = &frac[digits..];
    }
    match tail {
        "" | "Z" | "z" | "+00:00" | "-00:00" => Some(format!("{date} {time}")),
        _ => None,
    }
}

/// Three all-digit fields of the given widths separated by `sep`.
fn fields(text: &str, sep: u8, widths: [usize; 3]) -> Option<[u32; 3]> {
    let mut parts = text.split(sep as char);
    let mut out = [0; 3];
    for (slot, width) in out.iter_mut().zip(widths) {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_default_to_info_and_empty_details() {
        let body = json!({"source": "factory-init", "operation": "fetch"});
        let entry = parse_log_entry(&body).unwrap();
        assert_eq!(entry.level, LogLevel::Info);
        assert_eq!(*entry.details, json!({}));
        assert_eq!(entry.order_id, None);
    }

    #[test]
    fn entries_name_every_bad_field() {
        let Err(ApiError::Validation(errors)) = parse_log_entry(&json!({
            "source": "", "operation": 3, "level": "loud", "details": [1], "order_id": 5
        })) else {
            panic!("accepted")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["source", "operation", "level", "order_id", "details"]
        );
        let big = json!({"source": "s", "operation": "o", "details": {"x": "y".repeat(MAX_DETAILS_BYTES)}});
        assert!(parse_log_entry(&big).is_err());
        // `{"x":"` and `"}` are 8 bytes of the limit.
        let fits = json!({"source": "s", "operation": "o", "details": {"x": "y".repeat(MAX_DETAILS_BYTES - 8)}});
        assert_eq!(
            parse_log_entry(&fits).unwrap().details.to_string().len(),
            MAX_DETAILS_BYTES
        );
    }

    #[test]
    fn minimum_levels() {
        let above: Vec<_> = LogLevel::Warn.and_above().map(LogLevel::as_str).collect();
        assert_eq!(above, ["warn", "error", "critical"]);
    }

    #[test]
    fn queries() {
        let q = parse_log_query([
            ("order_id", "ORD-1"),
            ("level", "error"),
            ("since", "2026-11-24T20:00:00Z"),
            ("limit", "3"),
            ("cursor", "42"),
            ("other", "ignored"),
        ])
        .unwrap();
        assert_eq!(q.order_id.as_deref(), Some("ORD-1"));
        assert_eq!(q.min_level, Some(LogLevel::Error));
        assert_eq!(q.since.as_deref(), Some("2026-11-24 20:00:00"));
        assert_eq!(
            q.page,
            Paging {
                limit: 3,
                before_id: Some(42)
            }
        );
        assert_eq!(parse_log_query([]).unwrap().page, Paging::default());
        for bad in [
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "x"),
            ("cursor", "-1"),
            ("level", "loud"),
            ("since", "yesterday"),
            ("source", ""),
        ] {
            assert!(parse_log_query([bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        let ok = [
            ("2026-11-24T20:01:02Z", "2026-11-24 20:01:02"),
            ("2026-11-24t20:01:02.123456z", "2026-11-24 20:01:02"),
            ("2026-11-24T20:01:02+00:00", "2026-11-24 20:01:02"),
            ("2026-11-24 20:01:02", "2026-11-24 20:01:02"),
        ];
        for (input, want) in ok {
            assert_eq!(normalise_timestamp(input).as_deref(), Some(want), "{input}");
        }
        for bad in [
            "2026-11-24T20:01:02+02:00",
            "2026-11-24T20:01",
            "24/11/2026",
            "2026-11-24T20:01:02.Z",
            "2026-1-24T20:01:02Z",
            "",
            "2026-11-24X20:01:02Z",
            "2026-11-24",
            "2026-13-01 00:00:00",
            "2026-11-24 24:00:00",
        ] {
            assert_eq!(normalise_timestamp(bad), None, "{bad}");
        }
    }
}
