//! The accept loop: every connection the server takes, with the limits that keep slow or many
//! clients from holding it hostage (operations.md, "Limits on input").
//!
//! - **A cap on open connections** (`--max-connections`): at the cap the loop stops accepting until
//!   one closes, and the kernel's listen backlog holds the rest — they are served late, not refused.
//! - **A cap per client address** (`--max-connections-per-address`): beyond it a new connection
//!   from that address is closed at once, so one client cannot take every slot. IPv6 clients count
//!   per /64, since one host may hold a whole /64. Behind a load balancer every connection comes
//!   from its address: raise the cap to `--max-connections` there.
//! - **A header timeout** (`--header-timeout`): a new connection's first request, and any later
//!   request from its first byte, must finish its header section within it. A client that sends
//!   half a request and waits is closed.
//! - **An idle timeout** (`--idle-timeout`): how long a kept-alive connection waits for the next
//!   request, how long a request body may pause between chunks while a handler waits for it (the
//!   handler then refuses the request), and how long a response may wait for the client to read it.
//!
//! hyper's own `header_read_timeout` also runs while a kept-alive connection waits between requests,
//! so the two timeouts could not differ (a short header timeout would close kept-alive connections
//! that a load balancer expects to reuse). So each connection has a watchdog that knows which phase
//! it is in — waiting for a request, reading a header section, answering, or waiting for the client
//! to take bytes — from a thin wrapper around the socket (bytes read, writes blocked) and around each
//! request (started, answer handed over), and drops the connection once the phase's deadline passes.
//!
//! Shutdown (SIGTERM) stops accepting, lets every connection finish the request in flight (idle
//! ones close at once), and returns once every connection has closed: each holds a slot of the
//! cap's semaphore, so the loop waits until all slots are back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Timeouts and caps on connections. The defaults suit one node facing clients directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's header section must arrive within this (from its first byte; from the
    /// connection's opening for its first request).
    pub header_timeout: Duration,
    /// How long a connection may wait on its client between requests, within a request body, or
    /// to have a response read.
    pub idle_timeout: Duration,
    /// Connections open at once; beyond, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_address: 256,
        }
    }
}

/// How long the loop pauses when accepting fails (out of file descriptors, say) rather than spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(250);

/// Warnings about caps being reached are written at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then drains: the
/// request in flight on each connection is finished, and this returns once every connection has
/// closed. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // The semaphore's permits and `acquire_many` are counted in u32.
    let slots_total = limits
        .max_connections
        .clamp(1, usize::try_from(u32::MAX).unwrap_or(usize::MAX));
    let slots = Arc::new(Semaphore::new(slots_total));
    let addresses = Arc::new(AddressShares::new(limits.max_connections_per_address));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut full_warning = Warning::default();
    let mut address_warning = Warning::default();
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot,
        };
        // The semaphore is never closed; were it, there would be nothing left to serve with.
        let Ok(slot) = slot else { break };
        if slots.available_permits() == 0 && full_warning.due() {
            tracing::warn!(
                max_connections = slots_total,
                "every connection slot is taken; new connections wait in the listen backlog"
            );
        }
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection; retrying shortly");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    }
                }
            },
        };
        let Some(share) = addresses.claim(peer.ip()) else {
            if address_warning.due() {
                tracing::warn!(
                    client = %client_key(peer.ip()),
                    limit = limits.max_connections_per_address,
                    "a client holds its whole share of connections; closing its new ones \
                     (behind a load balancer, raise --max-connections-per-address)"
                );
            }
            // Dropping the stream closes it; dropping the slot frees it.
            continue;
        };
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            stopping.clone(),
            (slot, share),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it closes: once all are back, all have closed.
    let _ = slots
        .acquire_many(u32::try_from(slots_total).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// One connection: HTTP/1 served by hyper, watched by the phase deadlines.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    _held: (OwnedSemaphorePermit, AddressShare),
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let requests = Requests {
        router,
        peer,
        activity: activity.clone(),
        idle_timeout: limits.idle_timeout,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watchdog below keeps the header and idle timeouts apart (see the module doc).
    http.header_read_timeout(None);
    let mut served = pin!(http.serve_connection(io, requests));
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&limits);
        let overdue = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "a connection ended with an error");
                }
                return;
            }
            () = overdue => {
                if activity.overdue(&limits) {
                    tracing::debug!(
                        client = %peer.ip(),
                        "closed a connection that kept the server waiting past its timeout"
                    );
                    return;
                }
            }
            () = activity.changed.notified() => {}
            _ = stopping.changed(), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing, as far as its deadlines care. Every event takes the time it
