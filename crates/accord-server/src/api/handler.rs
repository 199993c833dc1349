//! The plumbing every `/v2` handler shares (and the console will): which endpoint was called
//! ([`Call`], resolved once by the gate), where the target object lives ([`Located`]), the JSON
//! body ([`json`]), the page-token block ([`Pages`]), who the audit log names ([`actor`]), and
//! the one answer to a store failure ([`store_error`]).

use accord_core::endpoints::{Endpoint, ObjectKind};
use accord_core::ids::{AccountId, UserId};
use accord_store::StoreError;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::access::{ApiDenial, Caller, TokenState};
use super::paging::{Binding, KeyPart, PageFields, PageQuery};
use crate::errors::ApiError;
use crate::state::AppState;

pub use super::body::json;

/// The catalog endpoint a request was routed to: resolved once by the gate from the method and
/// path, so a handler never spells its path a second time. (Path parameters come decoded from
/// axum's `Path`; the gate keeps nothing else per request.)
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub endpoint: &'static Endpoint,
}

impl Call {
    /// The endpoint of `method path` (a path under `/v2`, without it), if the catalog has one.
    pub fn resolve(method: &str, path: &str) -> Option<Call> {
        accord_core::endpoints::route(method, path).map(|route| Call {
            endpoint: route.endpoint,
        })
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Call {
    type Rejection = ApiDenial;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Every `/v2` route is in the catalog and passes the gate; a route that is not is a bug.
        parts.extensions.get::<Call>().copied().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a /v2 route without a catalog endpoint");
            ApiDenial::Internal
        })
    }
}

/// Where the target object lives, as found by the endpoint.
pub struct Located<'a> {
    /// The id as the request gave it.
    pub id: &'a str,
    /// `None` when the object does not exist anywhere.
    pub account: Option<AccountId>,
    /// The user who owns the object; `None` for account-wide requests.
    pub owner: Option<UserId>,
}

impl Located<'static> {
    /// An account-wide request (a list, a create): the token's own account, no owner.
    pub fn account_wide(token: &TokenState) -> Self {
        Located {
            id: "",
            account: token.account.clone(),
            owner: None,
        }
    }
}

/// Who the audit log names for a change made through a token: the user a user grant acts as,
/// else the app.
pub(crate) fn actor(caller: &Caller) -> accord_store::audit::Actor {
    match caller.grant.kind {
        accord_core::grants::GrantKind::Authorization => {
            accord_store::audit::Actor::User(caller.me.as_str().to_owned())
        }
        _ => accord_store::audit::Actor::App(caller.claims.client_id.clone()),
    }
}

/// What a write was about, for the answer to its store failure. A read (`None`) knows nothing
/// of the kind: a failure the request could have caused does not happen there.
#[derive(Debug, Clone, Copy)]
pub enum Writing<'a> {
    /// A user write; a role it names that is missing reads as a missing role.
    User,
    /// A role write: every missing object reads as the role (400, code 1034), a duplicate name
    /// is 400, code 1224.
    Role,
    /// A meeting write, on the meeting the request named.
    Meeting(&'a str),
    /// A write on an app's grants or webhook, on the app the request named.
    App(&'a str),
}

/// A store failure as an API answer — the one mapping every handler uses (`?` on a store call
/// is `store_error(e, None)`):
///
/// - a removal the store refused (a user acting): 400, code 200, as step 4 answers;
/// - a missing object: on a write, that object's answer ([`ObjectKind::not_found`]); on a read,
///   404 "no longer exists" (looked up before, removed while the request ran);
/// - on a write: a uniqueness conflict 409/1005 (roles: 400/1224), invalid input 400/300 (a
///   field's with `errors[]`), an owner invariant 400/200;
/// - the database unreachable: 503; anything else: 500, logged.
pub fn store_error(error: StoreError, writing: Option<Writing<'_>>) -> ApiDenial {
    let answer = |error: ApiError| ApiDenial::Error(error);
    match (error, writing) {
        (StoreError::Refused(refusal), _) => answer(ApiError::new(
            StatusCode::BAD_REQUEST,
            accord_core::permission::NO_PERMISSION_CODE,
            refusal.to_string(),
        )),
        (StoreError::NotFound { .. }, None) => answer(ApiError::not_found(
            "The object no longer exists: it was removed while this request ran.",
        )),
        // A role of another account, or none, reads the same (api.md: 400, code 1034).
        (StoreError::NotFound { what: "role", id }, Some(Writing::User))
        | (StoreError::NotFound { id, .. }, Some(Writing::Role)) => {
            answer(ApiError::missing(ObjectKind::Role, &id))
        }
        (StoreError::NotFound { id, .. }, Some(Writing::User)) => {
            answer(ApiError::missing(ObjectKind::User, &id))
        }
        (StoreError::NotFound { .. }, Some(Writing::Meeting(id))) => {
            answer(ApiError::missing(ObjectKind::Meeting, id))
        }
        (StoreError::NotFound { .. }, Some(Writing::App(id))) => {
            answer(ApiError::missing(ObjectKind::App, id))
        }
        (StoreError::Conflict(message), Some(Writing::Role)) => {
            answer(ApiError::new(StatusCode::BAD_REQUEST, 1224, message))
        }
        (StoreError::Conflict(message), Some(_)) => {
            answer(ApiError::new(StatusCode::CONFLICT, 1005, message))
        }
        (StoreError::Invalid(message), Some(_)) => answer(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::errors::VALIDATION_CODE,
            message,
        )),
        (StoreError::Field(field), Some(_)) => {
            answer(ApiError::validation(field.field(), field.message()))
        }
        (StoreError::OwnerRule(rule), Some(_)) => answer(ApiError::new(
            StatusCode::BAD_REQUEST,
            accord_core::permission::NO_PERMISSION_CODE,
            rule.to_string(),
        )),
        (error, _) if error.is_unavailable() => {
            tracing::warn!(%error, "the database cannot be reached; answered 503");
            ApiDenial::Unavailable
        }
        (error, _) => {
            tracing::error!(%error, "storage refused a request it should have been able to serve; answered 500");
            ApiDenial::Internal
        }
    }
}

