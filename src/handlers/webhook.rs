//! `POST /api/github/webhook`: GitHub tells us a pull request or issue we track was closed or
//! reopened. Authenticated by its signature (GitHub cannot send a bearer token), verified
//! before anything is parsed; a redelivery of the same `X-GitHub-Delivery` changes nothing.

use crate::config::Config;
use crate::domain::followup::FollowupStatus;
use crate::domain::github_event::{interpret, signature_matches, Delivery};
use crate::domain::oplog::{LogEntry, LogLevel};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{self, check_content_type};
use crate::store::followups::{self, Transition};
use crate::store::oplog;
use crate::store::{classify_write_error, internal, text, Db, WriteConflict};
use serde_json::{json, Value};
use worker::{Request, Response};

/// GitHub caps payloads at 25 MB, but the events we act on are far smaller; a few MiB covers
/// a pull request with a long description.
const MAX_WEBHOOK_BODY: usize = 2 << 20;

pub async fn receive(req: &mut Request, config: &Config, db: &Db) -> ApiResult<Response> {
    let secret = config
        .webhook_secret
        .as_ref()
        .ok_or(ApiError::WebhookNotConfigured)?;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let signature = header("x-hub-signature-256");
    let event = header("x-github-event").unwrap_or_default();
    let delivery = header("x-github-delivery").unwrap_or_default();
    let content_type = header("content-type");
    if header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_WEBHOOK_BODY)
    {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_WEBHOOK_BODY,
        });
    }
    let body = req
        .bytes()
        .await
        .map_err(|_| ApiError::InvalidJson("the body could not be read".into()))?;
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_WEBHOOK_BODY,
        });
    }
    if !signature_matches(secret.expose().as_bytes(), &body, signature.as_deref()) {
        return Err(ApiError::InvalidSignature);
    }
    check_content_type(content_type.as_deref())?;
    if delivery.is_empty() || delivery.len() > 128 {
        return Err(ApiError::Validation(vec![FieldError::new(
            "X-GitHub-Delivery",
            "is required (1 to 128 characters)",
        )]));
    }
    let payload: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let decision = interpret(&event, &payload);
    let actor = payload
        .pointer("/sender/login")
        .and_then(Value::as_str)
        .map(|login| format!("github:{login}"));

    let (outcome, ids) = match &decision {
        Delivery::Ping => ("pong", Vec::new()),
        Delivery::Ignore(_) => ("ignored", Vec::new()),
        Delivery::Apply {
            kind,
            repo,
            number,
            to,
            ..
        } => {
            let tracked = followups::tracking(db, repo, *kind, *number).await?;
            let ids = targets(&tracked, *to);
            (if ids.is_empty() { "ignored" } else { "applied" }, ids)
        }
    };

    let mut statements = vec![db
        .prepare("INSERT INTO github_deliveries (delivery_id, event) VALUES (?1, ?2)")
        .bind(&[text(&delivery), text(&event)])
        .map_err(internal("binding delivery"))?];
    if let Delivery::Apply { to, .. } = &decision {
        let change = Transition {
            to: *to,
            note: None,
            actor: actor.as_deref(),
            source: "github_webhook",
        };
        for id in &ids {
            statements.extend(
                followups::transition_statements(db, *id, &change)
                    .map_err(internal("binding follow-up change"))?,
            );
        }
    }
    let details = json!({
        "event": event,
        "delivery": delivery,
        "outcome": outcome,
        "followups": ids,
        "why": match &decision { Delivery::Ignore(why) => Some(why.as_str()), _ => None },
        "action": payload.get("action"),
        "repository": payload.pointer("/repository/full_name"),
    });
    let level = if outcome == "applied" {
        LogLevel::Info
    } else {
        LogLevel::Debug
    };
    let entry = LogEntry::orchestrator("github_webhook", details)
        .level(level)
        .source("github");
    statements.push(oplog::insert_statement(db, &entry).map_err(internal("binding log"))?);

    let outcome = match db.batch(statements).await {
        Ok(_) => outcome,
        Err(err) => match classify_write_error(&err.to_string()) {
            WriteConflict::Unique { table } if table == "github_deliveries" => "duplicate",
            _ => return Err(internal("applying webhook delivery")(err)),
        },
    };
    let ids = if outcome == "duplicate" {
        Vec::new()
    } else {
        ids
    };
    http::json(
        200,
        &json!({ "ok": true, "event": event, "delivery": delivery, "outcome": outcome,
                 "followups": ids }),
    )
}

/// The follow-ups a transition to `to` applies to: a reopening reopens the newest closed one;
/// a closing closes every active one.
fn targets(tracked: &[(i64, String)], to: FollowupStatus) -> Vec<i64> {
    let active = |status: &str| FollowupStatus::parse(status).is_some_and(|s| s.is_active());
    if to == FollowupStatus::Open {
        tracked
            .iter()
            .find(|(_, status)| !active(status))
            .map(|(id, _)| vec![*id])
            .unwrap_or_default()
    } else {
        tracked
            .iter()
            .filter(|(_, status)| active(status) && status != to.as_str())
            .map(|(id, _)| *id)
            .collect()
    }
}
