//! Bad input never hurts: a table of malformed, hostile and unauthorized
//! requests against a real server on 127.0.0.1. Each gets the expected status
//! and error code, leaves the database exactly as it was, and the server keeps
//! serving good requests afterwards.

use std::time::Duration;

use plasma::server::ServerConfig;
use plasma_tests::bad_input::{Case, LIMIT, cases, one, push_body};
use plasma_tests::harness::{TestServer, create};
use serde_json::{Value, json};

/// Raw HTTP/1.1 requests: `(name, bytes, status, code)`; `None` means hyper
/// answers by itself, without a JSON body (see PROTOCOL.md).
fn raw_cases() -> Vec<(&'static str, Vec<u8>, u16, Option<&'static str>)> {
    let push = push_body("g1", one("c1", json!(2), "createTodo", create("raw", "raw")));
    let with_headers = |extra: &str, body: &[u8]| {
        let mut request = format!(
            "POST /sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: alice\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    };
    let mut chunked =
        b"POST /sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: alice\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    // One chunk of 4 × LIMIT announced, LIMIT + 1 bytes sent, the rest never:
    // the answer must come as soon as the limit is passed, not at the body timeout.
    chunked.extend_from_slice(format!("{:x}\r\n", 4 * LIMIT).as_bytes());
    chunked.extend(std::iter::repeat_n(b' ', LIMIT + 1));
    let mut slow =
        b"POST /sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: alice\r\nContent-Length: 1000\r\n\r\n".to_vec();
    slow.extend_from_slice(&push[..push.len() / 2]);
    vec![
        (
            "headers over max_header_bytes",
            with_headers(&format!("x-pad: {}\r\n", "p".repeat(20_000)), &push),
            431,
            Some("headers_too_large"),
        ),
        (
            "many headers over max_header_bytes",
            with_headers(&format!("x-pad: {}\r\n", "p".repeat(500)).repeat(40), &push),
            431,
            Some("headers_too_large"),
        ),
        ("headers over hyper's buffer", with_headers(&format!("x-pad: {}\r\n", "p".repeat(200_000)), &push), 431, None),
        ("chunked body over the limit", chunked, 413, Some("payload_too_large")),
        ("body slower than the body read timeout", slow, 408, Some("request_timeout")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_typed_errors_and_change_nothing() {
    let config = ServerConfig {
        max_body_bytes: LIMIT,
        body_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let s = TestServer::start(config).await;
    // Accepted state that must survive: alice's group g1 with client c1 at LMID 1.
    let (status, body) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("keep", "accepted"))]).await;
    assert_eq!(status, 200, "{body}");
    let before = s.dump();
    let cases = cases();
    assert!(cases.len() >= 25, "at least 25 bad requests, have {}", cases.len());
    for case in cases {
        let (status, body) = s.raw(case.method, case.path, case.user, case.body.clone()).await;
        case.assert_answered(status, &body);
        assert_eq!(s.dump(), before, "{} changed the database", case.name);
    }
    // Requests reqwest cannot send, written on raw connections.
    for (name, request, status, code) in raw_cases() {
        let (got, body) = s.raw_tcp(&request).await;
        assert_eq!(got, status, "{name}: {body}");
        match code {
            Some(code) => {
                assert_eq!(body["error"].as_str(), Some(code), "{name}: {body}");
                assert!(body["message"].is_string(), "{name}: every error has a message");
                assert!(body["retryable"].is_boolean(), "{name}");
            }
            None => assert_eq!(body, Value::Null, "{name}: hyper's own answer has no JSON body"),
        }
        assert_eq!(s.dump(), before, "{name} changed the database");
    }
    // Still serving: the next good push and pull work.
    let (status, body) = s.push("alice", "g1", &[("c1", 2, "createTodo", create("after", "still up"))]).await;
    assert_eq!(status, 200, "{body}");
    let (status, pull) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        pull["patch"].as_array().map_or(vec![], |p| p.iter().filter_map(|op| op["row"]["id"].as_str()).collect());
    assert_eq!(ids, vec!["after", "keep"]);
}

/// `SyncServer::handle`, the entry for frameworks other than axum, answers
/// the bad requests to the push and pull endpoints as the axum endpoint does:
/// both route with the same `SyncServer::endpoint`, and only the body limit is
/// enforced by each entry (axum's while reading, `handle`'s on the whole body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_answers_bad_requests_like_the_axum_endpoint() {
    let config = ServerConfig { max_body_bytes: LIMIT, ..ServerConfig::default() };
    let s = TestServer::start(config).await;
    // The state the cases expect: alice's group g1 with client c1 at LMID 1.
    let (status, body) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("keep", "accepted"))]).await;
    assert_eq!(status, 200, "{body}");
    let before = s.dump();
    // The poke socket is axum's alone; every other path under the base is `handle`'s.
    let cases: Vec<Case> = cases().into_iter().filter(|c| !c.path.starts_with("/sync/poke")).collect();
    assert!(cases.len() >= 25, "at least 25 bad requests, have {}", cases.len());
    for case in cases {
        let mut request = http::Request::builder().method(case.method).uri(case.path);
        if let Some(user) = case.user {
            request = request.header(todo::server::USER_HEADER, user);
        }
        let response = s.server.handle(request.body(bytes::Bytes::from(case.body)).expect("request")).await;
        let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        assert_eq!(response.status().as_u16(), case.status, "{}: {body}", case.name);
        if let Some(code) = case.code {
            assert_eq!(body["error"].as_str(), Some(code), "{}: {body}", case.name);
        }
        assert_eq!(s.dump(), before, "{} changed the database", case.name);
    }
}
