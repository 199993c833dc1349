//! One signed POST to a webhook endpoint, made safely (webhooks.md, "Delivery guarantees").
//!
//! The endpoint URL is chosen by a developer, so every request is an outbound request on someone
//! else's behalf (SSRF). The sender therefore:
//! - refuses targets on loopback, private, shared (CGNAT), link-local, unspecified, multicast and
//!   broadcast addresses unless the deployment allows them (`--webhook-allow-private`): checked on
//!   a literal-IP host before anything is sent, and on **every** address a name resolves to (our
//!   own resolver, so the address checked is the address connected to — no second lookup that a
//!   rebinding DNS could answer differently);
//! - follows no redirect (a 3xx is a failed attempt), uses no proxy, and gives the whole exchange
//!   one timeout (3 s by default: connect, send, status and the body read);
//! - reads at most `max_response_bytes` of the answer (an excerpt is kept for the developer's log)
//!   and drops the connection on the rest.
//!
//! Each request carries Zoom's signature (`x-zm-signature`, `x-zm-request-timestamp`), the
//! Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`), the event
//! id (`x-accord-event-id`) for de-duplication, JSON content type and Accord's User-Agent.
//! TLS is rustls with aws-lc-rs, the only crypto provider in the build.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_core::ids::Secret;
use accord_core::webhooks;
use accord_store::deliveries::AttemptReport;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Client, Url, redirect};

/// How many characters of an answer the delivery log keeps.
pub const EXCERPT_CHARS: usize = 512;

/// How the sender behaves (the deployment's choices).
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Allow loopback and private targets (`--webhook-allow-private`: demos, tests, closed networks).
    pub allow_private: bool,
    /// The whole exchange, from connecting to the end of the body read.
    pub timeout: Duration,
    /// The most of an answer that is read.
    pub max_response_bytes: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            allow_private: false,
            timeout: Duration::from_secs(3),
            max_response_bytes: 64 * 1024,
        }
    }
}

/// The sender could not be built (TLS set-up failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct SenderError(#[from] reqwest::Error);

/// One signed request to send.
#[derive(Debug)]
pub struct Signed<'a> {
    pub url: &'a str,
    /// `webhook-id`: the event id, or a fresh id for a URL validation.
    pub message_id: &'a str,
    /// `x-accord-event-id`, for events (not URL validations).
    pub event_id: Option<&'a str>,
    pub body: &'a str,
    pub secret_token: &'a Secret,
    /// Unix seconds: `x-zm-request-timestamp` and `webhook-timestamp`.
    pub timestamp: i64,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why no usable answer came (refused target, timeout, connection error).
    pub error: Option<String>,
    /// The start of the body, at most `max_response_bytes`.
    pub body: Vec<u8>,
}

impl Answer {
    /// Success as webhooks.md defines it: 200 or 204 within the timeout.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200 | 204))
    }

    /// The log line's fields for this answer.
    pub fn report(&self) -> AttemptReport {
        let error = match (&self.error, self.status) {
            (Some(error), _) => Some(error.clone()),
            (None, Some(status)) if !self.succeeded() => Some(format!("answered HTTP {status}")),
            _ => None,
        };
        let excerpt: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(EXCERPT_CHARS)
            .collect();
        AttemptReport {
            status_code: self.status,
            latency_ms: i64::try_from(self.latency.as_millis()).unwrap_or(i64::MAX),
            error,
            response_excerpt: (!excerpt.is_empty()).then_some(excerpt),
        }
    }
}

/// Sends signed webhook requests. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Sender {
    client: Client,
    config: SenderConfig,
}

impl Sender {
    pub fn new(config: SenderConfig) -> Result<Sender, SenderError> {
        let client = Client::builder()
            .user_agent(concat!("Accord-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_max_idle_per_host(4)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
            }))
            .build()?;
        Ok(Sender { client, config })
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// POSTs one signed request and reads (part of) the answer. Never fails: every problem is
    /// an [`Answer`] with an error, which the caller logs as the attempt's outcome.
    pub async fn send(&self, request: &Signed<'_>) -> Answer {
        let started = Instant::now();
        let mut answer = self.exchange(request).await;
        answer.latency = started.elapsed();
        answer
    }

