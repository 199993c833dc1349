//! A rule every text input obeys, whichever surface it comes through (HTTP, seed files): it holds
//! no NUL character (U+0000). PostgreSQL refuses NUL in text while SQLite stores it, so the rule
//! is checked where input enters, and both databases see the same input.

use serde_json::Value;

/// The first string or object key of a JSON value that holds a NUL, as a dotted path
/// (`user_info.email`, `assistants[1].id`; empty for a top-level string). Keys are shown with
/// their control characters escaped, so the path is safe to echo.
pub fn nul_in_json(value: &Value) -> Option<String> {
    nul_at(value, String::new())
}

fn nul_at(value: &Value, at: String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then_some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let shown = key.escape_debug();
            let inner = if at.is_empty() {
                shown.to_string()
            } else {
                format!("{at}.{shown}")
            };
            match key.contains('\0') {
                true => Some(inner),
                false => nul_at(item, inner),
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_nul_is_named_by_its_path() {
        let body = json!({"user_info": {"email": "a\u{0}@x.test"}, "list": ["ok"]});
        assert_eq!(nul_in_json(&body).as_deref(), Some("user_info.email"));
        let nested = json!({"assistants": [{"id": "x"}, {"id": "\u{0}"}]});
        assert_eq!(nul_in_json(&nested).as_deref(), Some("assistants[1].id"));
        assert_eq!(nul_in_json(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(
            nul_in_json(&json!({"a\u{0}b": 1})).as_deref(),
            Some("a\\0b")
        );
        assert_eq!(nul_in_json(&json!({"agenda": "C:\\u0000", "n": 1})), None);
    }
}
