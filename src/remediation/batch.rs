//! One error batch, item by item: find the task, ask the [`Remediator`], claim the task's
//! GitHub issue or pull request in D1 before creating one, record the outcome in one D1 batch
//! per item ([`crate::store::remediation`]), and tell the factory what to do.
//!
//! Items run one after another (GitHub writes must not run in parallel) and each is isolated:
//! a failure in one becomes that item's answer, never the batch's. Concurrent batches about the
//! same tasks converge: one active follow-up per (task, type) by a unique index, one issue and
//! one pull request per task by a claim in D1.

use crate::store::Db;
use serde_json::{json, Value};
use worker::{console_error, Delay};

use super::answer::{Action, Answer};
use super::verify::placeholder_marker;
use super::{patch, PlaceholderOutcome, ProposedPr, Remediator, RenameOutcome};
use crate::domain::error_report::{ErrorCode, ErrorItem};
use crate::domain::followup::{parse_github_url, FollowupStatus, FollowupType, GithubKind};
use crate::domain::ids::new_token;
use crate::domain::oplog::{LogEntry, LogLevel};
use crate::error::ApiError;
use crate::store::followups::{GithubLink, NewFollowup};
use crate::store::github_claims::{self, Claim};
use crate::store::remediation::{record, ClaimWrite, ItemRecord, TaskWrite};
use crate::store::tasks::{self, TaskRow};
use crate::upstream::github::GitHubError;

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
    db: &Db,
    remediator: Option<&Remediator<'_>>,
    items: &[ErrorItem],
) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if index >= MAX_ITEMS_PER_REQUEST {
            answers.push(deferred(
                index,
                item,
                &format!("at most {MAX_ITEMS_PER_REQUEST} items are remediated per request"),
            ));
            continue;
        }
        if let Some(rem) = remediator {
            if rem.calls().left() < calls_needed(item.error_code) {
                answers.push(deferred(
                    index,
                    item,
                    "this request's budget of upstream calls (REMEDIATION_MAX_CALLS) is spent",
                ));
                continue;
            }
        }
        let answer = match remediate_one(db, remediator, index, item, Attempt::Final).await {
            Ok(answer) => answer,
            Err(ItemError::Retry(why)) => deferred(index, item, &why),
            Err(ItemError::Api(err)) => {
                console_error!("remediating item {index}: {err:?}");
                Answer::new(index, item.task_uuid.clone(), item.error_code.as_str()).note(
                    "the orchestrator failed while recording this item; report it again later",
                )
            }
        };
        answers.push(answer);
    }
    answers
}

/// Whether a transient GitHub failure ends the item (blocked, as a request must answer now) or
/// sends it back to the queue for a later attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Final,
    Retryable,
}

#[derive(Debug)]
pub enum ItemError {
    /// Recording failed: the item is not decided.
    Api(ApiError),
    /// GitHub failed in a way worth retrying (only for [`Attempt::Retryable`]); nothing was
    /// recorded but the calls' log rows.
    Retry(String),
}

impl From<ApiError> for ItemError {
    fn from(err: ApiError) -> Self {
        ItemError::Api(err)
    }
}

