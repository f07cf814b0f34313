//! One error batch, item by item: find the task, ask the [`Remediator`], record the outcome in
//! one D1 batch per item, and tell the factory what to do.
//!
//! Items run one after another (GitHub writes must not run in parallel) and each is isolated:
//! a failure in one becomes that item's answer, never the batch's.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{console_error, D1Database, D1PreparedStatement};

use super::github::GitHubError;
use super::verify::placeholder_marker;
use super::{PlaceholderOutcome, Remediator, RenameOutcome};
use crate::domain::error_report::{ErrorCode, ErrorItem};
use crate::error::ApiError;
use crate::store::followups::{self, NewFollowup};
use crate::store::internal;
use crate::store::oplog::{self, LogEntry};
use crate::store::tasks::{self, TaskRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    UpdateFilePath,
    PatchReady,
    Blocked,
    None,
}

/// The answer for one item: what happened and what the factory must do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub index: usize,
    pub task_uuid: Option<String>,
    pub error_code: &'static str,
    pub ok: bool,
    pub action: Action,
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_file_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_file_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patched_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followup_id: Option<i64>,
    /// `Some(true)` when the item was left for a later request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred: Option<bool>,
}

impl Answer {
    fn new(index: usize, item: &ErrorItem, task_uuid: Option<&str>, action: Action) -> Self {
        Self {
            index,
            task_uuid: task_uuid
                .map(str::to_owned)
                .or_else(|| item.task_uuid.clone()),
            error_code: item.error_code.as_str(),
            ok: matches!(action, Action::UpdateFilePath | Action::PatchReady),
            action,
            note: String::new(),
            new_file_path: None,
            previous_file_path: None,
            patched_content: None,
            pr_url: None,
            branch: None,
            issue_url: None,
            reason: None,
            followup_id: None,
            deferred: None,
        }
    }

    fn deferred(index: usize, item: &ErrorItem, why: &str) -> Self {
        let mut answer = Self::new(index, item, None, Action::None).note(format!(
            "deferred: {why}; recorded, report it again to have it remediated"
        ));
        answer.deferred = Some(true);
        answer
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// Items remediated per request at most: each costs a few D1 queries, and Workers cap those per
/// request (1000 on paid plans). The rest are recorded and answered deferred.
pub const MAX_ITEMS_PER_REQUEST: usize = 200;

/// Upstream calls an item may need at worst, rate-limit retries aside: checked before it
/// starts, so an item is not cut off halfway by the call budget.
fn calls_needed(code: ErrorCode) -> u32 {
    match code {
        // tree (once per batch), the candidate's content, finding and opening an issue
        ErrorCode::FileNotFound => 4,
        // content, model, PR lookup, default branch, two refs, branch creation, branch file,
        // commit, PR creation and its lookup on a 422
        ErrorCode::PlaceholderNotFound => 12,
        ErrorCode::InjectFailed | ErrorCode::Unknown => 0,
    }
}

/// Remediates every item in order. `remediator` is `None` when GitHub is not configured.
pub async fn remediate_all(
    db: &D1Database,
    remediator: Option<&Remediator<'_>>,
    items: &[ErrorItem],
) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if index >= MAX_ITEMS_PER_REQUEST {
            answers.push(Answer::deferred(
                index,
                item,
                &format!("at most {MAX_ITEMS_PER_REQUEST} items are remediated per request"),
            ));
            continue;
        }
        if let Some(rem) = remediator {
            if rem.github().calls_left() < calls_needed(item.error_code) {
                answers.push(Answer::deferred(
                    index,
                    item,
                    "this request's budget of upstream calls (REMEDIATION_MAX_CALLS) is spent",
                ));
                continue;
            }
        }
        let answer = match remediate(db, remediator, index, item).await {
            Ok(answer) => answer,
            Err(err) => {
                console_error!("remediating item {index}: {err:?}");
                Answer::new(index, item, None, Action::None).note(
                    "the orchestrator failed while recording this item; report it again later",
                )
            }
        };
        answers.push(answer);
    }
    answers
}

