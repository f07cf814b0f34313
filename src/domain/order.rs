//! A new order as a client sends it to `POST /api/orders`, checked into typed values.

use super::path::normalise_file_path;
use super::placeholder::check_placeholder;
use super::validate::{body_object, kind, Checker};
use crate::error::ApiResult;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;

pub const MAX_FACTORY_LEN: usize = 100;
pub const MAX_FILES: usize = 500;
pub const MAX_TASKS: usize = 2000;
pub const MAX_INSTRUCTION_CHARS: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    pub factory: String,
    pub files: Vec<NewFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFile {
    pub file_path: String,
    /// (placeholder, instruction) in the order the client listed them.
    pub instructions: Vec<(String, String)>,
}

impl NewOrder {
    pub fn task_count(&self) -> usize {
        self.files.iter().map(|f| f.instructions.len()).sum()
    }
}

/// Checks a factory name: it ends up in logs, branch names and GitHub issues.
pub fn check_factory(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok_chars || !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(
            "must start with a letter or digit and contain only letters, digits, '_', '-' and '.'"
                .into(),
        );
    }
    Ok(())
}

/// Checks an order body, reporting every problem at once.
pub fn parse_new_order(body: &Value) -> ApiResult<NewOrder> {
    let obj = body_object(body)?;
    let mut check = Checker::new();

    let factory = check.required_str(obj, "factory", "factory", MAX_FACTORY_LEN);
    if let Some(name) = factory {
        if let Err(why) = check_factory(name) {
            check.fail("factory", why);
        }
    }

    let mut files = Vec::new();
    match obj.get("files") {
        None | Some(Value::Null) => check.fail("files", "is required"),
        Some(Value::Array(items)) if items.is_empty() => {
            check.fail("files", "must list at least one file")
        }
        Some(Value::Array(items)) if items.len() > MAX_FILES => {
            check.fail("files", format!("must list at most {MAX_FILES} files"))
        }
        Some(Value::Array(items)) => {
            files = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| parse_file(&mut check, i, item))
                .collect();
        }
        Some(other) => check.fail("files", format!("must be an array, not {}", kind(other))),
    }

    let task_count: usize = files.iter().map(|f: &NewFile| f.instructions.len()).sum();
    if task_count > MAX_TASKS {
        check.fail(
            "files",
            format!("an order may hold at most {MAX_TASKS} tasks, this one has {task_count}"),
        );
    }
    reject_duplicate_pairs(&mut check, &files);

    check.finish()?;
    Ok(NewOrder {
        factory: factory.unwrap_or_default().to_owned(),
        files,
    })
}

fn parse_file(check: &mut Checker, i: usize, item: &Value) -> Option<NewFile> {
    let at = format!("files[{i}]");
    let Some(obj) = item.as_object() else {
        check.fail(&at, format!("must be an object, not {}", kind(item)));
        return None;
    };
    let path_field = format!("{at}.file_path");
    let file_path = check
        .required_str(obj, "file_path", &path_field, usize::MAX)
        .and_then(|raw| match normalise_file_path(raw) {
            Ok(path) => Some(path),
            Err(why) => {
                check.fail(&path_field, why);
                None
            }
        });

    let field = format!("{at}.instructions");
    let instructions = match obj.get("instructions") {
        None | Some(Value::Null) => {
            check.fail(&field, "is required");
            None
        }
        Some(Value::Object(map)) if map.is_empty() => {
            check.fail(
                &field,
                "must map at least one placeholder to an instruction",
            );
            None
        }
        Some(Value::Object(map)) => Some(
            map.iter()
                .filter_map(|(name, text)| parse_instruction(check, &field, name, text))
                .collect::<Vec<_>>(),
        ),
        Some(other) => {
            check.fail(&field, format!("must be an object, not {}", kind(other)));
            None
        }
    };
    Some(NewFile {
        file_path: file_path?,
        instructions: instructions?,
    })
}

