//! Bounded server resources against a real server on 127.0.0.1 served by
//! `plasma::server::serve`: half-sent requests neither starve the server nor
//! stay open, the connection cap holds, idle keep-alive connections close,
//! and poke sockets are capped, small, and end when their group is claimed
//! by another user.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plasma::server::{ServeConfig, ServerConfig};
use plasma_tests::harness::{TIMEOUT, TestServer, create, parse_response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A request whose headers never finish.
const HALF_HEADER: &[u8] = b"POST /sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nx-us";

/// A request whose body never finishes (10 of 1000 bytes).
const HALF_BODY: &[u8] =
    b"POST /sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: alice\r\nContent-Length: 1000\r\n\r\n{\"protocol";

async fn open_stalled(s: &TestServer, request: &[u8], n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(s.addr).await.expect("connect");
        stream.write_all(request).await.expect("write half a request");
        streams.push(stream);
    }
    streams
}

/// Whether the server still holds the connection open (nothing to read, no EOF).
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Reads until the server closes the connection; `None` if it is still open at `deadline`.
async fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(answer), // EOF or reset: closed either way
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_requests_neither_starve_the_server_nor_stay_open() {
    // Long enough for a loaded 2-core machine to open 350 sockets before it passes.
    let timeout = Duration::from_secs(3);
    let s = TestServer::start_with(
        ServerConfig { body_read_timeout: timeout, ..ServerConfig::default() },
        ServeConfig { header_read_timeout: timeout, ..ServeConfig::default() },
    )
    .await;
    let opened = Instant::now();
    let mut half_headers = open_stalled(&s, HALF_HEADER, 300).await;
    let mut half_bodies = open_stalled(&s, HALF_BODY, 50).await;

    // While all 350 are held, a normal push and pull are answered at once.
    let started = Instant::now();
    let (status, body) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "served"))]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let served_in = started.elapsed();
    assert!(opened.elapsed() < timeout, "setup too slow to prove anything: {:?}", opened.elapsed());
    assert!(half_headers.iter().chain(&half_bodies).all(still_open), "the stalled requests were still held");
    assert!(served_in < Duration::from_secs(1), "push and pull took {served_in:?} while stalled requests were held");

    // The server closes every stalled connection once its timeout passes.
    let deadline = opened + timeout + Duration::from_secs(3);
    for stream in &mut half_headers {
        let answer = read_until_closed(stream, deadline).await;
        assert!(answer.is_some(), "a half-sent header is closed by the header read timeout");
    }
    for stream in &mut half_bodies {
        let answer = read_until_closed(stream, deadline).await.expect("a half-sent body is closed");
        let (status, body) = parse_response(&answer);
        assert_eq!((status, body["error"].as_str()), (408, Some("request_timeout")), "{body}");
    }
    assert!(opened.elapsed() >= timeout, "closed only after the timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let timeout = Duration::from_millis(500);
    let s = TestServer::start_with(
        ServerConfig::default(),
        ServeConfig { header_read_timeout: timeout, ..ServeConfig::default() },
    )
    .await;
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream.write_all(b"GET /sync/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.expect("write");
    let started = Instant::now();
    let answer = read_until_closed(&mut stream, started + timeout + Duration::from_secs(3))
        .await
        .expect("the idle keep-alive connection is closed");
    let (status, body) = parse_response(&answer);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "answered before closing");
    assert!(started.elapsed() >= timeout / 2, "kept alive for a while first: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_ends() {
    let timeout = Duration::from_secs(1);
    let s = TestServer::start_with(
        ServerConfig::default(),
        ServeConfig { header_read_timeout: timeout, max_connections: 4, ..ServeConfig::default() },
    )
    .await;
    let opened = Instant::now();
    let mut stalled = open_stalled(&s, HALF_HEADER, 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fifth connection is not served while the four hold every slot...
    let (status, body) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "waited"))]).await;
    assert_eq!(status, 200, "{body}");
    // ...only once the header timeout closed them.
    assert!(
        opened.elapsed() >= timeout - Duration::from_millis(100),
        "a connection over the cap was served after {:?}, before a slot was free",
        opened.elapsed()
    );
    for stream in &mut stalled {
        assert!(read_until_closed(stream, Instant::now() + TIMEOUT).await.is_some());
    }
}

async fn try_pokes(s: &TestServer, user: &str, group: &str) -> Result<Ws, (u16, Value)> {
    let mut request =
        format!("ws://{}/sync/poke?clientGroupID={group}", s.addr).into_client_request().expect("request");
    request.headers_mut().insert("x-user", user.parse().expect("header"));
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request)).await.expect("connect in time") {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("poke socket failed without an HTTP answer: {other}"),
    }
}

fn refusal(result: Result<Ws, (u16, Value)>) -> (u16, Option<String>) {
    match result {
        Ok(_) => panic!("the socket should have been refused"),
        Err((status, body)) => (status, body["error"].as_str().map(str::to_owned)),
    }
}