async fn remediate(
    db: &D1Database,
    remediator: Option<&Remediator<'_>>,
    index: usize,
    item: &ErrorItem,
) -> Result<Answer, ApiError> {
    let Some(task) = resolve_task(db, item).await? else {
        let which = item.task_uuid.as_deref().map_or_else(
            || {
                format!(
                    "for {} in {}",
                    item.placeholder
                        .as_deref()
                        .map_or("(no placeholder)".into(), placeholder_marker),
                    item.file_path
                )
            },
            |uuid| format!("'{uuid}'"),
        );
        return Ok(Answer::new(index, item, None, Action::None).note(format!(
            "no such task: {which} in order '{}'",
            item.order_id
        )));
    };
    let record = Recorder {
        db,
        remediator,
        item,
        task: &task,
        index,
    };
    let Some(rem) = remediator else {
        return match item.error_code {
            ErrorCode::FileNotFound | ErrorCode::PlaceholderNotFound => {
                record
                    .blocked(
                        "GitHub remediation is not configured (CORE_GITHUB_API, GITHUB_API_KEY, \
                         GITHUB_OWNER, GITHUB_REPO)"
                            .into(),
                        false,
                    )
                    .await
            }
            _ => record.warning().await,
        };
    };
    match item.error_code {
        ErrorCode::InjectFailed | ErrorCode::Unknown => record.warning().await,
        ErrorCode::FileNotFound => match rem.find_renamed_file(&task).await {
            Ok(RenameOutcome::Found {
                path,
                score,
                runner_up_score,
            }) => record.moved(path, score, runner_up_score).await,
            Ok(other) => record.blocked(rename_reason(&task, &other), true).await,
            Err(GitHubError::BudgetSpent) => record.deferred().await,
            Err(err) => record.blocked(github_reason(&err), false).await,
        },
        ErrorCode::PlaceholderNotFound => {
            let siblings = tasks::sibling_placeholders(db, &task).await?;
            match rem.fix_missing_placeholder(&task, &siblings).await {
                Ok(PlaceholderOutcome::TemplateHasIt { content }) => {
                    record.restore_from_template(content).await
                }
                Ok(PlaceholderOutcome::PullRequest {
                    patched,
                    pr_url,
                    branch,
                    reused,
                }) => record.pull_request(patched, pr_url, branch, reused).await,
                Ok(other) => {
                    record
                        .blocked(placeholder_reason(&task, &other), true)
                        .await
                }
                Err(err) => record.blocked(github_reason(&err), false).await,
            }
        }
    }
}

/// The task the item is about: by uuid (within the order), else by order, file and placeholder.
async fn resolve_task(db: &D1Database, item: &ErrorItem) -> Result<Option<TaskRow>, ApiError> {
    match (&item.task_uuid, &item.placeholder) {
        (Some(uuid), _) => Ok(tasks::find_task(db, uuid)
            .await?
            .filter(|t| t.order_id == item.order_id)),
        (None, Some(placeholder)) => {
            tasks::find_task_by_place(db, &item.order_id, &item.file_path, placeholder).await
        }
        (None, None) => Ok(None),
    }
}

fn rename_reason(task: &TaskRow, outcome: &RenameOutcome) -> String {
    let marker = placeholder_marker(&task.placeholder);
    match outcome {
        RenameOutcome::StillAtPath => format!(
            "{} still exists in the templates repository: the factory checkout looks out of date",
            task.file_path
        ),
        RenameOutcome::Ambiguous { candidates } => format!(
            "several files match {} equally well ({}); not guessing",
            task.file_path,
            candidates.join(", ")
        ),
        RenameOutcome::LacksPlaceholder { path } => {
            format!("the closest match, {path}, does not contain the task's placeholder {marker}")
        }
        RenameOutcome::NoCandidate { truncated } => format!(
            "no file in the templates repository resembles {}{}",
            task.file_path,
            if *truncated {
                " (GitHub truncated the tree listing)"
            } else {
                ""
            }
        ),
        RenameOutcome::Found { path, .. } => format!("found {path}"),
    }
}