/// happened at, so the rules below are unit-tested without a clock.
struct Activity {
    phase: Mutex<Phase>,
    /// Woken when a deadline may have moved earlier.
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    /// Requests whose answer hyper has not finished taking.
    in_flight: usize,
    /// Since when the connection has waited for a request: its opening, the last answer handed
    /// over, or the last answer byte the client took since.
    waiting_since: Instant,
    /// Whether a request came yet: until then the header timeout runs from the opening.
    served_any: bool,
    /// When the first byte of the next request arrived.
    head_since: Option<Instant>,
    /// Since when a write has waited for the client to take bytes.
    write_blocked_since: Option<Instant>,
}

impl Phase {
    fn new(opened: Instant) -> Phase {
        Phase {
            in_flight: 0,
            waiting_since: opened,
            served_any: false,
            head_since: None,
            write_blocked_since: None,
        }
    }

    /// When the connection must have moved on, if it is waiting on its client at all (a handler
    /// at work is the server's time, not the client's).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let waiting = (self.in_flight == 0).then(|| match self.head_since {
            // A new connection's first request: from the opening, however its bytes trickle.
            _ if !self.served_any => self.waiting_since + limits.header_timeout,
            Some(since) => since + limits.header_timeout,
            None => self.waiting_since + limits.idle_timeout,
        });
        let writing = self
            .write_blocked_since
            .map(|since| since + limits.idle_timeout);
        waiting.into_iter().chain(writing).min()
    }

    /// Request bytes arrived. Returns whether the deadline may now be earlier.
    fn bytes_arrived(&mut self, now: Instant) -> bool {
        let starts_a_head = self.in_flight == 0 && self.head_since.is_none();
        if starts_a_head {
            self.head_since = Some(now);
        }
        starts_a_head && self.served_any
    }

    /// A write was tried: it moved bytes, or it waits for the client. Returns whether the
    /// deadline may now be earlier.
    fn wrote(&mut self, now: Instant, progressed: bool) -> bool {
        if progressed {
            self.write_blocked_since = None;
            // An answer still flowing to the client is not idleness.
            if self.in_flight == 0 && self.head_since.is_none() {
                self.waiting_since = now;
            }
            false
        } else if self.write_blocked_since.is_none() {
            self.write_blocked_since = Some(now);
            true
        } else {
            false
        }
    }

    fn request_started(&mut self) {
        self.in_flight += 1;
        self.served_any = true;
        self.head_since = None;
    }

    /// An answer was handed over (or its request dropped). Returns whether the deadline may now
    /// be earlier.
    fn request_finished(&mut self, now: Instant) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        let idle = self.in_flight == 0;
        if idle {
            self.waiting_since = now;
        }
        idle
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::new(Instant::now())),
            changed: Notify::new(),
        }
    }

    /// Applies an event; wakes the watchdog when the deadline may have moved earlier.
    fn record(&self, event: impl FnOnce(&mut Phase) -> bool) {
        let earlier = event(&mut self.phase.lock().unwrap_or_else(|e| e.into_inner()));
        if earlier {
            self.changed.notify_one();
        }
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.phase
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deadline(limits)
    }

    fn overdue(&self, limits: &ConnectionLimits) -> bool {
        self.deadline(limits)
            .is_some_and(|deadline| deadline <= Instant::now())
    }
}

