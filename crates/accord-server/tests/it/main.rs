//! The HTTP layer's integration tests, one module per area, on every backend.

mod assistants_api;
mod authorize;
mod connections;
mod console_my_apps;
mod console_support;
mod edge;
mod emails;
mod flow;
mod health;
mod isolation;
mod keys;
mod live;
mod live_changes;
mod matrix;
mod meetings_api;
mod openapi;
mod rate_limits;
mod report_api;
mod roles_api;
mod support;
mod throttling;
mod tokens;
mod users_api;
mod webhook_events;
mod webhook_log_api;
mod webhooks_delivery;
