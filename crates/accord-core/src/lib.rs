//! Accord's model and its permission rule: plain data and pure functions, no I/O.
//!
//! - [`ids`], [`users`], [`roles`], [`privileges`], [`apps`], [`grants`]: the entities of
//!   model.md, each value valid by construction.
//! - [`scopes`]: the classic and granular scope catalogs, the privilege behind each scope, its
//!   consent-page wording, and the check of the scopes an app declares.
//! - [`endpoints`]: every `/v2` endpoint of api.md with the scopes that admit it, the privilege
//!   it needs on a user grant, its object kind (and not-found answer) and rate-limit category.
//! - [`permission`]: **the** permission rule (steps 1–5 of model.md) as one function over plain
//!   data, returning how access was granted or a `Denial` that names the failed step and what
//!   would fix it; `explain_steps` reports every step from the same evaluation.
//! - [`refresh`]: whether a presented refresh token is usable now, and how (rotate, repeat the
//!   successor within the grace window, or reuse) — one decision for the token endpoint and
//!   introspection.
//! - [`rules`]: step 5, the business rules of single endpoints (the owner and built-in roles),
//!   each answering the `Violation` a request breaks, for the API and the console alike.
//! - [`install`]: who may install an account app or authorize a user app, and which scopes the
//!   grant gets.
//! - [`meetings`]: Zoom's meeting object: validation with per-field errors, start times in the
//!   meeting's time zone, recurrences and their occurrences across daylight-saving changes.
//! - [`names`]: the names people type, one parsed type each — a user's first or last name, a
//!   role's name, a time zone's IANA name — for the store, the API, the seed file and the console.
//! - [`input`]: what every text input obeys on any surface (no NUL character).
//! - [`webhooks`]: events, their envelope and signatures, and who receives an event (the
//!   permission rule's answer to reading the object).
//! - [`rate_limits`]: an account's own rate limits (which of api.md's four it sets), their JSON
//!   shape and their command-line spelling.
//! - [`clock`]: time, injected.

pub mod apps;
pub mod clock;
pub mod endpoints;
pub mod grants;
pub mod ids;
pub mod input;
pub mod install;
pub mod meetings;
pub mod names;
pub mod permission;
pub mod privileges;
pub mod rate_limits;
pub mod refresh;
pub mod roles;
pub mod rules;
pub mod scopes;
pub mod users;
pub mod webhooks;
