//! Checking an email and password, for every sign-in form (the authorize flow's and the
//! console's): throttled per email and per client address, checked on the password-check
//! workers, against a dummy hash when the email is unknown, and saying nothing about which of the
//! two was wrong.

use accord_core::ids::{Email, Secret};
use accord_store::users::{User, matching_candidates};

use super::PageError;
use crate::password_checks::BUSY_RETRY_AFTER_SECONDS;
use crate::state::AppState;
use crate::throttle::{ClientAddress, seconds_text};

/// What a failed sign-in says, whichever of the two was wrong.
pub const WRONG_EMAIL_OR_PASSWORD: &str = "Wrong email or password.";

/// The outcome of one sign-in attempt.
pub enum Checked {
    /// Every user the email and password are (several when the address and password are a user
    /// of several accounts); never empty.
    Users(Vec<User>),
    /// Wrong email or password (counted against the email and the address, unless there was
    /// nothing to check).
    Wrong,
    /// Too many recent failures for this email or this address: nothing was checked. The form
    /// comes back with 429 and `Retry-After`.
    Throttled { retry_after_seconds: u64 },
    /// Every password-check worker is busy: nothing was checked or counted (503, `Retry-After`).
    Busy { retry_after_seconds: u64 },
}

impl Checked {
    /// What the form says when this is not a success.
    pub fn message(&self) -> String {
        match self {
            Checked::Users(_) => String::new(),
            Checked::Wrong => WRONG_EMAIL_OR_PASSWORD.to_owned(),
            Checked::Throttled {
                retry_after_seconds,
            } => format!(
                "Too many failed sign-ins for this email or from your network. Try again in {}.",
                seconds_text(*retry_after_seconds)
            ),
            Checked::Busy {
                retry_after_seconds,
            } => format!(
                "The server is too busy to check passwords right now. Try again in {}.",
                seconds_text(*retry_after_seconds)
            ),
        }
    }
}

/// Checks `email` and `password` as posted.
pub async fn check(
    state: &AppState,
    address: &ClientAddress,
    email: &str,
    password: Option<&str>,
) -> Result<Checked, PageError> {
    let (Ok(email), Some(password)) = (Email::parse(email.trim()), password) else {
        // Nothing to guess against: no password check, nothing counted.
        return Ok(Checked::Wrong);
    };
    let throttle = &state.throttles().sign_in;
    let attempt = match throttle.admit(&email.key(), address, state.store().now()) {
        Ok(attempt) => attempt,
        Err(refusal) => {
            return Ok(Checked::Throttled {
                retry_after_seconds: refusal.retry_after_seconds,
            });
        }
    };
    let candidates = state.store().sign_in_candidates(&email).await?;
    let store = state.store().clone();
    let password = Secret::new(password);
    let checked = state
        .password_checks()
        .run(move |memory| matching_candidates(store.keys(), memory, candidates, &password))
        .await;
    let Ok(users) = checked else {
        // Not checked, so neither a failure nor a success: the attempt is dropped unsettled.
        return Ok(Checked::Busy {
            retry_after_seconds: BUSY_RETRY_AFTER_SECONDS,
        });
    };
    let now = state.store().now();
    if users.is_empty() {
        attempt.failed(now);
        Ok(Checked::Wrong)
    } else {
        attempt.succeeded(now);
        Ok(Checked::Users(users))
    }
}
