//! `GET /api/ops/archive?day=YYYY-MM-DD[&source=...][&cursor=&limit=]`: the operation log rows
//! that left D1 (see `archive`). Without `source`, the day's objects; with it, their rows.

use crate::archive::{self, plan};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{self, query_pairs};
use serde_json::json;
use worker::{Env, Request, Response};

pub const DEFAULT_ROWS: usize = 500;
pub const MAX_ROWS: usize = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
struct ArchiveQuery {
    day: String,
    source: Option<String>,
    after: i64,
    limit: usize,
}

fn parse_query<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> ApiResult<ArchiveQuery> {
    let mut query = ArchiveQuery {
        limit: DEFAULT_ROWS,
        ..Default::default()
    };
    let mut errors = Vec::new();
    let mut day = None;
    for (key, value) in pairs {
        match key {
            "day" => day = Some(value.to_owned()),
            "source" if !value.is_empty() => query.source = Some(value.to_owned()),
            "source" => errors.push(FieldError::new("source", "must not be empty")),
            "cursor" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => query.after = n,
                _ => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_ROWS).contains(&n) => query.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_ROWS}"),
                )),
            },
            _ => {}
        }
    }
    match day {
        Some(day) if plan::is_day(&day) => query.day = day,
        Some(_) => errors.push(FieldError::new("day", "must be a date as YYYY-MM-DD")),
        None => errors.push(FieldError::new("day", "is required (YYYY-MM-DD)")),
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub async fn get(req: &Request, env: &Env) -> ApiResult<Response> {
    let pairs = query_pairs(req)?;
    let query = parse_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let bucket = archive::bucket(env).ok_or(ApiError::ArchiveNotConfigured)?;
    let nothing = |what: String| ApiError::NotFound {
        resource: "archive",
        id: what,
    };
    let Some(source) = query.source else {
        let objects = archive::list_day(&bucket, &query.day).await?;
        if objects.is_empty() {
            return Err(nothing(query.day));
        }
        return http::json(200, &json!({ "day": query.day, "objects": objects }));
    };
    let (rows, next) = archive::read_rows(&bucket, &query.day, &source, query.after, query.limit)
        .await?
        .ok_or_else(|| nothing(format!("{} {source}", query.day)))?;
    http::json(
        200,
        &json!({
            "day": query.day,
            "source": source,
            "rows": rows,
            "next_cursor": next.map(|id| id.to_string()),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> ApiResult<ArchiveQuery> {
        parse_query(pairs.iter().copied())
    }

    #[test]
    fn a_day_is_required_and_checked() {
        assert_eq!(parse(&[]).unwrap_err().status(), 422);
        assert_eq!(parse(&[("day", "2026-02-30x")]).unwrap_err().status(), 422);
        let q = parse(&[
            ("day", "2026-02-03"),
            ("source", "agent"),
            ("cursor", "7"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(
            q,
            ArchiveQuery {
                day: "2026-02-03".into(),
                source: Some("agent".into()),
                after: 7,
                limit: 10
            }
        );
    }

    #[test]
    fn paging_values_are_bounded() {
        for bad in [
            ("limit", "0"),
            ("limit", "1001"),
            ("cursor", "-1"),
            ("cursor", "x"),
            ("source", ""),
        ] {
            assert_eq!(
                parse(&[("day", "2026-01-01"), bad]).unwrap_err().status(),
                422,
                "{bad:?}"
            );
        }
    }
}
