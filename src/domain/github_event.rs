//! GitHub's side of the loop, decided without I/O: verifying a webhook signature, and which
//! follow-up status a pull request's or issue's state means (for webhooks and reconciliation).

use super::followup::{FollowupStatus, GithubKind};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Whether `header` (`X-Hub-Signature-256`) is `sha256=` + the hex HMAC-SHA256 of `body` under
/// `secret`. The comparison is constant-time (`verify_slice`).
pub fn signature_matches(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(expected) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(decode_hex)
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The follow-up status a closed pull request or issue means.
pub fn status_when_closed(
    kind: GithubKind,
    merged: bool,
    state_reason: Option<&str>,
) -> FollowupStatus {
    match kind {
        GithubKind::Pull if merged => FollowupStatus::Fixed,
        GithubKind::Pull => FollowupStatus::NeedsHuman,
        GithubKind::Issue => match state_reason {
            Some("not_planned") | Some("duplicate") => FollowupStatus::Wontfix,
            _ => FollowupStatus::Fixed,
        },
    }
}

/// What a webhook delivery asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Ping,
    /// Move the follow-ups tracking this object to `to` (only closed ones when reopening).
    Apply {
        kind: GithubKind,
        repo: String,
        number: u64,
        to: FollowupStatus,
        action: String,
    },
    /// Nothing to do; why, for the log.
    Ignore(String),
}

/// Reads `X-GitHub-Event` and the payload.
pub fn interpret(event: &str, payload: &Value) -> Delivery {
    let action = payload.get("action").and_then(Value::as_str).unwrap_or("");
    let repo = payload
        .pointer("/repository/full_name")
        .and_then(Value::as_str);
    let (kind, object) = match event {
        "ping" => return Delivery::Ping,
        "pull_request" => (GithubKind::Pull, payload.get("pull_request")),
        "issues" => (GithubKind::Issue, payload.get("issue")),
        other => return Delivery::Ignore(format!("event '{other}' is not one we act on")),
    };
    let (Some(repo), Some(object)) = (repo, object) else {
        return Delivery::Ignore(format!("{event} payload without repository or object"));
    };
    let Some(number) = object.get("number").and_then(Value::as_u64) else {
        return Delivery::Ignore(format!("{event} payload without a number"));
    };
    let to = match (kind, action) {
        (_, "closed") => {
            let merged = object.get("merged").and_then(Value::as_bool) == Some(true);
            let reason = object.get("state_reason").and_then(Value::as_str);
            status_when_closed(kind, merged, reason)
        }
        (_, "reopened") => FollowupStatus::Open,
        _ => return Delivery::Ignore(format!("{event} action '{action}' changes nothing")),
    };
    Delivery::Apply {
        kind,
        repo: repo.to_owned(),
        number,
        to,
        action: action.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn signatures() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let header = sign("s3cret", body);
        assert!(signature_matches(b"s3cret", body, Some(&header)));
        assert!(!signature_matches(b"other", body, Some(&header)));
        assert!(!signature_matches(b"s3cret", b"{}", Some(&header)));
        assert!(!signature_matches(b"s3cret", body, None));
        assert!(!signature_matches(b"s3cret", body, Some("sha1=abc")));
        assert!(!signature_matches(b"s3cret", body, Some("sha256=zz")));
        // GitHub's documented example (webhooks docs, "Testing the webhook payload validation").
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        ));
    }

    #[test]
    fn events() {
        let pr = |merged| {
            json!({"action": "closed", "repository": {"full_name": "acme/tpl"},
                   "pull_request": {"number": 7, "merged": merged}})
        };
        assert_eq!(
            interpret("pull_request", &pr(true)),
            Delivery::Apply {
                kind: GithubKind::Pull,
                repo: "acme/tpl".into(),
                number: 7,
                to: FollowupStatus::Fixed,
                action: "closed".into()
            }
        );
        assert!(matches!(
            interpret("pull_request", &pr(false)),
            Delivery::Apply {
                to: FollowupStatus::NeedsHuman,
                ..
            }
        ));
        let issue = |action, reason| {
            json!({"action": action, "repository": {"full_name": "acme/tpl"},
                   "issue": {"number": 3, "state_reason": reason}})
        };
        assert!(matches!(
            interpret("issues", &issue("closed", "completed")),
            Delivery::Apply {
                to: FollowupStatus::Fixed,
                ..
            }
        ));
        assert!(matches!(
            interpret("issues", &issue("closed", "not_planned")),
            Delivery::Apply {
                to: FollowupStatus::Wontfix,
                ..
            }
        ));
        assert!(matches!(
            interpret("issues", &issue("reopened", "reopened")),
            Delivery::Apply {
                to: FollowupStatus::Open,
                ..
            }
        ));
        assert!(matches!(
            interpret("issues", &issue("labeled", "")),
            Delivery::Ignore(_)
        ));
        assert_eq!(interpret("ping", &json!({})), Delivery::Ping);
        assert!(matches!(interpret("push", &json!({})), Delivery::Ignore(_)));
    }
}