fn placeholder_reason(task: &TaskRow, outcome: &PlaceholderOutcome) -> String {
    let marker = placeholder_marker(&task.placeholder);
    match outcome {
        PlaceholderOutcome::FileMissing => {
            format!("{} is not in the templates repository", task.file_path)
        }
        PlaceholderOutcome::NoModel => format!(
            "the template lacks {marker} and no model is configured (AI_BASE_URL, AI_API_KEY, \
             AI_MODEL) to insert it"
        ),
        PlaceholderOutcome::ModelFailed(why) => {
            format!("the template lacks {marker} and the model could not be asked: {why}")
        }
        PlaceholderOutcome::Rejected(rejection) => {
            format!("the model's patch was rejected: {rejection}")
        }
        PlaceholderOutcome::TemplateHasIt { .. } | PlaceholderOutcome::PullRequest { .. } => {
            String::new()
        }
    }
}

fn github_reason(err: &GitHubError) -> String {
    format!("GitHub could not be used: {err}")
}

/// Records one item's outcome; each method writes one D1 batch and builds the answer.
struct Recorder<'r, 'a> {
    db: &'r D1Database,
    remediator: Option<&'r Remediator<'a>>,
    item: &'r ErrorItem,
    task: &'r TaskRow,
    index: usize,
}

#[derive(Deserialize)]
struct IdRow {
    id: i64,
}

impl Recorder<'_, '_> {
    fn answer(&self, action: Action) -> Answer {
        Answer::new(self.index, self.item, Some(&self.task.uuid), action)
    }

    /// The budget ran out during this item (rate-limit retries): only the calls made and the
    /// deferral are recorded.
    async fn deferred(&self) -> Result<Answer, ApiError> {
        let why = "this request's budget of upstream calls (REMEDIATION_MAX_CALLS) ran out";
        let logs = vec![self.log("remediation_deferred", "warn", json!({ "reason": why }))];
        self.write(Vec::new(), None, logs).await?;
        let mut answer = Answer::deferred(self.index, self.item, why);
        answer.task_uuid = Some(self.task.uuid.clone());
        Ok(answer)
    }

    fn log(&self, operation: &'static str, level: &'static str, details: Value) -> LogEntryOwned {
        LogEntryOwned {
            operation,
            level,
            details,
        }
    }

    /// Runs `statements` plus the log rows of this item's GitHub calls and `logs`, in one batch.
    /// Returns the id of the follow-up inserted at `followup_at`, if any.
    async fn write(
        &self,
        mut statements: Vec<D1PreparedStatement>,
        followup_at: Option<usize>,
        logs: Vec<LogEntryOwned>,
    ) -> Result<Option<i64>, ApiError> {
        for entry in &logs {
            let row = LogEntry::orchestrator(entry.operation, entry.details.clone())
                .order(&self.task.order_id)
                .task(&self.task.uuid)
                .level(entry.level);
            statements.push(
                oplog::insert_statement(self.db, &row)
                    .map_err(internal("binding remediation log"))?,
            );
        }
        if let Some(rem) = self.remediator {
            for call in rem.github().take_calls() {
                let level = if call.outcome == "ok" || call.outcome == "not_found" {
                    "info"
                } else {
                    "warn"
                };
                let row = LogEntry::orchestrator("github_call", json!(call))
                    .order(&self.task.order_id)
                    .task(&self.task.uuid)
                    .level(level);
                statements.push(
                    oplog::insert_statement(self.db, &row)
                        .map_err(internal("binding github call log"))?,
                );
            }
        }
        let results = self
            .db
            .batch(statements)
            .await
            .map_err(internal("writing remediation records"))?;
        match followup_at {
            Some(at) => {
                let id = results
                    .get(at)
                    .and_then(|r| r.results::<IdRow>().ok())
                    .and_then(|rows| rows.into_iter().next())
                    .map(|row| row.id)
                    .ok_or(ApiError::Internal("follow-up insert returned no id"))?;
                Ok(Some(id))
            }
            None => Ok(None),
        }
    }

