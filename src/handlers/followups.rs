//! `GET /api/followups/:id` and `PATCH /api/followups/:id`: one follow-up and its lifecycle.

use crate::domain::followup::parse_followup_patch;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json};
use crate::store::followups::{self, PatchOutcome, Transition};
use crate::store::Db;
use worker::{Request, Response};

const MAX_PATCH_BODY: usize = 8 * 1024;

fn parse_id(id: &str) -> ApiResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "follow-up",
        id: id.to_owned(),
    }
}

pub async fn get(db: &Db, id: &str) -> ApiResult<Response> {
    let number = parse_id(id)?;
    let followup = followups::get_json(db, number)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(followup.response(200)?)
}

pub async fn patch(req: &mut Request, db: &Db, id: &str) -> ApiResult<Response> {
    let patch = parse_followup_patch(&read_json(req, MAX_PATCH_BODY).await?)?;
    let number = parse_id(id)?;
    let change = Transition {
        to: patch.status,
        note: patch.note.as_deref(),
        actor: patch.actor.as_deref(),
        source: "api",
    };
    match followups::set_status(db, number, &change).await? {
        PatchOutcome::Updated(view) => http::raw_json(200, view),
        PatchOutcome::NotFound => Err(not_found(id)),
        PatchOutcome::Conflict { other } => Err(ApiError::FollowupConflict { id: number, other }),
    }
}
