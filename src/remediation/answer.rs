//! The answer for one reported item: what happened and what the factory must do, with the
//! fields of each action together in one variant. It serialises to the JSON the API has always
//! answered (`action` plus that action's fields, `ok`, `deferred`).

use serde::ser::{Serialize, SerializeMap, Serializer};

/// What the factory should do about the item.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The template moved: point the task at `new_file_path`.
    UpdateFilePath {
        new_file_path: String,
        previous_file_path: String,
    },
    /// Restore the placeholder from `patched_content` (carried by a pull request when
    /// `pr_url` is set).
    PatchReady {
        patched_content: String,
        pr_url: Option<String>,
        branch: Option<String>,
    },
    /// Nothing safe is possible: the task is blocked, with an issue for a human when GitHub
    /// allowed one.
    Blocked {
        reason: String,
        issue_url: Option<String>,
    },
    /// Recorded; nothing for the factory to do.
    None,
    /// Recorded but not remediated in this request; report it again.
    Deferred,
    /// Recorded and handed to the remediation queue; its answer will be at `status_url`.
    Queued { status_url: String },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::UpdateFilePath { .. } => "update_file_path",
            Action::PatchReady { .. } => "patch_ready",
            Action::Blocked { .. } => "blocked",
            Action::None | Action::Deferred => "none",
            Action::Queued { .. } => "queued",
        }
    }

    /// Whether the factory can apply a fix.
    pub fn ok(&self) -> bool {
        matches!(
            self,
            Action::UpdateFilePath { .. } | Action::PatchReady { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub index: usize,
    pub task_uuid: Option<String>,
    pub error_code: &'static str,
    pub action: Action,
    pub note: String,
    pub followup_id: Option<i64>,
}

impl Answer {
    pub fn new(index: usize, task_uuid: Option<String>, error_code: &'static str) -> Self {
        Self {
            index,
            task_uuid,
            error_code,
            action: Action::None,
            note: String::new(),
            followup_id: None,
        }
    }

    pub fn action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    pub fn followup(mut self, id: Option<i64>) -> Self {
        self.followup_id = id;
        self
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("index", &self.index)?;
        map.serialize_entry("task_uuid", &self.task_uuid)?;
        map.serialize_entry("error_code", self.error_code)?;
        map.serialize_entry("ok", &self.action.ok())?;
        map.serialize_entry("action", self.action.name())?;
        map.serialize_entry("note", &self.note)?;
        match &self.action {
            Action::UpdateFilePath {
                new_file_path,
                previous_file_path,
            } => {
                map.serialize_entry("new_file_path", new_file_path)?;
                map.serialize_entry("previous_file_path", previous_file_path)?;
            }
            Action::PatchReady {
                patched_content,
                pr_url,
                branch,
            } => {
                map.serialize_entry("patched_content", patched_content)?;
                if let Some(url) = pr_url {
                    map.serialize_entry("pr_url", url)?;
                }
                if let Some(branch) = branch {
                    map.serialize_entry("branch", branch)?;
                }
            }
            Action::Blocked { reason, issue_url } => {
                if let Some(url) = issue_url {
                    map.serialize_entry("issue_url", url)?;
                }
                map.serialize_entry("reason", reason)?;
            }
            Action::Queued { status_url } => map.serialize_entry("status_url", status_url)?,
            Action::None | Action::Deferred => {}
        }
        if let Some(id) = self.followup_id {
            map.serialize_entry("followup_id", &id)?;
        }
        if self.action == Action::Deferred {
            map.serialize_entry("deferred", &true)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_as_the_api_always_answered() {
        let moved = Answer::new(0, Some("T1".into()), "FILE_NOT_FOUND")
            .action(Action::UpdateFilePath {
                new_file_path: "b.ts".into(),
                previous_file_path: "a.ts".into(),
            })
            .note("file_path a.ts -> b.ts")
            .followup(Some(4));
        assert_eq!(
            serde_json::to_string(&moved).unwrap(),
            json!({"index": 0, "task_uuid": "T1", "error_code": "FILE_NOT_FOUND", "ok": true,
                   "action": "update_file_path", "note": "file_path a.ts -> b.ts",
                   "new_file_path": "b.ts", "previous_file_path": "a.ts", "followup_id": 4})
            .to_string()
        );
        let blocked = Answer::new(1, None, "PLACEHOLDER_NOT_FOUND").action(Action::Blocked {
            reason: "why".into(),
            issue_url: Some("https://github.com/o/r/issues/1".into()),
        });
        assert_eq!(
            serde_json::to_value(&blocked).unwrap(),
            json!({"index": 1, "task_uuid": null, "error_code": "PLACEHOLDER_NOT_FOUND",
                   "ok": false, "action": "blocked", "note": "",
                   "issue_url": "https://github.com/o/r/issues/1", "reason": "why"})
        );
        let deferred = Answer::new(2, None, "FILE_NOT_FOUND").action(Action::Deferred);
        let value = serde_json::to_value(&deferred).unwrap();
        assert_eq!(
            (value["action"].clone(), value["deferred"].clone()),
            (json!("none"), json!(true))
        );
        assert_eq!(value["ok"], json!(false));
    }
}
