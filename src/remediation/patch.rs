//! The words of a remediation: the model prompt, branch name, commit message, pull request and
//! issue text. Pure, so they are tested natively and stay stable across releases (the branch
//! name and issue marker are how a repeated report finds earlier work).

use super::verify::placeholder_marker;
use crate::domain::text::clip_chars;
use crate::store::tasks::TaskRow;

/// The instruction is context for the model, not the file; a few thousand characters suffice.
const INSTRUCTION_CHARS: usize = 2000;

const SYSTEM: &str = "You restore a missing placeholder in a source file of a templates \
repository. Answer with the complete file and nothing else: no explanation, no code fences. \
Insert exactly one new line that holds the placeholder, written as a comment in the file's \
language, at the place where the task's code belongs. Do not change, reorder or remove any \
existing line, and keep every other placeholder (###NAME###) exactly as it is.";

/// `(system, user)` messages asking for `file` with the task's placeholder inserted. The file
/// sits between a `<<<FILE` line and a `FILE>>>` line.
pub fn prompt(task: &TaskRow, file: &str, siblings: &[String]) -> (String, String) {
    let marker = placeholder_marker(&task.placeholder);
    let keep = if siblings.is_empty() {
        "none".to_owned()
    } else {
        siblings
            .iter()
            .map(|s| placeholder_marker(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let newline = if file.ends_with('\n') { "" } else { "\n" };
    let user = format!(
        "Placeholder to insert: {marker}\n\
         File: {path}\n\
         The task at that placeholder: {instruction}\n\
         Other placeholders that must stay: {keep}\n\
         <<<FILE\n{file}{newline}FILE>>>\n",
        path = task.file_path,
        instruction = clip_chars(&task.instruction, INSTRUCTION_CHARS),
    );
    (SYSTEM.to_owned(), user)
}

/// `mission-control/<order>/<task>`: one branch per task, so a retry finds its earlier work.
pub fn branch_name(order_id: &str, task_uuid: &str) -> String {
    format!("mission-control/{order_id}/{task_uuid}")
}

pub fn commit_message(task: &TaskRow) -> String {
    format!(
        "Restore {} in {} (task {})",
        placeholder_marker(&task.placeholder),
        task.file_path,
        task.uuid
    )
}

pub fn pull_request_text(task: &TaskRow) -> (String, String) {
    let marker = placeholder_marker(&task.placeholder);
    let title = format!("[{}] Restore {marker} in {}", task.uuid, task.file_path);
    let body = format!(
        "A factory working order `{order}` could not find `{marker}` in `{path}`.\n\n\
         Mission Control asked a model to insert it and verified the result: the placeholder \
         appears once, every other task placeholder of the file is still there, and no existing \
         line was changed or removed. Please review where it was placed before merging.\n\n\
         Task: `{uuid}`",
        order = task.order_id,
        path = task.file_path,
        uuid = task.uuid,
    );
    (title, body)
}

/// What an issue's title carries so that the task's next report finds it.
pub fn issue_marker(task_uuid: &str) -> String {
    format!("[{task_uuid}]")
}

pub fn issue_text(task: &TaskRow, error_code: &str, reason: &str) -> (String, String) {
    let marker = placeholder_marker(&task.placeholder);
    let title = format!(
        "{} Blocked task: {marker} in {}",
        issue_marker(&task.uuid),
        task.file_path
    );
    let body = format!(
        "A factory working order `{order}` reported `{error_code}` for task `{uuid}` \
         (`{marker}` in `{path}`), and Mission Control could not fix it safely:\n\n> {reason}\n\n\
         The task is blocked until the template is fixed. Close this issue once it is.",
        order = task.order_id,
        uuid = task.uuid,
        path = task.file_path,
    );
    (title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskRow {
        TaskRow {
            uuid: "AB12CD".into(),
            order_id: "ORD-x1Y2z3".into(),
            file_path: "src/agent.ts".into(),
            placeholder: "AGENT_INIT".into(),
            instruction: "Initialise the agent.".into(),
            status: None,
            created_at: None,
            updated_at: None,
            claimed_by: None,
            lease_expires_at: None,
            lease_token: None,
        }
    }

    #[test]
    fn the_prompt_fences_the_file_and_names_what_to_keep() {
        let (system, user) = prompt(&task(), "a\nb", &["OTHER".into()]);
        assert!(system.contains("no code fences"));
        assert!(user.contains("Placeholder to insert: ###AGENT_INIT###"));
        assert!(user.contains("Other placeholders that must stay: ###OTHER###"));
        assert!(user.contains("<<<FILE\na\nb\nFILE>>>"));
        let (_, user) = prompt(&task(), "a\n", &[]);
        assert!(user.contains("<<<FILE\na\nFILE>>>"));
        assert!(user.contains("must stay: none"));
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(
            branch_name("ORD-x1Y2z3", "AB12CD"),
            "mission-control/ORD-x1Y2z3/AB12CD"
        );
        let (title, body) = issue_text(&task(), "FILE_NOT_FOUND", "no candidate");
        assert!(title.starts_with("[AB12CD] "));
        assert!(body.contains("> no candidate"));
        assert!(pull_request_text(&task()).0.contains("###AGENT_INIT###"));
    }
}