fn parse_instruction(
    check: &mut Checker,
    field: &str,
    name: &str,
    text: &Value,
) -> Option<(String, String)> {
    let at = format!("{field}.{name}");
    if let Err(why) = check_placeholder(name) {
        check.fail(format!("{field} key '{name}'"), why);
        return None;
    }
    let Some(text) = text.as_str() else {
        check.fail(&at, format!("must be a string, not {}", kind(text)));
        return None;
    };
    if text.trim().is_empty() {
        check.fail(&at, "must not be empty");
        return None;
    }
    if text.chars().count() > MAX_INSTRUCTION_CHARS {
        check.fail(
            &at,
            format!("must be at most {MAX_INSTRUCTION_CHARS} characters"),
        );
        return None;
    }
    Some((name.to_owned(), text.to_owned()))
}

/// Two tasks for one placeholder of one file would fight over the same marker.
fn reject_duplicate_pairs(check: &mut Checker, files: &[NewFile]) {
    let mut seen = HashSet::new();
    for (i, file) in files.iter().enumerate() {
        for (name, _) in &file.instructions {
            if !seen.insert((file.file_path.as_str(), name.as_str())) {
                check.fail(
                    format!("files[{i}].instructions.{name}"),
                    format!("duplicates placeholder '{name}' of '{}'", file.file_path),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        match parse_new_order(&body) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_original_sample_keeping_order() {
        let order = parse_new_order(&json!({
            "factory": "agent-factory",
            "files": [{
                "file_path": "./worker/agents/agent_gmail.ts",
                "instructions": {
                    "FINAL_MILE_PROMPT__AGENT_LOGIC": "logic",
                    "FINAL_MILE_PROMPT__AGENT_INIT": "init"
                }
            }]
        }))
        .unwrap();
        assert_eq!(order.factory, "agent-factory");
        assert_eq!(order.files[0].file_path, "worker/agents/agent_gmail.ts");
        let names: Vec<_> = order.files[0]
            .instructions
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "FINAL_MILE_PROMPT__AGENT_LOGIC",
                "FINAL_MILE_PROMPT__AGENT_INIT"
            ]
        );
        assert_eq!(order.task_count(), 2);
    }

    #[test]
    fn reports_every_bad_field() {
        let got = fields(json!({
            "factory": 7,
            "files": [
                {"file_path": "../x", "instructions": {"A": "a"}},
                {"file_path": "ok.ts", "instructions": {"BAD NAME": "a", "B": "", "C": 3}},
                "nope",
                {"file_path": "y.ts", "instructions": {}}
            ]
        }));
        assert_eq!(
            got,
            [
                "factory",
                "files[0].file_path",
                "files[1].instructions key 'BAD NAME'",
                "files[1].instructions.B",
                "files[1].instructions.C",
                "files[2]",
                "files[3].instructions",
            ]
        );
    }

    #[test]
    fn refuses_duplicate_file_placeholder_pairs_after_normalising() {
        let got = fields(json!({
            "factory": "f",
            "files": [
                {"file_path": "a/b.ts", "instructions": {"X": "one"}},
                {"file_path": "./a//b.ts", "instructions": {"X": "two"}}
            ]
        }));
        assert_eq!(got, ["files[1].instructions.X"]);
    }

    #[test]
    fn bounds_files_tasks_and_sizes() {
        let many_files: Vec<_> = (0..=MAX_FILES)
            .map(|i| json!({"file_path": format!("f{i}.ts"), "instructions": {"X": "x"}}))
            .collect();
        assert_eq!(
            fields(json!({"factory": "f", "files": many_files})),
            ["files"]
        );

        let big: serde_json::Map<_, _> = (0..=MAX_TASKS)
            .map(|i| (format!("P{i}"), json!("x")))
            .collect();
        assert_eq!(
            fields(json!({"factory": "f", "files": [{"file_path": "a", "instructions": big}]})),
            ["files"]
        );

        let long = "x".repeat(MAX_INSTRUCTION_CHARS + 1);
        assert_eq!(
            fields(
                json!({"factory": "f", "files": [{"file_path": "a", "instructions": {"X": long}}]})
            ),
            ["files[0].instructions.X"]
        );
        assert_eq!(fields(json!({"factory": "f", "files": []})), ["files"]);
        assert_eq!(
            fields(json!({"files": [{"file_path": "a", "instructions": {"X": "x"}}]})),
            ["factory"]
        );
        assert_eq!(
            fields(
                json!({"factory": "-x", "files": [{"file_path": "a", "instructions": {"X": "x"}}]})
            ),
            ["factory"]
        );
        assert_eq!(fields(json!([])), ["body"]);
    }
}
