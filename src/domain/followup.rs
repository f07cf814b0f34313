//! The follow-up vocabulary (what a follow-up is about, where a human is with it, which GitHub
//! object it tracks) and the `PATCH /api/followups/:id` body.

use super::validate::{body_object, kind, Checker};
use crate::error::ApiResult;
use crate::vocabulary;
use serde_json::Value;

vocabulary! {
    /// What a follow-up is about (the TypeScript schema's names).
    pub enum FollowupType {
        Blocked => "blocked",
        Improvement => "improvement",
        Warning => "warning",
        AutoFixProposed => "auto-fix-proposed",
        AutoFixApplied => "auto-fix-applied",
    }
}

vocabulary! {
    /// Where a human (or the GitHub loop) is with a follow-up.
    pub enum FollowupStatus {
        Open => "open",
        Triaging => "triaging",
        Fixed => "fixed",
        Wontfix => "wontfix",
        NeedsHuman => "needs_human",
    }
}

vocabulary! {
    /// The GitHub object a follow-up tracks.
    pub enum GithubKind {
        Issue => "issue",
        Pull => "pull",
    }
}

impl FollowupStatus {
    /// Still waiting for someone: at most one such follow-up per (task, type).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            FollowupStatus::Open | FollowupStatus::Triaging | FollowupStatus::NeedsHuman
        )
    }

    /// The SQL list of active statuses, for `status IN (...)` (our constants, never input).
    pub const ACTIVE_SQL: &'static str = "('open', 'triaging', 'needs_human')";
}

/// A validated `PATCH /api/followups/:id` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowupPatch {
    pub status: FollowupStatus,
    pub note: Option<String>,
    pub actor: Option<String>,
}

pub const MAX_NOTE: usize = 2000;
pub const MAX_ACTOR: usize = 128;

pub fn parse_followup_patch(body: &Value) -> ApiResult<FollowupPatch> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let allowed = FollowupStatus::allowed_list();
    let status = match obj.get("status") {
        None | Some(Value::Null) => {
            check.fail("status", format!("is required; one of {allowed}"));
            None
        }
        Some(Value::String(s)) => FollowupStatus::parse(s).or_else(|| {
            check.fail(
                "status",
                format!("'{s}' is not a follow-up status; one of {allowed}"),
            );
            None
        }),
        Some(other) => {
            check.fail(
                "status",
                format!("must be a string, not {}; one of {allowed}", kind(other)),
            );
            None
        }
    };
    let note = check.optional_str(obj, "note", "note", MAX_NOTE);
    let actor = check.optional_str(obj, "actor", "actor", MAX_ACTOR);
    for key in obj.keys() {
        if !matches!(key.as_str(), "status" | "note" | "actor") {
            check.fail(
                key.as_str(),
                "is not a field of this body (status, note, actor)",
            );
        }
    }
    check.finish()?;
    Ok(FollowupPatch {
        status: status.expect("status checked above"),
        note: note.map(str::to_owned),
        actor: actor.map(str::to_owned),
    })
}

/// A GitHub object parsed from its web URL (`https://github.com/OWNER/REPO/issues/N` or
/// `.../pull/N`), for follow-ups written before the kind, repository and number were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRef {
    pub kind: GithubKind,
    pub repo: String,
    pub number: u64,
}

pub fn parse_github_url(url: &str) -> Option<GithubRef> {
    let rest = url.strip_prefix("https://github.com/")?;
    let mut parts = rest.split('/');
    let (owner, repo, kind, number) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let kind = match kind {
        "issues" => GithubKind::Issue,
        "pull" => GithubKind::Pull,
        _ => return None,
    };
    if owner.is_empty() || repo.is_empty() {
        return None;
    }
    Some(GithubRef {
        kind,
        repo: format!("{owner}/{repo}"),
        number: number.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::json;

    #[test]
    fn vocabularies_round_trip() {
        for status in FollowupStatus::ALL {
            assert_eq!(FollowupStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(
            FollowupStatus::allowed_list(),
            "open, triaging, fixed, wontfix, needs_human"
        );
        assert_eq!(FollowupType::AutoFixApplied.as_str(), "auto-fix-applied");
        assert!(FollowupStatus::NeedsHuman.is_active());
        assert!(!FollowupStatus::Wontfix.is_active());
    }

    #[test]
    fn patch_bodies() {
        let patch =
            parse_followup_patch(&json!({"status": "fixed", "note": "done", "actor": "ana"}))
                .unwrap();
        assert_eq!(patch.status, FollowupStatus::Fixed);
        assert_eq!(patch.actor.as_deref(), Some("ana"));
        let Err(ApiError::Validation(errors)) = parse_followup_patch(&json!({"status": "closed"}))
        else {
            panic!("accepted 'closed'")
        };
        assert!(errors[0]
            .message
            .contains("open, triaging, fixed, wontfix, needs_human"));
        assert!(parse_followup_patch(&json!({})).is_err());
        assert!(parse_followup_patch(&json!({"status": "open", "note": 3})).is_err());
        assert!(parse_followup_patch(&json!({"status": "open", "colour": "red"})).is_err());
    }

    #[test]
    fn github_urls() {
        assert_eq!(
            parse_github_url("https://github.com/acme/tpl/issues/12"),
            Some(GithubRef {
                kind: GithubKind::Issue,
                repo: "acme/tpl".into(),
                number: 12
            })
        );
        assert_eq!(
            parse_github_url("https://github.com/acme/tpl/pull/7").map(|r| r.kind),
            Some(GithubKind::Pull)
        );
        assert_eq!(
            parse_github_url("https://example.com/acme/tpl/pull/7"),
            None
        );
        assert_eq!(parse_github_url("https://github.com/acme/tpl/tree/7"), None);
    }
}
