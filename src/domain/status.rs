//! The four states a task can be in, and a task's `status` column as stored.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Complete,
    Blocked,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Pending,
        TaskStatus::InProgress,
        TaskStatus::Complete,
        TaskStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Complete => "complete",
            TaskStatus::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// "pending, in_progress, complete, blocked", for error messages.
    pub fn allowed_list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's `status` column as read from D1 (SQL NULL is the `None` around it). The column
/// has no CHECK constraint and rows may have been written by the TypeScript orchestrator or
/// by hand, so it can hold text that is none of the four states. Such a row must stay
/// readable, and its status is shown exactly as written: this Worker never writes one, and
/// matches it against no state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Untagged: a known state is tried first, any other text is kept; both serialise back to
// the stored text.
#[serde(untagged)]
pub enum StoredStatus {
    Known(TaskStatus),
    Unknown(String),
}

impl StoredStatus {
    pub fn parse(s: &str) -> Self {
        TaskStatus::parse(s).map_or_else(|| Self::Unknown(s.to_owned()), Self::Known)
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(status) => status.as_str(),
            Self::Unknown(text) => text,
        }
    }

    pub fn is(&self, status: TaskStatus) -> bool {
        *self == Self::Known(status)
    }
}

impl From<TaskStatus> for StoredStatus {
    fn from(status: TaskStatus) -> Self {
        Self::Known(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_is_exact() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskStatus::parse("Complete"), None);
        assert_eq!(TaskStatus::parse("done"), None);
        assert_eq!(
            TaskStatus::allowed_list(),
            "pending, in_progress, complete, blocked"
        );
    }

    #[test]
    fn stored_statuses_keep_unknown_text_and_null() {
        let read = |json: &str| serde_json::from_str::<Option<StoredStatus>>(json).unwrap();
        assert_eq!(
            read(r#""in_progress""#),
            Some(TaskStatus::InProgress.into())
        );
        assert_eq!(
            read(r#""Complete""#),
            Some(StoredStatus::Unknown("Complete".into()))
        );
        assert_eq!(read(r#""""#), Some(StoredStatus::Unknown(String::new())));
        assert_eq!(read("null"), None);
        for text in ["pending", "done", "Complete", ""] {
            let status = StoredStatus::parse(text);
            assert_eq!(status.as_str(), text);
            assert_eq!(serde_json::to_value(&status).unwrap(), text);
            assert_eq!(read(&serde_json::to_string(&status).unwrap()), Some(status));
        }
        assert!(StoredStatus::parse("blocked").is(TaskStatus::Blocked));
        assert!(!StoredStatus::parse("Blocked").is(TaskStatus::Blocked));
    }
}