    async fn exchange(&self, request: &Signed<'_>) -> Answer {
        let url = match Url::parse(request.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => return failed("the endpoint is not an http(s) URL"),
        };
        if !self.config.allow_private
            && let Some(ip) = literal_ip(&url)
            && let Some(kind) = refused_kind(ip)
        {
            return failed(format!(
                "refused: {ip} is a {kind} address (allowed only with --webhook-allow-private)"
            ));
        }
        let secret = request.secret_token.expose();
        let timestamp = request.timestamp.to_string();
        let mut builder = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", &timestamp)
            .header(
                "x-zm-signature",
                webhooks::zoom_signature(secret, request.timestamp, request.body),
            )
            .header("webhook-id", request.message_id)
            .header("webhook-timestamp", &timestamp)
            .header(
                "webhook-signature",
                webhooks::standard_signature(
                    secret,
                    request.message_id,
                    request.timestamp,
                    request.body,
                ),
            );
        if let Some(event_id) = request.event_id {
            builder = builder.header("x-accord-event-id", event_id);
        }
        let mut response = match builder.body(request.body.to_owned()).send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(error, self.config.timeout)),
        };
        let mut answer = Answer {
            status: Some(response.status().as_u16()),
            ..Answer::default()
        };
        let cap = self.config.max_response_bytes;
        while answer.body.len() < cap {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = cap - answer.body.len();
                    answer
                        .body
                        .extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(error) => {
                    // The status came in time; a body cut short changes nothing but the excerpt.
                    if !answer.succeeded() {
                        answer.error = Some(format!(
                            "answered HTTP {}, then {}",
                            response.status().as_u16(),
                            describe(error, self.config.timeout)
                        ));
                    }
                    break;
                }
            }
        }
        // Dropping the response here closes the connection on whatever was not read.
        answer
    }
}

fn failed(error: impl Into<String>) -> Answer {
    Answer {
        error: Some(error.into()),
        ..Answer::default()
    }
}

/// A readable, URL-free account of a failed exchange (the log has the URL in its own column,
/// and a developer's URL may carry a token in its query).
fn describe(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = current.source();
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The host as an IP address, when the URL names one (the URL parser has already normalised
/// forms like `http://2130706433/` to `127.0.0.1`); such hosts never reach the resolver.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Why an address is not a public unicast one a webhook may go to, or `None` when it is.
pub fn refused_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => {
            // An IPv4 address inside IPv6 (mapped, compatible, NAT64) counts as that address.
            if let Some(v4) = ip.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let segments = ip.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return refused_v4(Ipv4Addr::new(a, b, c, d));
            }
            refused_v6(ip)
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if ip.segments()[..6] == [0; 6] {
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        Some("IPv4-compatible")
    } else {
        None
    }
}

/// A target refused by policy (the error a connection attempt fails with).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The system resolver, then the policy on every address found: a name with any refused address
/// is refused whole (an attacker's name could otherwise mix a public and a private address).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private
                && let Some((ip, kind)) = found
                    .iter()
                    .find_map(|addr| refused_kind(addr.ip()).map(|kind| (addr.ip(), kind)))
            {
                return Err(Box::new(Refused(format!(
                    "refused: {host} resolves to {ip}, a {kind} address (allowed only with --webhook-allow-private)"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_odd_addresses_are_refused_public_ones_are_not() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
        ] {
            let ip: IpAddr = refused.parse().expect(refused);
            assert!(refused_kind(ip).is_some(), "{refused} must be refused");
        }
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = allowed.parse().expect(allowed);
            assert_eq!(refused_kind(ip), None, "{allowed} is public");
        }
    }

    #[test]
    fn an_answer_reports_its_status_and_a_short_excerpt() {
        let answer = Answer {
            status: Some(500),
            latency: Duration::from_millis(12),
            error: None,
            body: vec![b'x'; 4000],
        };
        let report = answer.report();
        assert!(!answer.succeeded());
        assert_eq!(report.status_code, Some(500));
        assert_eq!(report.latency_ms, 12);
        assert_eq!(report.error.as_deref(), Some("answered HTTP 500"));
        assert_eq!(
            report.response_excerpt.map(|e| e.len()),
            Some(EXCERPT_CHARS)
        );
        let ok = Answer {
            status: Some(204),
            ..Answer::default()
        };
        assert!(ok.succeeded());
        assert_eq!(ok.report().error, None);
        assert_eq!(ok.report().response_excerpt, None);
    }
}