/// The page-token block of a list endpoint: the page asked for (`page_size`,
/// `next_page_token`), bound to the account, endpoint and filters it was issued for.
pub struct Pages<'s> {
    state: &'s AppState,
    binding: Binding,
    pub query: PageQuery,
    now: accord_core::clock::Timestamp,
}

impl<'s> Pages<'s> {
    /// Reads `page_size` and `next_page_token` from the query string (400, code 300 when bad).
    pub fn read(
        state: &'s AppState,
        query: Option<&str>,
        binding: Binding,
    ) -> Result<Self, ApiDenial> {
        Ok(Pages {
            state,
            binding,
            query: PageQuery::from_query(query)?,
            now: state.store().now(),
        })
    }

    /// Where to continue from: `None` for the first page. `key` reads the position back into
    /// the list's key; a token it does not fit (or one that does not verify) is a validation
    /// error naming `next_page_token`.
    pub fn after<K>(
        &self,
        key: impl FnOnce(&[KeyPart]) -> Option<K>,
    ) -> Result<Option<K>, ApiDenial> {
        let position = self
            .query
            .position(self.state.store().keys(), &self.binding, self.now)
            .map_err(ApiError::from)?;
        match position.as_deref() {
            None => Ok(None),
            Some(parts) => match key(parts) {
                Some(key) => Ok(Some(key)),
                None => {
                    Err(ApiError::validation("next_page_token", "Invalid next_page_token").into())
                }
            },
        }
    }

    /// The page's `page_size`, `total_records` and `next_page_token` fields.
    pub fn fields(&self, total: u64, next: Option<&[KeyPart]>) -> PageFields {
        PageFields::new(
            self.state.store().keys(),
            &self.binding,
            self.query.page_size,
            total,
            next,
            self.now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_carries_the_catalog_endpoint() {
        let call = Call::resolve("GET", "/users/me").expect("users.get");
        assert_eq!(
            call.endpoint,
            accord_core::endpoints::find("GET", "/users/{userId}").unwrap()
        );
        assert!(Call::resolve("GET", "/nowhere").is_none());
    }

    fn status_and_code(denial: ApiDenial) -> (u16, u32) {
        match denial {
            ApiDenial::Error(error) => (error.status.as_u16(), error.code),
            ApiDenial::Unavailable => (503, 503),
            ApiDenial::Internal => (500, 500),
            ApiDenial::Denied(denial) => (denial.status, denial.code),
        }
    }

    #[test]
    fn one_mapping_answers_each_writes_store_failures_as_before() {
        let missing = |what| StoreError::NotFound {
            what,
            id: "x".into(),
        };
        let cases = [
            (missing("user"), None, (404, 404)),
            (missing("user"), Some(Writing::User), (404, 1001)),
            (missing("role"), Some(Writing::User), (400, 1034)),
            (missing("user"), Some(Writing::Role), (400, 1034)),
            (missing("meeting"), Some(Writing::Meeting("7")), (404, 3001)),
            (missing("grant"), Some(Writing::App("a")), (404, 404)),
            (
                StoreError::Conflict("c".into()),
                Some(Writing::User),
                (409, 1005),
            ),
            (
                StoreError::Conflict("c".into()),
                Some(Writing::Role),
                (400, 1224),
            ),
            (StoreError::Conflict("c".into()), None, (500, 500)),
            (
                StoreError::Invalid("i".into()),
                Some(Writing::Meeting("7")),
                (400, 300),
            ),
            (StoreError::Invalid("i".into()), None, (500, 500)),
            (
                StoreError::Corrupt("k".into()),
                Some(Writing::User),
                (500, 500),
            ),
        ];
        for (error, writing, expected) in cases {
            let shown = error.to_string();
            assert_eq!(
                status_and_code(store_error(error, writing)),
                expected,
                "{shown} {writing:?}"
            );
        }
    }
}