/// The socket, reporting to the watchdog when bytes arrive and when writes block.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(written)) if *written > 0 => self
                .activity
                .record(|phase| phase.wrote(Instant::now(), true)),
            Poll::Pending => self
                .activity
                .record(|phase| phase.wrote(Instant::now(), false)),
            // An error ends the connection anyway.
            Poll::Ready(_) => {}
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity
                .record(|phase| phase.bytes_arrived(Instant::now()));
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket has nothing of its own to flush: only writes tell progress.
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Each request of a connection, handed to the router with the peer address and a body that
/// may not stall; the answer's body marks the request finished when hyper is done with it.
#[derive(Clone)]
struct Requests {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    idle_timeout: Duration,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<AnswerBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Requests {
    type Response = Response<AnswerBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        self.activity.record(|phase| {
            phase.request_started();
            false
        });
        let in_flight = InFlight(self.activity.clone());
        let idle_timeout = self.idle_timeout;
        let mut request = request.map(|body| {
            Body::new(RequestBody {
                body,
                idle_timeout,
                stalled: None,
            })
        });
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            Ok(response.map(|body| AnswerBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// Marks a request finished when dropped: with its answer's body once hyper has sent it, or with
/// the handler's future if the connection goes away first.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .record(|phase| phase.request_finished(Instant::now()));
    }
}

/// A request body whose next chunk must come within the idle timeout once a handler waits for it.
struct RequestBody {
    body: Incoming,
    idle_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

/// What a handler reading a stalled body gets (and answers as a bad request).
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for longer than the idle timeout")]
struct BodyStalled;

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.stalled = None;
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        let idle_timeout = this.idle_timeout;
        let stalled = this
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle_timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyStalled))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An answer's body, carrying the request's [`InFlight`] mark until hyper is done with it.
struct AnswerBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Open connections per client, for the per-address cap.
struct AddressShares {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its client's share; given back when dropped.
struct AddressShare {
    shares: Arc<AddressShares>,
    client: IpAddr,
}

impl AddressShares {
    fn new(limit: usize) -> AddressShares {
        AddressShares {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn claim(self: &Arc<Self>, ip: IpAddr) -> Option<AddressShare> {
        let client = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressShare {
            shares: self.clone(),
            client,
        })
    }
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut open = self.shares.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// The client an address stands for: IPv4-mapped IPv6 as IPv4, other IPv6 by its /64 (one host
/// usually holds a whole /64). Connection shares and the credential throttles both count by it.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// A warning written at most once per [`WARN_EVERY`].
#[derive(Default)]
struct Warning {
    last: Option<Instant>,
}

impl Warning {
    fn due(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < WARN_EVERY)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1024,
        max_connections_per_address: 256,
    };

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_for_its_first_request() {
        let opened = Instant::now();
        let mut phase = Phase::new(opened);
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 10)));
        // Bytes trickling in do not extend it.
        phase.bytes_arrived(at(opened, 3));
        phase.bytes_arrived(at(opened, 9));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 10)));
        phase.request_started();
        assert_eq!(
            phase.deadline(&LIMITS),
            None,
            "the handler's time is not the client's"
        );
    }

    #[test]
    fn between_requests_the_idle_timeout_runs_until_the_next_one_starts() {
        let opened = Instant::now();
        let mut phase = Phase::new(opened);
        phase.bytes_arrived(opened);
        phase.request_started();
        assert!(phase.request_finished(at(opened, 1)));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 61)));
        // Answer bytes the client takes are not idleness; a blocked write does not extend it.
        assert!(!phase.wrote(at(opened, 2), true));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 62)));
        assert!(phase.wrote(at(opened, 3), false));
        assert!(!phase.wrote(at(opened, 4), false));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 62)));
        // The next request's first byte: its header section has the header timeout.
        phase.wrote(at(opened, 5), true);
        assert!(phase.bytes_arrived(at(opened, 40)));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 50)));
    }

    #[test]
    fn an_answer_the_client_does_not_take_has_the_idle_timeout_even_mid_request() {
        let opened = Instant::now();
        let mut phase = Phase::new(opened);
        phase.request_started();
        assert!(phase.wrote(at(opened, 7), false));
        assert_eq!(phase.deadline(&LIMITS), Some(at(opened, 67)));
        phase.wrote(at(opened, 8), true);
        assert_eq!(phase.deadline(&LIMITS), None);
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_address_share_is_given_back_when_its_connection_closes() {
        let shares = Arc::new(AddressShares::new(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = shares.claim(ip).expect("one");
        let _second = shares.claim(ip).expect("two");
        assert!(shares.claim(ip).is_none(), "the share is full");
        assert!(shares.claim("192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        assert!(
            shares.claim(ip).is_some(),
            "a closed connection frees its place"
        );
    }
}