/// Next text message, `Err(())` once the server closed the socket, `Ok(None)` if quiet `within`.
async fn next_event(socket: &mut Ws, within: Duration) -> Result<Option<String>, Option<u16>> {
    match tokio::time::timeout(within, socket.next()).await {
        Err(_) => Ok(None),
        Ok(Some(Ok(Message::Text(text)))) => Ok(Some(text.to_string())),
        Ok(Some(Ok(Message::Close(frame)))) => Err(frame.map(|f| u16::from(f.code))),
        Ok(Some(Ok(_))) => Ok(None),
        Ok(Some(Err(_)) | None) => Err(None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poke_sockets_are_capped_per_user_and_in_total() {
    let s = TestServer::start(ServerConfig {
        max_poke_sockets_per_user: 2,
        max_poke_sockets: 3,
        ..ServerConfig::default()
    })
    .await;
    let mut bob1 = try_pokes(&s, "bob", "gb1").await.expect("bob's first socket");
    let _bob2 = try_pokes(&s, "bob", "gb2").await.expect("bob's second socket");
    assert_eq!(refusal(try_pokes(&s, "bob", "gb3").await), (429, Some("too_many_sockets".into())));
    let _carol = try_pokes(&s, "carol", "gc").await.expect("another user still gets one");
    assert_eq!(refusal(try_pokes(&s, "dave", "gd").await), (503, Some("overloaded".into())));

    // A closed socket frees its place.
    bob1.close(None).await.expect("close");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match try_pokes(&s, "bob", "gb3").await {
            Ok(_) => break,
            Err(refused) => {
                assert!(Instant::now() < deadline, "bob's closed socket never freed its place: {refused:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poke_socket_ends_when_another_user_claims_its_group() {
    let s = TestServer::start(ServerConfig::default()).await;
    // Alice shares a list with bob (from a group of hers), so her todos in it are bob's to read.
    let list = json!({"id": "shared", "name": "shared"});
    let share = json!({"listId": "shared", "userId": "bob"});
    let (status, body) =
        s.push("alice", "alices", &[("c0", 1, "createList", list), ("c0", 2, "shareList", share)]).await;
    assert_eq!(status, 200, "{body}");
    // Bob opens a socket for a group nobody owns yet: allowed.
    let mut bob = try_pokes(&s, "bob", "contested").await.expect("unowned group");
    assert_eq!(next_event(&mut bob, TIMEOUT).await, Ok(Some(r#"{"type":"poke"}"#.to_owned())), "poke on connect");
    // Bob's socket for a group of his own is unaffected.
    let mut bob_own = try_pokes(&s, "bob", "bobs").await.expect("bob's own group");
    assert!(matches!(next_event(&mut bob_own, TIMEOUT).await, Ok(Some(_))));

    // Alice's push claims the group: bob's socket is closed, without a poke of alice's commit.
    let todo = json!({"id": "a", "title": "secret", "updatedAt": 1, "listId": "shared"});
    let (status, body) = s.push("alice", "contested", &[("c1", 1, "createTodo", todo)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_event(&mut bob, Duration::from_secs(2)).await, Err(Some(1008)), "closed as a policy violation");
    // And he cannot open another one.
    assert_eq!(refusal(try_pokes(&s, "bob", "contested").await), (403, Some("forbidden".into())));
    // Sockets of other groups still get alice's poke (a row bob reads changed: he pulls).
    assert_eq!(next_event(&mut bob_own, Duration::from_secs(2)).await, Ok(Some(r#"{"type":"poke"}"#.to_owned())));
    // Alice's own socket for her group works.
    let mut alice = try_pokes(&s, "alice", "contested").await.expect("the owner");
    assert!(matches!(next_event(&mut alice, TIMEOUT).await, Ok(Some(_))));
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

/// Opens `n` idle poke sockets with a hand-written handshake (the client side
/// is a bare `TcpStream`, so the growth in resident memory is the server's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_poke_socket_costs_a_few_kilobytes() {
    const SOCKETS: usize = 2_000;
    let s = TestServer::start(ServerConfig::default()).await;
    // Warm up allocator arenas and the runtime with a first batch.
    let mut sockets = Vec::with_capacity(SOCKETS + 100);
    for i in 0..100 {
        sockets.push(handshake(&s, &format!("warm{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_bytes();
    for i in 0..SOCKETS {
        sockets.push(handshake(&s, &format!("idle{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.server.pokes().open_subscriptions(), SOCKETS + 100);
    let per_socket = resident_bytes().saturating_sub(before) / SOCKETS;
    println!("resident memory per idle poke socket: {per_socket} bytes ({SOCKETS} sockets)");
    assert!(per_socket < 32 << 10, "an idle poke socket costs {per_socket} bytes");
}

async fn handshake(s: &TestServer, user: &str) -> TcpStream {
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    let request = format!(
        "GET /sync/poke?clientGroupID={user} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: {user}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write handshake");
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, stream.read(&mut buf)).await.expect("answer in time").expect("read");
        assert!(n > 0, "closed during the handshake");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&answer));
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_idle_connections_and_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = plasma::SqliteExecutor::open(dir.path().join("server.db")).expect("open db");
    let server = todo::server::build_with(db, ServerConfig::default()).expect("build server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The default header timeout (10 s) would keep an idle keep-alive connection far longer.
    let serving = tokio::spawn(plasma::server::serve_with_shutdown(
        listener,
        plasma::server::router(server),
        ServeConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /sync/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.expect("write");
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(TIMEOUT, idle.read(&mut buf)).await.expect("answer in time").expect("read");
    assert_eq!(parse_response(&buf[..n]).0, 404, "served before the shutdown");

    let started = Instant::now();
    stop.send(()).expect("signal");
    tokio::time::timeout(Duration::from_secs(2), serving)
        .await
        .expect("serve returns soon after the signal, without waiting for the idle connection's timeout")
        .expect("serve task");
    assert!(read_until_closed(&mut idle, Instant::now() + Duration::from_secs(1)).await.is_some());
    assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting after {:?}", started.elapsed());
}
