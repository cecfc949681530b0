//! Bad input never hurts: a table of malformed, hostile and unauthorized
//! requests against a real server on 127.0.0.1. Each gets the expected status
//! and error code, leaves the database exactly as it was, and the server keeps
//! serving good requests afterwards.

use std::time::Duration;

use plasma::server::ServerConfig;
use plasma_tests::harness::{TestServer, create};
use serde_json::{Value, json};

const LIMIT: usize = 64 * 1024;

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    user: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
}

fn push_body(group: &str, mutations: Value) -> Vec<u8> {
    json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "mutations": mutations})
        .to_string()
        .into_bytes()
}

fn one(client: &str, id: Value, name: &str, args: Value) -> Value {
    json!([{"clientId": client, "id": id, "name": name, "args": args, "timestamp": 1}])
}

fn case(
    name: &'static str,
    path: &'static str,
    user: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case { name, method: "POST", path, user, body, status, code }
}

fn cases() -> Vec<Case> {
    const PUSH: &str = "/sync/push";
    const PULL: &str = "/sync/pull";
    let alice = Some("alice");
    let good_args = create("new", "new todo");
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    vec![
        case("truncated json push", PUSH, alice, b"{\"protocolVersion\": 1,".to_vec(), 400, Some("invalid_request")),
        case("truncated json pull", PULL, alice, b"{".to_vec(), 400, Some("invalid_request")),
        case("empty body", PUSH, alice, Vec::new(), 400, Some("invalid_request")),
        case("array instead of object", PUSH, alice, b"[1,2,3]".to_vec(), 400, Some("invalid_request")),
        case("invalid utf-8", PUSH, alice, vec![b'{', 0xff, 0xfe, b'}'], 400, Some("invalid_request")),
        case("mutations not an array", PUSH, alice, push_body("g1", json!({"a": 1})), 400, Some("invalid_request")),
        case(
            "id as a string",
            PUSH,
            alice,
            push_body("g1", one("c1", json!("2"), "createTodo", good_args.clone())),
            400,
            Some("invalid_request"),
        ),
        case(
            "negative id",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(-1), "createTodo", good_args.clone())),
            400,
            Some("invalid_request"),
        ),
        case(
            "zero id",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(0), "createTodo", good_args.clone())),
            400,
            Some("bad_request"),
        ),
        case(
            "id beyond i64",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(9_223_372_036_854_775_808u64), "createTodo", good_args.clone())),
            400,
            Some("bad_request"),
        ),
        case(
            "id as huge float",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(1e30), "createTodo", good_args.clone())),
            400,
            Some("invalid_request"),
        ),
        case(
            "unknown mutator",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(2), "dropEverything", json!({}))),
            400,
            Some("unknown_mutator"),
        ),
        case(
            "sql in mutator name",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(2), "createTodo'); DROP TABLE todos;--", good_args.clone())),
            400,
            Some("unknown_mutator"),
        ),
        case(
            "unknown top-level field",
            PUSH,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","mutations":[],"admin":true}"#
                .to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "missing auth",
            PUSH,
            None,
            push_body("g1", one("c1", json!(2), "createTodo", good_args.clone())),
            401,
            Some("unauthorized"),
        ),
        case(
            "missing auth on pull",
            PULL,
            None,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","cookie":null}"#.to_vec(),
            401,
            Some("unauthorized"),
        ),
        case(
            "banned user",
            PUSH,
            Some("banned"),
            push_body("g1", one("c1", json!(2), "createTodo", good_args.clone())),
            403,
            Some("forbidden"),
        ),
        case("oversized body", PUSH, alice, vec![b' '; LIMIT + 1], 413, Some("payload_too_large")),
        Case {
            name: "wrong method",
            method: "GET",
            path: PUSH,
            user: alice,
            body: Vec::new(),
            status: 405,
            code: Some("method_not_allowed"),
        },
        Case {
            name: "put method",
            method: "PUT",
            path: PULL,
            user: alice,
            body: Vec::new(),
            status: 405,
            code: Some("method_not_allowed"),
        },
        case(
            "protocol version 2",
            PUSH,
            alice,
            br#"{"protocolVersion":2,"future":"shape"}"#.to_vec(),
            400,
            Some("unsupported_protocol_version"),
        ),
        case(
            "protocol version as text",
            PULL,
            alice,
            br#"{"protocolVersion":"one"}"#.to_vec(),
            400,
            Some("unsupported_protocol_version"),
        ),
        case(
            "schema version mismatch",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(2), "createTodo", good_args.clone())).replace_schema(),
            409,
            Some("schema_version_mismatch"),
        ),
        case(
            "empty client group",
            PUSH,
            alice,
            push_body("", one("c1", json!(2), "createTodo", good_args.clone())),
            400,
            Some("bad_request"),
        ),
        case(
            "client group of 300 bytes",
            PULL,
            alice,
            json!({"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g".repeat(300),"cookie":null})
                .to_string()
                .into_bytes(),
            400,
            Some("bad_request"),
        ),
        case(
            "empty client id",
            PUSH,
            alice,
            push_body("g1", one("", json!(1), "createTodo", good_args.clone())),
            400,
            Some("bad_request"),
        ),
        case(
            "client of another group",
            PUSH,
            alice,
            push_body("g2", one("c1", json!(2), "createTodo", good_args.clone())),
            403,
            Some("forbidden"),
        ),
        case(
            "group of another user",
            PUSH,
            Some("mallory"),
            push_body("g1", one("m1", json!(1), "createTodo", good_args.clone())),
            403,
            Some("forbidden"),
        ),
        case(
            "pull group of another user",
            PULL,
            Some("mallory"),
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","cookie":null}"#.to_vec(),
            403,
            Some("forbidden"),
        ),
        case(
            "out of order id",
            PUSH,
            alice,
            push_body("g1", one("c1", json!(3), "createTodo", good_args.clone())),
            409,
            Some("out_of_order_mutation"),
        ),
        case(
            "cookie of the wrong shape",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","cookie":{"order":"x"}}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case("body nested 5000 deep", PUSH, alice, nested.clone().into_bytes(), 400, Some("invalid_request")),
        case(
            "schema version nested 5000 deep",
            PULL,
            alice,
            format!(r#"{{"protocolVersion":1,"schemaVersion":{nested},"clientGroupId":"g1","cookie":null}}"#)
                .into_bytes(),
            400,
            Some("invalid_request"),
        ),
        case(
            "null client group",
            PUSH,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":null,"mutations":[]}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        // A strict wire: structs are JSON objects only, never serde's positional arrays.
        case(
            "push written as an array",
            PUSH,
            alice,
            br#"[1,"todos-v1","g1",[{"clientId":"c1","id":2,"name":"createTodo","args":{"id":"arr","title":"x","updatedAt":1},"timestamp":1}]]"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "mutation written as an array",
            PUSH,
            alice,
            push_body("g1", json!([["c1", 2, "createTodo", good_args.clone(), 1]])),
            400,
            Some("invalid_request"),
        ),
        case(
            "pull written as an array",
            PULL,
            alice,
            br#"[1,"todos-v1","g1",null]"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "cookie written as an array",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","cookie":[0]}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "resetAfter written as an array",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1","cookie":{"order":0,"resetAfter":["todos","a"]}}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "pull without cookie",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1"}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case("the base path itself", "/sync", alice, b"{}".to_vec(), 404, Some("not_found")),
        case("the base path with a slash", "/sync/", alice, b"{}".to_vec(), 404, Some("not_found")),
        case("below an endpoint", "/sync/push/more", alice, b"{}".to_vec(), 404, Some("not_found")),
        case("post on the poke endpoint", "/sync/poke?clientGroupID=g1", alice, Vec::new(), 405, Some("method_not_allowed")),
        Case {
            name: "delete on the poke endpoint",
            method: "DELETE",
            path: "/sync/poke?clientGroupID=g1",
            user: alice,
            body: Vec::new(),
            status: 405,
            code: Some("method_not_allowed"),
        },
        case("unknown endpoint", "/sync/nope", alice, b"{}".to_vec(), 404, Some("not_found")),
        case(
            "sql in group id reads nothing foreign",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v1","clientGroupId":"g1' OR '1'='1","cookie":null}"#
                .to_vec(),
            200,
            None,
        ),
    ]
}

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

trait ReplaceSchema {
    fn replace_schema(self) -> Vec<u8>;
}
impl ReplaceSchema for Vec<u8> {
    fn replace_schema(self) -> Vec<u8> {
        String::from_utf8_lossy(&self).replace(todo::SCHEMA_VERSION, "todos-v0").into_bytes()
    }
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
        let (status, body) = s.raw(case.method, case.path, case.user, case.body).await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        if let Some(code) = case.code {
            assert_eq!(body["error"].as_str(), Some(code), "{}: {body}", case.name);
            assert!(body["message"].is_string(), "{}: every error has a message", case.name);
            assert!(body["retryable"].is_boolean(), "{}", case.name);
        }
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