/// Remediates one item: the request path for the items that fit its budget, and the queue
/// consumer for the others (each message with a budget of its own).
pub async fn remediate_one(
    db: &Db,
    remediator: Option<&Remediator<'_>>,
    index: usize,
    item: &ErrorItem,
    attempt: Attempt,
) -> Result<Answer, ItemError> {
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
        return Ok(
            Answer::new(index, item.task_uuid.clone(), item.error_code.as_str()).note(format!(
                "no such task: {which} in order '{}'",
                item.order_id
            )),
        );
    };
    let record = Recorder {
        db,
        remediator,
        item,
        task: &task,
        index,
    };
    let Some(rem) = remediator else {
        let answer =
            match item.error_code {
                ErrorCode::FileNotFound | ErrorCode::PlaceholderNotFound => record
                    .blocked(
                        "GitHub remediation is not configured (CORE_GITHUB_API, GITHUB_API_KEY, \
                         GITHUB_OWNER, GITHUB_REPO)"
                            .into(),
                        false,
                    )
                    .await,
                _ => record.warning().await,
            };
        return Ok(answer?);
    };
    match item.error_code {
        ErrorCode::InjectFailed | ErrorCode::Unknown => Ok(record.warning().await?),
        ErrorCode::FileNotFound => match rem.find_renamed_file(&task).await {
            Ok(RenameOutcome::Found {
                path,
                score,
                runner_up_score,
            }) => Ok(record.moved(path, score, runner_up_score).await?),
            Ok(other) => Ok(record.blocked(rename_reason(&task, &other), true).await?),
            Err(err) => record.github_failed(err, attempt).await,
        },
        ErrorCode::PlaceholderNotFound => {
            let siblings = tasks::sibling_placeholders(db, &task).await?;
            match rem.fix_missing_placeholder(&task, &siblings).await {
                Ok(PlaceholderOutcome::TemplateHasIt { content }) => {
                    Ok(record.restore_from_template(content).await?)
                }
                Ok(PlaceholderOutcome::Patch {
                    patched,
                    template_sha,
                }) => record.propose(patched, &template_sha, attempt).await,
                Ok(other) => Ok(record
                    .blocked(placeholder_reason(&task, &other), true)
                    .await?),
                Err(err) => record.github_failed(err, attempt).await,
            }
        }
    }
}

/// The task the item is about: by uuid (within the order), else by order, file and placeholder.
async fn resolve_task(db: &Db, item: &ErrorItem) -> Result<Option<TaskRow>, ApiError> {
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
        PlaceholderOutcome::TemplateHasIt { .. } | PlaceholderOutcome::Patch { .. } => {
            String::new()
        }
    }
}

fn github_reason(err: &GitHubError) -> String {
    format!("GitHub could not be used: {err}")
}

/// An answer for an item left for a later request.
fn deferred(index: usize, item: &ErrorItem, why: &str) -> Answer {
    Answer::new(index, item.task_uuid.clone(), item.error_code.as_str())
        .action(Action::Deferred)
        .note(format!(
            "deferred: {why}; recorded, report it again to have it remediated"
        ))
}

/// How long a request that lost a GitHub claim waits for the winner's result before answering
/// without it (the winner attaches it to the shared follow-up either way).
const CLAIM_POLLS: u32 = 8;
const CLAIM_POLL_MS: u64 = 250;

/// Records one item's outcome; each method writes one D1 batch and builds the answer.
struct Recorder<'r, 'a> {
    db: &'r Db,
    remediator: Option<&'r Remediator<'a>>,
    item: &'r ErrorItem,
    task: &'r TaskRow,
    index: usize,
}

impl Recorder<'_, '_> {
    fn answer(&self, action: Action) -> Answer {
        Answer::new(
            self.index,
            Some(self.task.uuid.clone()),
            self.item.error_code.as_str(),
        )
        .action(action)
    }

