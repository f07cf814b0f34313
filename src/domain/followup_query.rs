//! The filters of `GET /api/followups`: the human queue, by order, task, type and status.

use super::oplog::{DEFAULT_PAGE, MAX_ID, MAX_PAGE};
use crate::error::{ApiError, ApiResult, FieldError};

/// Follow-up types the orchestrator writes (and the TypeScript schema names).
pub const TYPES: [&str; 5] = [
    "blocked",
    "improvement",
    "warning",
    "auto-fix-proposed",
    "auto-fix-applied",
];
pub const STATUSES: [&str; 5] = ["open", "triaging", "fixed", "wontfix", "needs_human"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowupQuery {
    pub order_id: Option<String>,
    pub task_uuid: Option<String>,
    pub kind: Option<&'static str>,
    pub status: Option<&'static str>,
    pub limit: u32,
    pub before_id: Option<i64>,
}

pub fn parse_followup_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ApiResult<FollowupQuery> {
    let mut query = FollowupQuery {
        limit: DEFAULT_PAGE,
        ..FollowupQuery::default()
    };
    let mut errors = Vec::new();
    for (key, value) in pairs {
        let one_of = |allowed: &[&'static str]| allowed.iter().copied().find(|a| *a == value);
        match key {
            "order_id" | "task_uuid" => {
                if value.is_empty() || value.chars().count() > MAX_ID {
                    errors.push(FieldError::new(
                        key,
                        format!("must be 1 to {MAX_ID} characters"),
                    ));
                } else if key == "order_id" {
                    query.order_id = Some(value.to_owned());
                } else {
                    query.task_uuid = Some(value.to_owned());
                }
            }
            "type" => match one_of(&TYPES) {
                Some(kind) => query.kind = Some(kind),
                None => errors.push(FieldError::new(
                    "type",
                    format!(
                        "'{value}' is not a follow-up type; one of {}",
                        TYPES.join(", ")
                    ),
                )),
            },
            "status" => match one_of(&STATUSES) {
                Some(status) => query.status = Some(status),
                None => errors.push(FieldError::new(
                    "status",
                    format!(
                        "'{value}' is not a follow-up status; one of {}",
                        STATUSES.join(", ")
                    ),
                )),
            },
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => query.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_PAGE}"),
                )),
            },
            "cursor" => match value.parse::<i64>() {
                Ok(n) if n > 0 => query.before_id = Some(n),
                _ => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let q = parse_followup_query([
            ("order_id", "ORD-1"),
            ("type", "blocked"),
            ("status", "open"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(q.kind, Some("blocked"));
        assert_eq!(q.status, Some("open"));
        assert_eq!(q.limit, 10);
        for bad in [
            ("type", "bug"),
            ("status", "closed"),
            ("limit", "0"),
            ("cursor", "x"),
            ("task_uuid", ""),
        ] {
            assert!(parse_followup_query([bad]).is_err(), "{bad:?}");
        }
    }
}
