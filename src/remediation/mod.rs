//! GitHub remediation: the TypeScript original's `githubRemediation`, in Rust. The
//! core-github-api operations it relies on are in `docs/upstreams/core-github-api.md`.
//!
//! A factory reports a missing file or placeholder; this module works out, through
//! core-github-api (never api.github.com directly), whether the templates repository can fix it:
//!
//! - [`Remediator::find_renamed_file`]: list the repository tree once per batch, fuzzy-match the
//!   task's path against it ([`fuzzy`]), and accept a candidate only when it clearly beats the
//!   runner-up *and* holds the task's placeholder.
//! - [`Remediator::fix_missing_placeholder`]: read the template; if it still has the placeholder,
//!   hand it back for the factory to restore. Otherwise ask the model (when configured) for the
//!   file with the placeholder inserted, accept the answer only if [`verify::verify_patch`] agrees
//!   (placeholder once, every other task placeholder kept, no line changed or removed), and
//!   carry it ([`Remediator::propose`]) in a pull request from a branch named after the order
//!   and task. An existing branch or open pull request for the task is reused, never duplicated.
//! - [`Remediator::create_issue`]: the issue a human needs when nothing safe is possible, opened
//!   once per task (found again by its label and the task id in its title).
//!
//! Design: this module decides and talks to GitHub; the batch processor ([`batch`]) claims the
//! right to create a task's issue or pull request in D1 first (one per task, whatever runs
//! concurrently) and records each outcome through [`crate::store::remediation`] in one D1 batch
//! per item, so a GitHub step that fails leaves nothing recorded as fixed. Every call to
//! core-github-api is kept ([`github::CallRecord`]: operation, target, outcome, duration; never
//! the key) and logged to `operation_logs` with the item. Writes are awaited one at a time.

pub mod answer;
pub mod batch;
pub mod fuzzy;
pub mod patch;
pub mod queue;
pub mod verify;

use std::cell::RefCell;
use std::rc::Rc;

use crate::upstream::budget::CallBudget;

use crate::store::tasks::TaskRow;
use crate::upstream::github::{
    BranchState, GitHub, GitHubConfig, GitHubError, Item, Tree, ISSUE_LABEL,
};
use crate::upstream::model::ChatModel;
use fuzzy::{decide, ranked, RenameMatch, DEFAULT_TOP_K};
use verify::{conform_to_original, placeholder_marker, strip_code_fences, verify_patch};

/// What the search for a renamed file found.
#[derive(Debug, Clone, PartialEq)]
pub enum RenameOutcome {
    /// A unique candidate that holds the placeholder.
    Found {
        path: String,
        score: f64,
        runner_up_score: Option<f64>,
    },
    /// The path still exists in the templates repository: the checkout is stale, not renamed.
    StillAtPath,
    /// Several candidates too close to call.
    Ambiguous { candidates: Vec<String> },
    /// The best candidate does not hold the placeholder.
    LacksPlaceholder { path: String },
    /// Nothing similar enough; `truncated` when GitHub cut the listing short.
    NoCandidate { truncated: bool },
}

/// What the attempt to restore a placeholder came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceholderOutcome {
    /// The template still has the placeholder; `content` is the template file.
    TemplateHasIt { content: String },
    /// The file is not in the templates repository.
    FileMissing,
    /// No model endpoint is configured.
    NoModel,
    /// The model could not be asked (timeout, error status, empty answer).
    ModelFailed(String),
    /// The model's patch failed verification.
    Rejected(verify::PatchRejection),
    /// A verified patch, to be proposed as a pull request ([`Remediator::propose`]) by
    /// whoever holds the task's pull-request claim.
    Patch {
        patched: String,
        /// The blob sha of the template the patch was made from.
        template_sha: String,
    },
}

/// The pull request carrying a verified patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedPr {
    pub pr: Item,
    pub branch: String,
    /// The pull request existed already (a repeated report).
    pub reused: bool,
}

pub struct Remediator<'a> {
    /// The request's upstream calls, drawn from by `github` and by every model call.
    calls: Rc<CallBudget>,
    github: GitHub<'a>,
    model: Option<&'a ChatModel>,
    tree: RefCell<Option<Result<Rc<Tree>, GitHubError>>>,
    default_branch: RefCell<Option<String>>,
}

impl<'a> Remediator<'a> {
    pub fn new(config: &'a GitHubConfig, model: Option<&'a ChatModel>) -> Self {
        let calls = Rc::new(CallBudget::new(config.max_calls));
        Self {
            github: GitHub::new(config, Rc::clone(&calls)),
            calls,
            model,
            tree: RefCell::new(None),
            default_branch: RefCell::new(None),
        }
    }

