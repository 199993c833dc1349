//! "Continue with which account?": the sign-in step after an email and password that match
//! users of several accounts (the same address may be a user of several accounts, model.md),
//! shared by the authorize flow's sign-in and the console's.
//!
//! The page lists only the accounts whose user the password matched, by name, as the submit
//! buttons of one form (`account` = the account id). Besides the CSRF token and the flow state it
//! carries `matched`: the matched (account, user) pairs, MAC-sealed with a purpose of their own,
//! bound to this browser's CSRF token, and usable for [`CHOICE_SECONDS`]. Posting a choice thus
//! needs no second password check, and cannot pick an account whose password did not match, nor
//! be replayed from another browser or after it expired.

use accord_store::users::User;
use askama::Template;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::signed::{self, SignedError};
use super::{Page, PageError};
use crate::state::AppState;

/// The MAC purpose of the sealed choice, so no other signed value is ever accepted as one.
const CHOICE_PURPOSE: &str = "sign-in-account-choice";
/// How long the choice stays usable after the password was checked.
pub const CHOICE_SECONDS: i64 = 300;
/// The hidden form field holding the sealed choice.
pub const MATCHED_FIELD: &str = "matched";
/// The submit buttons' name; each button's value is an account id.
pub const ACCOUNT_FIELD: &str = "account";

/// What the password proved: the users it matched, and the browser that proved it.
#[derive(Serialize, Deserialize)]
struct Matched {
    /// The CSRF token of the browser that signed in (itself tied to its cookie).
    csrf: String,
    /// (account id, user id) of every user the password matched.
    users: Vec<(String, String)>,
}

/// An account as the page lists it.
struct AccountButton {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "account_choice.html")]
struct AccountChoiceTemplate<'a> {
    action: &'a str,
    continue_to: &'a str,
    email: &'a str,
    csrf_token: &'a str,
    flow: &'a str,
    matched: &'a str,
    accounts: Vec<AccountButton>,
}

/// Where the choice is posted, and what the user is signing in to.
pub struct ChoiceForm<'a> {
    /// The path the form posts to.
    pub action: &'a str,
    /// What the user continues to: the app's name, or "the Accord console".
    pub continue_to: &'a str,
    /// The authorize flow's signed state; empty for the console.
    pub flow: &'a str,
}

/// The page asking which of `users`' accounts to continue with (`users`: everyone the password
/// matched, at least two).
pub async fn account_choice_page(
    state: &AppState,
    form: ChoiceForm<'_>,
    email: &str,
    users: &[User],
    csrf_token: &str,
) -> Result<Page, PageError> {
    let store = state.store();
    let mut accounts = Vec::with_capacity(users.len());
    for user in users {
        let account = store.account(user.account_id.as_str()).await?;
        accounts.push(AccountButton {
            id: account.id.to_string(),
            name: account.name,
        });
    }
    accounts.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let matched = signed::seal(
        store.keys(),
        CHOICE_PURPOSE,
        store.now(),
        &Matched {
            csrf: csrf_token.to_owned(),
            users: users
                .iter()
                .map(|u| (u.account_id.to_string(), u.id.to_string()))
                .collect(),
        },
    );
    Ok(Page::new(
        StatusCode::OK,
        &AccountChoiceTemplate {
            action: form.action,
            continue_to: form.continue_to,
            email,
            csrf_token,
            flow: form.flow,
            matched: &matched,
            accounts,
        },
    ))
}

/// Why a posted choice was not taken.
pub enum ChoiceRefused {
    /// The choice is older than [`CHOICE_SECONDS`]: sign in again.
    Expired,
    /// Tampered with, from another browser, or naming an account that was not offered.
    Invalid(PageError),
}

/// The user id of the chosen account, if the sealed choice is intact, fresh, this browser's
/// (`csrf_token` was checked against its cookie before), and offered that account.
pub fn chosen_user(
    state: &AppState,
    sealed: Option<&str>,
    csrf_token: &str,
    account: Option<&str>,
) -> Result<String, ChoiceRefused> {
    let store = state.store();
    let invalid = |detail: &str| {
        ChoiceRefused::Invalid(PageError::bad_request("Invalid form", detail.to_owned()))
    };
    let matched: Matched = signed::open(
        store.keys(),
        CHOICE_PURPOSE,
        store.now(),
        CHOICE_SECONDS,
        sealed,
    )
    .map_err(|error| match error {
        SignedError::Expired => ChoiceRefused::Expired,
        SignedError::Missing | SignedError::Invalid => invalid(
            "The form was changed or did not come from this server. Go back to the app and \
             start again.",
        ),
    })?;
    if matched.csrf != csrf_token {
        return Err(invalid(
            "This choice was made in another browser. Sign in again here.",
        ));
    }
    let account = account.ok_or_else(|| invalid("Choose one of the accounts listed."))?;
    matched
        .users
        .into_iter()
        .find(|(account_id, _)| account_id == account)
        .map(|(_, user_id)| user_id)
        .ok_or_else(|| invalid("Choose one of the accounts listed."))
}
