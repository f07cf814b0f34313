//! The body of `POST /api/task/:uuid/help`, validated.

use crate::domain::validate::{body_object, Checker};
use crate::error::ApiResult;
use serde_json::Value;

const MAX_AGENT_NAME: usize = 100;
pub const MAX_QUESTION: usize = 4000;
const MAX_ERROR: usize = 8000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRequest {
    pub agent_name: String,
    pub question: Option<String>,
    pub error: Option<String>,
}

pub fn parse_help_request(body: &Value) -> ApiResult<HelpRequest> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let agent_name = check.required_str(obj, "agent_name", "agent_name", MAX_AGENT_NAME);
    let question = check.optional_str(obj, "question", "question", MAX_QUESTION);
    let error = check.optional_str(obj, "error", "error", MAX_ERROR);
    check.finish()?;
    Ok(HelpRequest {
        agent_name: agent_name.unwrap_or_default().to_owned(),
        question: question.map(str::to_owned),
        error: error.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn help_bodies() {
        let ask =
            parse_help_request(&json!({"agent_name": "gmail-agent", "question": "How?"})).unwrap();
        assert_eq!(ask.agent_name, "gmail-agent");
        assert_eq!(ask.question.as_deref(), Some("How?"));
        assert_eq!(ask.error, None);
        assert!(parse_help_request(&json!({"question": "How?"})).is_err());
        assert!(parse_help_request(&json!({"agent_name": "a", "error": 5})).is_err());
        assert!(parse_help_request(
            &json!({"agent_name": "a", "question": "q".repeat(MAX_QUESTION + 1)})
        )
        .is_err());
    }
}
