//! URL validation (webhooks.md): before an endpoint receives anything, and every 72 hours after,
//! Accord POSTs `endpoint.url_validation` with a random `plainToken`; the endpoint must answer
//! HTTP 200 with `{"plainToken": …, "encryptedToken": hex(HMAC-SHA256(secret token, plainToken))}`
//! within the timeout — proof that whoever answers holds the secret token, so Accord never floods
//! a URL its owner did not set up.
//!
//! The request is signed like every delivery. A failed validation is retried on the delivery
//! schedule (after its last delay, at that delay for good); the store decides nothing here.

use accord_core::clock::Timestamp;
use accord_core::webhooks::{self, RetrySchedule, URL_VALIDATION};
use accord_store::deliveries::{AttemptReport, EndpointCheck};

use super::sender::{Answer, Sender, Signed};

/// What a validation came to: the log line, whether it passed, and when the next one is due.
#[derive(Debug)]
pub struct Verdict {
    pub report: AttemptReport,
    pub passed: bool,
    pub next_due: Timestamp,
}

/// Validates one endpoint at `now`.
pub async fn validate(
    sender: &Sender,
    check: &EndpointCheck,
    now: Timestamp,
    schedule: &RetrySchedule,
    revalidate_seconds: i64,
) -> Verdict {
    let plain_token = accord_store::secrets::new_id();
    let body = webhooks::envelope(
        URL_VALIDATION,
        now,
        &serde_json::json!({ "plainToken": plain_token }),
    );
    let message_id = format!("validation_{}", accord_store::secrets::new_id());
    let answer = sender
        .send(&Signed {
            url: &check.url,
            message_id: &message_id,
            event_id: None,
            body: &body,
            secret_token: &check.secret_token,
            timestamp: now.seconds(),
        })
        .await;
    let problem = judge(&answer, &plain_token, check.secret_token.expose());
    let mut report = answer.report();
    let passed = problem.is_none();
    if let Some(problem) = problem {
        report.error = Some(problem);
    }
    let next_due = if passed {
        now.plus_seconds(revalidate_seconds)
    } else {
        let failures = usize::try_from(check.failures_in_a_row).unwrap_or(usize::MAX);
        let delay = schedule
            .delay_after(failures.saturating_add(1))
            .or_else(|| schedule.delays.last().copied())
            .unwrap_or(300);
        now.plus_seconds(delay)
    };
    Verdict {
        report,
        passed,
        next_due,
    }
}

/// Why the answer does not validate the endpoint, or `None` when it does.
fn judge(answer: &Answer, plain_token: &str, secret_token: &str) -> Option<String> {
    if let Some(error) = &answer.error {
        return Some(error.clone());
    }
    if answer.status != Some(200) {
        return Some(format!(
            "answered HTTP {} (a URL validation needs 200 with plainToken and encryptedToken)",
            answer.status.unwrap_or_default()
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Reply {
        plain_token: String,
        encrypted_token: String,
    }
    let Ok(reply) = serde_json::from_slice::<Reply>(&answer.body) else {
        return Some(
            "the answer is not JSON with plainToken and encryptedToken (strings)".to_owned(),
        );
    };
    if reply.plain_token != plain_token {
        return Some("the answer's plainToken is not the one sent".to_owned());
    }
    let expected = webhooks::url_validation_answer(secret_token, plain_token);
    if !reply.encrypted_token.eq_ignore_ascii_case(&expected) {
        return Some(
            "the answer's encryptedToken is not HMAC-SHA256(secret token, plainToken) in hex"
                .to_owned(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Answer {
        Answer {
            status: Some(200),
            body: body.as_bytes().to_vec(),
            ..Answer::default()
        }
    }

    #[test]
    fn only_the_right_encrypted_token_validates() {
        let right = webhooks::url_validation_answer("s3cret-token", "plain");
        let good = format!(r#"{{"plainToken":"plain","encryptedToken":"{right}"}}"#);
        assert_eq!(judge(&ok(&good), "plain", "s3cret-token"), None);
        let upper = good.replace(&right, &right.to_uppercase());
        assert_eq!(judge(&ok(&upper), "plain", "s3cret-token"), None);
        let wrong_key = webhooks::url_validation_answer("another", "plain");
        let bad = format!(r#"{{"plainToken":"plain","encryptedToken":"{wrong_key}"}}"#);
        assert!(judge(&ok(&bad), "plain", "s3cret-token").is_some());
        let other_plain = format!(r#"{{"plainToken":"other","encryptedToken":"{right}"}}"#);
        assert!(judge(&ok(&other_plain), "plain", "s3cret-token").is_some());
        assert!(judge(&ok("not json"), "plain", "s3cret-token").is_some());
        let mut not_200 = ok(&good);
        not_200.status = Some(204);
        assert!(judge(&not_200, "plain", "s3cret-token").is_some());
    }
}
