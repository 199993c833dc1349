//! Slow and many connections, driven by a bounded loopback client over raw TCP: a half-sent request
//! is closed at the header timeout, a kept-alive connection at the idle timeout, a stalled body is
//! answered and closed, so is a client that stops reading its answers, the server stops accepting at its connection cap (the kernel's backlog
//! holds the rest until a slot frees), one address cannot take every slot, and SIGTERM still lets
//! the request in flight finish. Every wait is bounded, so a regression fails instead of hanging.
//!
//! These tests time real sockets, not the store, so they run on SQLite only: the backend changes
//! nothing they look at.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use accord_server::{AppState, ConnectionLimits, ServerConfig, router, serve};
use accord_testkit::{TestDb, TestDbRef};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::support::TestServer;

/// A request whose header section never ends: the blank line is missing.
const HALF_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: accord.test\r\nAccept: */*\r\n";
const WHOLE_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: accord.test\r\n\r\n";

/// Generous bound for anything the server should do "at once" on a loaded two-core machine.
const PROMPTLY: Duration = Duration::from_secs(10);

struct Fixture {
    db: TestDb,
    server: TestServer,
}

impl Fixture {
    async fn start(limits: ConnectionLimits) -> Fixture {
        let db = TestDb::sqlite().await;
        let server = TestServer::start_with_limits(&handle(&db), limits).await;
        Fixture { db, server }
    }

    fn address(&self) -> SocketAddr {
        self.server
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("the server's address")
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address()).await.expect("connect")
    }

    /// A connection from another loopback address (127.0.0.0/8 is all local).
    async fn connect_from(&self, ip: Ipv4Addr) -> TcpStream {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .expect("bind a loopback address");
        socket.connect(self.address()).await.expect("connect")
    }

    async fn finish(self) {
        drop(self.server);
        self.db.finish().await;
    }
}

fn handle(db: &TestDb) -> TestDbRef {
    TestDbRef {
        store: db.store.clone(),
        backend: db.backend,
        clock: db.clock.clone(),
        database_url: db.database_url.clone(),
        master_key: db.master_key.clone(),
    }
}

fn limits(header: u64, idle: u64, max: usize, per_address: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(header),
        idle_timeout: Duration::from_secs(idle),
        max_connections: max,
        max_connections_per_address: per_address,
    }
}

/// Reads until the server closes the connection (end of stream or reset) and returns what came
/// before; `None` if it is still open after `bound`.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    timeout(bound, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(received)
}

/// Reads one whole response (head and `Content-Length` body) and returns its status; `None` if
/// none arrived within `bound` or the connection closed first.
async fn read_response(stream: &mut TcpStream, bound: Duration) -> Option<u16> {
    timeout(bound, async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
                let status: u16 = head.get(9..12)?.parse().ok()?;
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    return Some(status);
                }
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Opens `count` connections that each send half a request and then wait.
async fn slow_clients(fixture: &Fixture, count: usize) -> Vec<TcpStream> {
    let mut slow = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = fixture.connect().await;
        stream.write_all(HALF_REQUEST).await.expect("send half");
        slow.push(stream);
    }
    slow
}

#[tokio::test]
async fn half_sent_requests_are_closed_at_the_header_timeout_while_whole_ones_are_answered() {
    let fixture = Fixture::start(limits(1, 30, 50, 50)).await;
    let mut slow = slow_clients(&fixture, 40).await;

    // While they hang, a well-behaved client is answered at once.
    let answer = reqwest::Client::new()
        .get(format!("{}/healthz", fixture.server.base))
        .timeout(PROMPTLY)
        .send()
        .await
        .expect("an answer while 40 clients dawdle");
    assert_eq!(answer.status(), StatusCode::OK);

    // Each half-sent request is closed by the server about a second after it began.
    let started = std::time::Instant::now();
    for stream in &mut slow {
        let left = PROMPTLY.saturating_sub(started.elapsed());
        let received = read_until_closed(stream, left)
            .await
            .expect("the server closes a half-sent request");
        assert!(
            received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
            "nothing or a timeout answer, not {:?}",
            String::from_utf8_lossy(&received)
        );
    }
    fixture.finish().await;
}

#[tokio::test]
async fn a_kept_alive_connection_waits_for_the_idle_timeout_then_closes() {
    let fixture = Fixture::start(limits(1, 3, 50, 50)).await;
    let mut stream = fixture.connect().await;
    stream.write_all(WHOLE_REQUEST).await.unwrap();
    assert_eq!(read_response(&mut stream, PROMPTLY).await, Some(200));

    // Longer than the header timeout between two requests is fine: the idle timeout governs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stream.write_all(WHOLE_REQUEST).await.unwrap();
    assert_eq!(
        read_response(&mut stream, PROMPTLY).await,
        Some(200),
        "still open after the header timeout"
    );

    let received = read_until_closed(&mut stream, PROMPTLY)
        .await
        .expect("an idle connection is closed");
    assert!(received.is_empty());
    fixture.finish().await;
}

#[tokio::test]
async fn a_stalled_request_body_is_refused_and_closed_at_the_idle_timeout() {
    let fixture = Fixture::start(limits(1, 1, 50, 50)).await;
    let mut stream = fixture.connect().await;
    stream
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: accord.test\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type=client_credentials",
        )
        .await
        .unwrap();
    let received = read_until_closed(&mut stream, PROMPTLY)
        .await
        .expect("a stalled body does not hold the connection");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 400"),
        "a clear refusal, never a 500: {text}"
    );
    assert!(
        text.contains("invalid_request"),
        "in the OAuth shape: {text}"
    );
    fixture.finish().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answers_is_closed_at_the_idle_timeout() {
    let fixture = Fixture::start(limits(1, 1, 50, 50)).await;
    // A small receive window, and far more answer bytes asked for than the kernel's buffers hold
    // (each `/openapi.json` is about 170 KB; the send buffer grows to 4 MB at most).
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let mut stream = socket.connect(fixture.address()).await.expect("connect");
    let asked = 60;
    for _ in 0..asked {
        stream
            .write_all(b"GET /openapi.json HTTP/1.1\r\nHost: accord.test\r\n\r\n")
            .await
            .unwrap();
    }
    // The client stalls (this pause is the behaviour under test), then reads what it can.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = read_until_closed(&mut stream, PROMPTLY)
        .await
        .expect("the server let go of the connection");
    let answers = received
        .windows(12)
        .filter(|w| w == b"HTTP/1.1 200")
        .count();
    assert!(
        answers < asked,
        "cut off while blocked on the client, not served in full: {answers} of {asked}"
    );
    fixture.finish().await;
}

#[tokio::test]
async fn at_the_connection_cap_new_connections_wait_until_a_slot_frees() {
    let fixture = Fixture::start(limits(30, 30, 50, 50)).await;
    let mut slow = slow_clients(&fixture, 50).await;

    // The 51st connects (the kernel's backlog holds it) but is not served...
    let mut waiting = fixture.connect().await;
    waiting.write_all(WHOLE_REQUEST).await.unwrap();
    assert_eq!(
        read_response(&mut waiting, Duration::from_millis(500)).await,
        None,
        "not served while every slot is taken"
    );

    // ...until one of the 50 goes away.
    drop(slow.pop());
    assert_eq!(read_response(&mut waiting, PROMPTLY).await, Some(200));
    fixture.finish().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let fixture = Fixture::start(limits(30, 30, 50, 5)).await;
    let _slow = slow_clients(&fixture, 5).await;

    let mut sixth = fixture.connect().await;
    let _ = sixth.write_all(WHOLE_REQUEST).await;
    let received = read_until_closed(&mut sixth, PROMPTLY)
        .await
        .expect("a connection over the address's share is closed at once");
    assert!(received.is_empty(), "and not served");

    let mut other = fixture.connect_from(Ipv4Addr::new(127, 0, 0, 2)).await;
    other.write_all(WHOLE_REQUEST).await.unwrap();
    assert_eq!(
        read_response(&mut other, PROMPTLY).await,
        Some(200),
        "another address is served"
    );
    fixture.finish().await;
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_closes_idle_ones_and_stops_accepting() {
    let db = TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(
        db.store.clone(),
        ServerConfig::new(format!("http://{address}")),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        router(state),
        limits(30, 30, 50, 50),
        async move {
            let _ = stopped.await;
        },
    ));

    // One request in flight (its body half sent) and one idle kept-alive connection.
    let mut in_flight = TcpStream::connect(address).await.unwrap();
    in_flight
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: accord.test\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n\
              grant_type=",
        )
        .await
        .unwrap();
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(WHOLE_REQUEST).await.unwrap();
    assert_eq!(read_response(&mut idle, PROMPTLY).await, Some(200));

    stop.send(()).unwrap();
    assert!(
        read_until_closed(&mut idle, PROMPTLY).await.is_some(),
        "an idle connection is closed at once"
    );
    // The request in flight still gets its whole answer, then the connection closes.
    in_flight.write_all(b"client_credentials").await.unwrap();
    let received = read_until_closed(&mut in_flight, PROMPTLY)
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    timeout(PROMPTLY, server)
        .await
        .expect("serve returns once every connection has closed")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no longer accepting"
    );
    db.finish().await;
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    // What sign-in throttling keys on: `ConnectInfo<SocketAddr>` is each request's real peer.
    let peer_echo = axum::Router::new().route(
        "/peer",
        axum::routing::get(
            |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                peer.to_string()
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(
        listener,
        peer_echo,
        ConnectionLimits::default(),
        std::future::pending(),
    ));
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 0))
        .unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: accord.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream, PROMPTLY)
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with(&local.to_string()), "{text}");
    server.abort();
}