    /// A fix lifts the block an earlier report put on the task: back to `pending`, and its
    /// `blocked` follow-up marked fixed (see [`tasks::unblock_statement`]).
    fn unblock_statements(&self) -> Result<[D1PreparedStatement; 2], ApiError> {
        let bind = || internal("binding unblock");
        Ok([
            tasks::unblock_statement(self.db, &self.task.uuid).map_err(bind())?,
            followups::resolve_blocked_statement(self.db, &self.task.uuid).map_err(bind())?,
        ])
    }

    fn followup(&self, kind: &'static str, impact: u8, status: &'static str) -> NewFollowup<'_> {
        NewFollowup {
            order_id: &self.task.order_id,
            task_uuid: Some(&self.task.uuid),
            kind,
            impact_level: impact,
            status,
            note: "",
            github_issue_id: None,
            data: "{}".into(),
        }
    }

    /// `update_file_path`: the task now points at the renamed file.
    async fn moved(
        &self,
        path: String,
        score: f64,
        runner_up_score: Option<f64>,
    ) -> Result<Answer, ApiError> {
        let previous = &self.task.file_path;
        let note = format!("file_path {previous} -> {path}");
        let details = json!({
            "previous_file_path": previous,
            "new_file_path": path,
            "score": score,
            "runner_up_score": runner_up_score,
        });
        let followup = NewFollowup {
            note: &note,
            data: details.to_string(),
            ..self.followup("auto-fix-applied", 2, "fixed")
        };
        let mut statements = vec![
            followups::insert_statement(self.db, &followup)
                .map_err(internal("binding follow-up"))?,
            tasks::move_statement(self.db, &self.task.uuid, previous, &path)
                .map_err(internal("binding file move"))?,
        ];
        statements.extend(self.unblock_statements()?);
        let logs = vec![self.log("task_file_path_updated", "info", details)];
        let id = self.write(statements, Some(0), logs).await?;
        let mut answer = self.answer(Action::UpdateFilePath).note(note);
        answer.new_file_path = Some(path);
        answer.previous_file_path = Some(previous.clone());
        answer.followup_id = id;
        Ok(answer)
    }

    /// `patch_ready` from the template itself: nothing to change upstream.
    async fn restore_from_template(&self, content: String) -> Result<Answer, ApiError> {
        let marker = placeholder_marker(&self.task.placeholder);
        let details = json!({ "file_path": self.task.file_path, "source": "template" });
        let logs = vec![self.log("placeholder_restore_offered", "info", details)];
        self.write(self.unblock_statements()?.into(), None, logs)
            .await?;
        let mut answer = self.answer(Action::PatchReady).note(format!(
            "the template still has {marker}: restore the file from patched_content"
        ));
        answer.patched_content = Some(content);
        Ok(answer)
    }

    /// `patch_ready` with a pull request carrying the verified patch.
    async fn pull_request(
        &self,
        patched: String,
        pr_url: String,
        branch: String,
        reused: bool,
    ) -> Result<Answer, ApiError> {
        let note = format!("placeholder restored by a verified patch; pull request {pr_url}");
        let details = json!({ "pr_url": pr_url, "branch": branch, "reused": reused });
        let existing = followups::find_open(self.db, &self.task.uuid, "auto-fix-applied")
            .await?
            .filter(|f| f.github_issue_id.as_deref() == Some(pr_url.as_str()));
        let logs = vec![self.log("placeholder_patch_proposed", "info", details.clone())];
        let followup_id = match existing {
            Some(found) => {
                self.write(self.unblock_statements()?.into(), None, logs)
                    .await?;
                Some(found.id)
            }
            None => {
                let followup = NewFollowup {
                    note: &note,
                    github_issue_id: Some(&pr_url),
                    data: details.to_string(),
                    ..self.followup("auto-fix-applied", 2, "open")
                };
                let insert = followups::insert_statement(self.db, &followup)
                    .map_err(internal("binding follow-up"))?;
                let mut statements = vec![insert];
                statements.extend(self.unblock_statements()?);
                self.write(statements, Some(0), logs).await?
            }
        };
        let mut answer = self.answer(Action::PatchReady).note(note);
        answer.patched_content = Some(patched);
        answer.pr_url = Some(pr_url);
        answer.branch = Some(branch);
        answer.followup_id = followup_id;
        Ok(answer)
    }

    /// `blocked`: an issue (once), an open `blocked` follow-up (once), the task blocked in D1.
    /// `github_usable` is false when GitHub itself just failed: no issue is attempted then.
    async fn blocked(&self, reason: String, github_usable: bool) -> Result<Answer, ApiError> {
        let existing = followups::find_open(self.db, &self.task.uuid, "blocked").await?;
        let mut issue_url = existing.as_ref().and_then(|f| f.github_issue_id.clone());
        let mut issue_problem = None;
        if let (None, Some(rem), true) = (&issue_url, self.remediator, github_usable) {
            match rem
                .create_issue(self.task, self.item.error_code.as_str(), &reason)
                .await
            {
                Ok(issue) => issue_url = Some(issue.html_url),
                Err(err) => {
                    issue_problem = Some(format!("the GitHub issue could not be opened: {err}"))
                }
            }
        }
        let details = json!({
            "reason": reason,
            "error_code": self.item.error_code.as_str(),
            "issue_url": issue_url,
            "issue_problem": issue_problem,
        });
        let mut statements = vec![tasks::block_statement(self.db, &self.task.uuid)
            .map_err(internal("binding task block"))?];
        let logs = vec![self.log("task_blocked", "warn", details.clone())];
        let followup_id = match &existing {
            Some(found) => {
                if let (None, Some(url)) = (&found.github_issue_id, &issue_url) {
                    statements.push(
                        followups::attach_issue_statement(self.db, found.id, url)
                            .map_err(internal("binding follow-up update"))?,
                    );
                }
                self.write(statements, None, logs).await?;
                Some(found.id)
            }
            None => {
                let followup = NewFollowup {
                    note: &reason,
                    github_issue_id: issue_url.as_deref(),
                    data: details.to_string(),
                    ..self.followup("blocked", 1, "open")
                };
                statements.insert(
                    0,
                    followups::insert_statement(self.db, &followup)
                        .map_err(internal("binding follow-up"))?,
                );
                self.write(statements, Some(0), logs).await?
            }
        };
        let mut answer = self.answer(Action::Blocked).note(reason.clone());
        answer.reason = Some(reason);
        answer.issue_url = issue_url;
        answer.followup_id = followup_id;
        Ok(answer)
    }

    /// `none` with a `warning` follow-up: error codes nobody can fix from here.
    async fn warning(&self) -> Result<Answer, ApiError> {
        let note = format!(
            "Unhandled error_code={}: {}",
            self.item.error_code.as_str(),
            crate::upstream::clip_chars(&self.item.message, 500)
        );
        let existing = followups::find_open(self.db, &self.task.uuid, "warning").await?;
        let logs = vec![self.log(
            "followup_warning",
            "warn",
            json!({ "error_code": self.item.error_code.as_str() }),
        )];
        let followup_id = match existing {
            Some(found) => {
                self.write(Vec::new(), None, logs).await?;
                Some(found.id)
            }
            None => {
                let followup = NewFollowup {
                    note: &note,
                    data: item_json(self.item).to_string(),
                    ..self.followup("warning", 3, "open")
                };
                let insert = followups::insert_statement(self.db, &followup)
                    .map_err(internal("binding follow-up"))?;
                self.write(vec![insert], Some(0), logs).await?
            }
        };
        let mut answer = self
            .answer(Action::None)
            .note(format!("recorded for a human: {note}"));
        answer.followup_id = followup_id;
        Ok(answer)
    }
}

/// The item as JSON, its `context` as the object it was sent as.
fn item_json(item: &ErrorItem) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or_default();
    if let Ok(context) = serde_json::from_str::<Value>(&item.context) {
        value["context"] = context;
    }
    value
}

struct LogEntryOwned {
    operation: &'static str,
    level: &'static str,
    details: Value,
}
