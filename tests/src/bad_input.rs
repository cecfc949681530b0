//! The server bad-input table, run against every backend: the axum server
//! (`tests/tests/server_bad_input.rs`) and the Worker on D1
//! (`tests/tests/worker_d1.rs`).

use serde_json::{Value, json};

use crate::harness::create;

/// The body limit the table's servers run with.
pub const LIMIT: usize = 64 * 1024;

/// One bad request and the answer it must get.
pub struct Case {
    /// See [`Case`].
    pub name: &'static str,
    /// See [`Case`].
    pub method: &'static str,
    /// See [`Case`].
    pub path: &'static str,
    /// See [`Case`].
    pub user: Option<&'static str>,
    /// See [`Case`].
    pub body: Vec<u8>,
    /// See [`Case`].
    pub status: u16,
    /// See [`Case`].
    pub code: Option<&'static str>,
}

impl Case {
    /// Asserts the answer `(status, body)` is the one this case must get:
    /// its status and, for errors, a typed body with code, message and
    /// whether to retry.
    pub fn assert_answered(&self, status: u16, body: &Value) {
        assert_eq!(status, self.status, "{}: {body}", self.name);
        if self.status == 200 && self.user == Some("mallory") {
            // A pull under someone else's cookie: a reset of mallory's own
            // scope, which holds nothing.
            assert_eq!(body["patch"], json!([{"op": "clear"}]), "{}: a reset of nothing", self.name);
        }
        if let Some(code) = self.code {
            assert_eq!(body["error"].as_str(), Some(code), "{}: {body}", self.name);
            assert!(body["message"].is_string(), "{}: every error has a message", self.name);
            assert!(body["retryable"].is_boolean(), "{}", self.name);
        }
    }
}

/// A push body for `group` carrying `mutations`.
pub fn push_body(group: &str, mutations: Value) -> Vec<u8> {
    json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "mutations": mutations})
        .to_string()
        .into_bytes()
}

/// One mutation, as a JSON array.
pub fn one(client: &str, id: Value, name: &str, args: Value) -> Value {
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

/// The table: malformed, hostile and unauthorized requests (at least 25),
/// each with the status and error code every server backend must answer.
pub fn cases() -> Vec<Case> {
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","mutations":[],"admin":true}"#
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","cookie":null}"#.to_vec(),
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
            json!({"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g".repeat(300),"cookie":null})
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","cookie":null}"#.to_vec(),
            403,
            Some("forbidden"),
        ),
        // Read scopes: a cookie is bound to the rules and context it was
        // issued under; one naming other rules (another user's, a forged
        // fingerprint) gets a reset of the caller's own scope, which for
        // mallory is empty: 200, and nothing of alice's.
        case(
            "pull with a forged scope fingerprint",
            PULL,
            Some("mallory"),
            json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "gm",
                   "cookie": {"order": 1, "database": "forged.0123456789abcdef"}})
            .to_string()
            .into_bytes(),
            200,
            None,
        ),
        case(
            "pull with a cookie from beyond the log",
            PULL,
            Some("mallory"),
            json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "gm",
                   "cookie": {"order": i64::MAX}})
            .to_string()
            .into_bytes(),
            200,
            None,
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","cookie":{"order":"x"}}"#.to_vec(),
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":null,"mutations":[]}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        // A strict wire: structs are JSON objects only, never serde's positional arrays.
        case(
            "push written as an array",
            PUSH,
            alice,
            br#"[1,"todos-v2","g1",[{"clientId":"c1","id":2,"name":"createTodo","args":{"id":"arr","title":"x","updatedAt":1},"timestamp":1}]]"#.to_vec(),
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
            br#"[1,"todos-v2","g1",null]"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "cookie written as an array",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","cookie":[0]}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "resetAfter written as an array",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1","cookie":{"order":0,"resetAfter":["todos","a"]}}"#.to_vec(),
            400,
            Some("invalid_request"),
        ),
        case(
            "pull without cookie",
            PULL,
            alice,
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1"}"#.to_vec(),
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
            br#"{"protocolVersion":1,"schemaVersion":"todos-v2","clientGroupId":"g1' OR '1'='1","cookie":null}"#
                .to_vec(),
            200,
            None,
        ),
    ]
}

/// Swaps the schema version in a body for an older one.
trait ReplaceSchema {
    fn replace_schema(self) -> Vec<u8>;
}
impl ReplaceSchema for Vec<u8> {
    fn replace_schema(self) -> Vec<u8> {
        String::from_utf8_lossy(&self).replace(todo::SCHEMA_VERSION, "todos-v0").into_bytes()
    }
}
