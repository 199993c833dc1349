//! Webhook delivery (webhooks.md): the outbox rows the store writes with each change are sent
//! from here. [`sender`] makes one safe, signed request; [`validation`] proves an endpoint holds
//! its secret token before it receives anything; [`worker`] claims, sends, retries and records,
//! on one node or many sharing a database.
//!
//! What gets queued, and for whom, is the store's business (`accord_store::outbox`); the
//! developer's delivery log and redelivery are the API's.

pub mod sender;
pub mod validation;
pub mod worker;

pub use sender::{Sender, SenderConfig, SenderError};
pub use worker::{PassReport, WebhookConfig, Worker};
