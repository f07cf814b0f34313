//! The filters of `GET /api/followups`: the human queue, by order, task, type and status.

use super::followup::{FollowupStatus, FollowupType};
use super::oplog::MAX_ID;
use super::page::Paging;
use crate::error::{ApiError, ApiResult, FieldError};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowupQuery {
    pub order_id: Option<String>,
    pub task_uuid: Option<String>,
    pub kind: Option<FollowupType>,
    pub status: Option<FollowupStatus>,
    pub page: Paging,
}

pub fn parse_followup_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ApiResult<FollowupQuery> {
    let mut query = FollowupQuery::default();
    let mut errors = Vec::new();
    for (key, value) in pairs {
        if let Some(taken) = query.page.accept(key, value) {
            errors.extend(taken.err());
            continue;
        }
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
            "type" => match FollowupType::parse(value) {
                Some(kind) => query.kind = Some(kind),
                None => errors.push(FieldError::new(
                    "type",
                    format!(
                        "'{value}' is not a follow-up type; one of {}",
                        FollowupType::allowed_list()
                    ),
                )),
            },
            "status" => match FollowupStatus::parse(value) {
                Some(status) => query.status = Some(status),
                None => errors.push(FieldError::new(
                    "status",
                    format!(
                        "'{value}' is not a follow-up status; one of {}",
                        FollowupStatus::allowed_list()
                    ),
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
        assert_eq!(q.kind, Some(FollowupType::Blocked));
        assert_eq!(q.status, Some(FollowupStatus::Open));
        assert_eq!(q.page.limit, 10);
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