    pub fn github(&self) -> &GitHub<'a> {
        &self.github
    }

    /// The upstream calls this request may still make.
    pub fn calls(&self) -> &CallBudget {
        &self.calls
    }

    pub async fn find_renamed_file(&self, task: &TaskRow) -> Result<RenameOutcome, GitHubError> {
        let tree = self.tree().await?;
        if tree.files.iter().any(|f| f == &task.file_path) {
            return Ok(RenameOutcome::StillAtPath);
        }
        let verdict = decide(&ranked(&task.file_path, &tree.files, DEFAULT_TOP_K));
        match verdict {
            RenameMatch::Unique {
                path,
                score,
                runner_up_score,
            } => {
                let marker = placeholder_marker(&task.placeholder);
                let holds = self
                    .github
                    .file(&path, None)
                    .await?
                    .is_some_and(|f| f.text.contains(&marker));
                Ok(if holds {
                    RenameOutcome::Found {
                        path,
                        score,
                        runner_up_score,
                    }
                } else {
                    RenameOutcome::LacksPlaceholder { path }
                })
            }
            RenameMatch::Ambiguous { best } => Ok(RenameOutcome::Ambiguous {
                candidates: best.into_iter().map(|(path, _)| path).collect(),
            }),
            RenameMatch::NoMatch => Ok(RenameOutcome::NoCandidate {
                truncated: tree.truncated,
            }),
        }
    }

    /// `siblings`: the placeholders of the order's other tasks in the same file.
    pub async fn fix_missing_placeholder(
        &self,
        task: &TaskRow,
        siblings: &[String],
    ) -> Result<PlaceholderOutcome, GitHubError> {
        let Some(template) = self.github.file(&task.file_path, None).await? else {
            return Ok(PlaceholderOutcome::FileMissing);
        };
        if template
            .text
            .contains(&placeholder_marker(&task.placeholder))
        {
            return Ok(PlaceholderOutcome::TemplateHasIt {
                content: template.text,
            });
        }
        let Some(model) = self.model else {
            return Ok(PlaceholderOutcome::NoModel);
        };
        self.calls.spend()?;
        let (system, user) = patch::prompt(task, &template.text, siblings);
        let answer = match model.complete(&system, &user).await {
            Ok(answer) => answer,
            Err(err) => return Ok(PlaceholderOutcome::ModelFailed(err.to_string())),
        };
        let patched = conform_to_original(&template.text, strip_code_fences(&answer));
        let others: Vec<&str> = siblings.iter().map(String::as_str).collect();
        if let Err(rejection) = verify_patch(&template.text, &patched, &task.placeholder, &others) {
            return Ok(PlaceholderOutcome::Rejected(rejection));
        }
        Ok(PlaceholderOutcome::Patch {
            patched,
            template_sha: template.sha,
        })
    }

    /// Puts a verified patch on the task's branch and opens (or finds) its pull request.
    pub async fn propose(
        &self,
        task: &TaskRow,
        patched: &str,
        template_sha: &str,
    ) -> Result<ProposedPr, GitHubError> {
        let branch = patch::branch_name(&task.order_id, &task.uuid);
        if let Some(pr) = self.github.open_pr_for(&branch).await? {
            return Ok(ProposedPr {
                pr,
                branch,
                reused: true,
            });
        }
        let base = self.default_branch().await?;
        let existed = match self.github.branch_sha(&branch).await? {
            Some(_) => true,
            None => {
                let head = self.github.branch_sha(&base).await?.ok_or_else(|| {
                    GitHubError::Unexpected(format!("the default branch {base} has no head"))
                })?;
                self.github.create_branch(&branch, &head).await? == BranchState::Existed
            }
        };
        // A branch left by an earlier attempt may hold the patch already, or another version.
        let on_branch = if existed {
            self.github.file(&task.file_path, Some(&branch)).await?
        } else {
            None
        };
        let current_sha = on_branch
            .as_ref()
            .map_or(template_sha, |file| file.sha.as_str());
        if on_branch.as_ref().map(|f| f.text.as_str()) != Some(patched) {
            let message = patch::commit_message(task);
            self.github
                .put_file(
                    &task.file_path,
                    &branch,
                    patched,
                    &message,
                    Some(current_sha),
                )
                .await?;
        }
        let (title, body) = patch::pull_request_text(task);
        let pr = self.github.open_pr(&branch, &base, &title, &body).await?;
        Ok(ProposedPr {
            pr,
            branch,
            reused: false,
        })
    }

    /// The open issue for this task, or a new one.
    pub async fn create_issue(
        &self,
        task: &TaskRow,
        error_code: &str,
        reason: &str,
    ) -> Result<Item, GitHubError> {
        let marker = patch::issue_marker(&task.uuid);
        if let Some(issue) = self.github.find_issue(&marker).await? {
            return Ok(issue);
        }
        let (title, body) = patch::issue_text(task, error_code, reason);
        self.github
            .create_issue(&title, &body, &[ISSUE_LABEL, "blocked-task"])
            .await
    }

    async fn tree(&self) -> Result<Rc<Tree>, GitHubError> {
        if let Some(cached) = self.tree.borrow().as_ref() {
            return cached.clone();
        }
        // Failures are kept too: one unreachable GitHub should cost one timeout per batch.
        let fetched = self.github.tree().await.map(Rc::new);
        *self.tree.borrow_mut() = Some(fetched.clone());
        fetched
    }

    async fn default_branch(&self) -> Result<String, GitHubError> {
        if let Some(name) = self.default_branch.borrow().as_ref() {
            return Ok(name.clone());
        }
        let name = self.github.default_branch().await?;
        *self.default_branch.borrow_mut() = Some(name.clone());
        Ok(name)
    }
}