    fn followup(&self, kind: FollowupType, impact: u8, status: FollowupStatus) -> NewFollowup<'_> {
        NewFollowup {
            order_id: &self.task.order_id,
            task_uuid: Some(&self.task.uuid),
            kind,
            impact_level: impact,
            status,
            note: "",
            github: None,
            data: "{}".into(),
        }
    }

    /// A log row of this item (its order and task).
    fn log(&self, operation: &'static str, level: LogLevel, details: Value) -> LogEntry<'_> {
        LogEntry::orchestrator(operation, details)
            .order(&self.task.order_id)
            .task(&self.task.uuid)
            .level(level)
    }

    /// Writes the item's record: the outcome's own log rows plus one per GitHub call made.
    async fn write(
        &self,
        task: TaskWrite<'_>,
        claim: Option<ClaimWrite<'_>>,
        followup: Option<NewFollowup<'_>>,
        logs: impl IntoIterator<Item = LogEntry<'_>>,
    ) -> Result<Option<i64>, ApiError> {
        let mut entries: Vec<LogEntry> = logs.into_iter().collect();
        if let Some(rem) = self.remediator {
            for call in rem.github().take_calls() {
                entries.push(self.log("github_call", call.log_level(), json!(call)));
            }
        }
        record(
            self.db,
            ItemRecord {
                task_uuid: &self.task.uuid,
                task,
                claim,
                followup,
                logs: entries,
            },
        )
        .await
    }

    /// The budget ran out during this item (rate-limit retries): only the calls made and the
    /// deferral are recorded.
    async fn deferred(&self) -> Result<Answer, ApiError> {
        let why = "this request's budget of upstream calls (REMEDIATION_MAX_CALLS) ran out";
        let logs = [self.log(
            "remediation_deferred",
            LogLevel::Warn,
            json!({ "reason": why }),
        )];
        self.write(TaskWrite::Keep, None, None, logs).await?;
        let mut answer = deferred(self.index, self.item, why);
        answer.task_uuid = Some(self.task.uuid.clone());
        Ok(answer)
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
            ..self.followup(FollowupType::AutoFixApplied, 2, FollowupStatus::Fixed)
        };
        let logs = [self.log("task_file_path_updated", LogLevel::Info, details)];
        let task = TaskWrite::Move {
            from: previous,
            to: &path,
        };
        let id = self.write(task, None, Some(followup), logs).await?;
        Ok(self
            .answer(Action::UpdateFilePath {
                new_file_path: path.clone(),
                previous_file_path: previous.clone(),
            })
            .note(note)
            .followup(id))
    }

    /// `patch_ready` from the template itself: nothing to change upstream.
    async fn restore_from_template(&self, content: String) -> Result<Answer, ApiError> {
        let marker = placeholder_marker(&self.task.placeholder);
        let logs = [self.log(
            "placeholder_restore_offered",
            LogLevel::Info,
            json!({ "file_path": self.task.file_path, "source": "template" }),
        )];
        self.write(TaskWrite::Unblock, None, None, logs).await?;
        Ok(self
            .answer(Action::PatchReady {
                patched_content: content,
                pr_url: None,
                branch: None,
            })
            .note(format!(
                "the template still has {marker}: restore the file from patched_content"
            )))
    }

    /// A verified patch: the holder of the task's pull-request claim opens (or finds) the pull
    /// request; a concurrent report reuses it.
    async fn propose(
        &self,
        patched: String,
        template_sha: &str,
        attempt: Attempt,
    ) -> Result<Answer, ItemError> {
        let Some(rem) = self.remediator else {
            return Err(ApiError::Internal("a patch without a remediator").into());
        };
        let token = new_token(16);
        let link = match self.claim(GithubKind::Pull, &token).await? {
            ClaimResult::Won => match rem.propose(self.task, &patched, template_sha).await {
                Ok(proposed) => return Ok(self.pull_request(patched, proposed, &token).await?),
                Err(err) => {
                    let release = ClaimWrite::Release {
                        kind: GithubKind::Pull,
                        token: &token,
                    };
                    if attempt == Attempt::Retryable && err.is_transient() {
                        return Err(self.retry_later(&err, Some(release)).await?);
                    }
                    return Ok(self
                        .blocked_with(github_reason(&err), false, Some(release))
                        .await?);
                }
            },
            ClaimResult::Created(link) => Some(link),
            ClaimResult::Pending => None,
        };
        // Another report holds (or held) the claim: reuse its pull request.
        let branch = patch::branch_name(&self.task.order_id, &self.task.uuid);
        let note = match &link {
            Some(link) => format!(
                "placeholder restored by a verified patch; pull request {}",
                link.url
            ),
            None => "placeholder restored by a verified patch; a concurrent report is opening \
                     its pull request"
                .to_owned(),
        };
        let logs = [self.log(
            "placeholder_patch_proposed",
            LogLevel::Info,
            json!({ "pr_url": link.as_ref().map(|l| &l.url), "branch": branch, "reused": true }),
        )];
        let followup = link.as_ref().map(|link| NewFollowup {
            note: &note,
            github: Some(link),
            ..self.followup(FollowupType::AutoFixApplied, 2, FollowupStatus::Open)
        });
        let id = self.write(TaskWrite::Unblock, None, followup, logs).await?;
        Ok(self
            .answer(Action::PatchReady {
                patched_content: patched,
                pr_url: link.map(|l| l.url),
                branch: Some(branch),
            })
            .note(note)
            .followup(id))
    }

    /// GitHub failed while working the item: a transient failure on a retryable attempt goes
    /// back to the queue (only the calls are logged); otherwise the item is blocked, or deferred
    /// when it was this request's call budget that ran out.
    async fn github_failed(&self, err: GitHubError, attempt: Attempt) -> Result<Answer, ItemError> {
        if attempt == Attempt::Retryable && err.is_transient() {
            return Err(self.retry_later(&err, None).await?);
        }
        Ok(match err {
            GitHubError::BudgetSpent => self.deferred().await?,
            err => self.blocked(github_reason(&err), false).await?,
        })
    }

    /// Logs the failed attempt (and its GitHub calls), gives back a claim it held, and says
    /// why for the queue's retry.
    async fn retry_later(
        &self,
        err: &GitHubError,
        claim: Option<ClaimWrite<'_>>,
    ) -> Result<ItemError, ApiError> {
        let why = github_reason(err);
        let logs = [self.log(
            "remediation_retry",
            LogLevel::Warn,
            json!({ "reason": why }),
        )];
        self.write(TaskWrite::Keep, claim, None, logs).await?;
        Ok(ItemError::Retry(why))
    }

    /// `patch_ready` with the pull request this request opened or found.
    async fn pull_request(
        &self,
        patched: String,
        proposed: ProposedPr,
        token: &str,
    ) -> Result<Answer, ApiError> {
        let ProposedPr { pr, branch, reused } = proposed;
        let link = self.link(GithubKind::Pull, pr.number, &pr.html_url);
        let note = format!(
            "placeholder restored by a verified patch; pull request {}",
            pr.html_url
        );
        let details = json!({ "pr_url": pr.html_url, "branch": branch, "reused": reused });
        let followup = NewFollowup {
            note: &note,
            github: Some(&link),
            data: details.to_string(),
            ..self.followup(FollowupType::AutoFixApplied, 2, FollowupStatus::Open)
        };
        let claim = ClaimWrite::Complete {
            kind: GithubKind::Pull,
            token,
            number: pr.number,
            url: &pr.html_url,
        };
        let logs = [self.log("placeholder_patch_proposed", LogLevel::Info, details)];
        let id = self
            .write(TaskWrite::Unblock, Some(claim), Some(followup), logs)
            .await?;
        Ok(self
            .answer(Action::PatchReady {
                patched_content: patched,
                pr_url: Some(pr.html_url.clone()),
                branch: Some(branch),
            })
            .note(note)
            .followup(id))
    }

    /// `blocked`: an issue (once per task), an active `blocked` follow-up (once per task), the
    /// task blocked in D1. `github_usable` is false when GitHub itself just failed: no issue is
    /// attempted then.
    async fn blocked(&self, reason: String, github_usable: bool) -> Result<Answer, ApiError> {
        self.blocked_with(reason, github_usable, None).await
    }

    async fn blocked_with(
        &self,
        reason: String,
        github_usable: bool,
        mut claim: Option<ClaimWrite<'_>>,
    ) -> Result<Answer, ApiError> {
        let token = new_token(16);
        let mut issue = None;
        let mut issue_problem = None;
        if let (Some(rem), true) = (self.remediator, github_usable) {
            match self.claim(GithubKind::Issue, &token).await? {
                ClaimResult::Won => match rem
                    .create_issue(self.task, self.item.error_code.as_str(), &reason)
                    .await
                {
                    Ok(item) => {
                        issue = Some(self.link(GithubKind::Issue, item.number, &item.html_url))
                    }
                    Err(err) => {
                        issue_problem =
                            Some(format!("the GitHub issue could not be opened: {err}"));
                        claim = Some(ClaimWrite::Release {
                            kind: GithubKind::Issue,
                            token: &token,
                        });
                    }
                },
                ClaimResult::Created(link) => issue = Some(link),
                ClaimResult::Pending => {
                    issue_problem =
                        Some("a concurrent report is opening this task's issue".to_owned())
                }
            }
        }
        if let (Some(link), None) = (&issue, &claim) {
            claim = Some(ClaimWrite::Complete {
                kind: GithubKind::Issue,
                token: &token,
                number: link.number,
                url: &link.url,
            });
        }
        let issue_url = issue.as_ref().map(|l| l.url.clone());
        let details = json!({
            "reason": reason,
            "error_code": self.item.error_code.as_str(),
            "issue_url": issue_url,
            "issue_problem": issue_problem,
        });
        let followup = NewFollowup {
            note: &reason,
            github: issue.as_ref(),
            data: details.to_string(),
            ..self.followup(FollowupType::Blocked, 1, FollowupStatus::Open)
        };
        let logs = [self.log("task_blocked", LogLevel::Warn, details)];
        let id = self
            .write(TaskWrite::Block, claim, Some(followup), logs)
            .await?;
        Ok(self
            .answer(Action::Blocked {
                reason: reason.clone(),
                issue_url,
            })
            .note(reason)
            .followup(id))
    }

    /// `none` with a `warning` follow-up: error codes nobody can fix from here.
    async fn warning(&self) -> Result<Answer, ApiError> {
        let note = format!(
            "Unhandled error_code={}: {}",
            self.item.error_code.as_str(),
            crate::domain::text::clip_chars(&self.item.message, 500)
        );
        let logs = [self.log(
            "followup_warning",
            LogLevel::Warn,
            json!({ "error_code": self.item.error_code.as_str() }),
        )];
        let followup = NewFollowup {
            note: &note,
            data: item_json(self.item).to_string(),
            ..self.followup(FollowupType::Warning, 3, FollowupStatus::Open)
        };
        let id = self
            .write(TaskWrite::Keep, None, Some(followup), logs)
            .await?;
        Ok(self
            .answer(Action::None)
            .note(format!("recorded for a human: {note}"))
            .followup(id))
    }

    fn link(&self, kind: GithubKind, number: u64, url: &str) -> GithubLink {
        let repo = self
            .remediator
            .map(|rem| rem.github().repo_name())
            .or_else(|| parse_github_url(url).map(|r| r.repo))
            .unwrap_or_default();
        GithubLink {
            kind,
            repo,
            number,
            url: url.to_owned(),
        }
    }

    /// Claims the task's issue or pull request; a loser waits briefly for the winner's result.
    async fn claim(&self, kind: GithubKind, token: &str) -> Result<ClaimResult, ApiError> {
        let from_url = |url: String| {
            let number = parse_github_url(&url).map_or(0, |r| r.number);
            self.link(kind, number, &url)
        };
        match github_claims::claim(self.db, &self.task.uuid, kind, token).await? {
            Claim::Won => return Ok(ClaimResult::Won),
            Claim::Created { url, .. } => return Ok(ClaimResult::Created(from_url(url))),
            Claim::Pending => {}
        }
        for _ in 0..CLAIM_POLLS {
            Delay::from(std::time::Duration::from_millis(CLAIM_POLL_MS)).await;
            if let Some(url) = github_claims::read(self.db, &self.task.uuid, kind).await? {
                return Ok(ClaimResult::Created(from_url(url)));
            }
        }
        Ok(ClaimResult::Pending)
    }
}

enum ClaimResult {
    Won,
    Created(GithubLink),
    Pending,
}

/// The item as JSON, its `context` as the object it was sent as.
fn item_json(item: &ErrorItem) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or_default();
    if let Ok(context) = serde_json::from_str::<Value>(&item.context) {
        value["context"] = context;
    }
    value
}
