//! What a browser needs from the server, over real HTTP and WebSocket on
//! 127.0.0.1: CORS for the configured origins (answers, errors and
//! preflights), none for others, and poke-socket credentials carried as
//! WebSocket subprotocols (a browser `WebSocket` cannot send headers).

use plasma::protocol::{POKE_SUBPROTOCOL, header_subprotocol};
use plasma::server::{CorsConfig, ServerConfig};
use plasma_tests::harness::{TIMEOUT, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const APP: &str = "http://app.test:3000";
const EVIL: &str = "http://evil.test";

async fn with_cors(cors: CorsConfig) -> TestServer {
    TestServer::start(ServerConfig { cors, ..ServerConfig::default() }).await
}

fn allowing_app() -> CorsConfig {
    CorsConfig { allowed_origins: vec![APP.to_owned()], ..CorsConfig::default() }
}

fn pull_body() -> String {
    json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": null})
        .to_string()
}

/// POSTs a pull from `origin` (as `user` if given); the answer.
async fn pull_from(s: &TestServer, origin: &str, user: Option<&str>) -> reqwest::Response {
    let mut request = s.http.post(s.url("/sync/pull")).header("origin", origin).body(pull_body());
    if let Some(user) = user {
        request = request.header(todo::server::USER_HEADER, user);
    }
    request.send().await.expect("the server answers")
}

/// Sends the preflight a browser sends before a cross-origin push.
async fn preflight(s: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    s.http
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-user")
        .send()
        .await
        .expect("the server answers")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_headers_on_answers_and_on_errors() {
    let s = with_cors(allowing_app()).await;
    let ok = pull_from(&s, APP, Some("alice")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin").as_deref(), Some(APP));
    assert_eq!(header(&ok, "vary").as_deref(), Some("origin"));
    // The page must be able to read the JSON error body too.
    let refused = pull_from(&s, APP, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin").as_deref(), Some(APP));
    let body: serde_json::Value = refused.json().await.expect("a JSON error body");
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn a_disallowed_origin_gets_no_cors_headers() {
    let s = with_cors(allowing_app()).await;
    let answer = pull_from(&s, EVIL, Some("alice")).await;
    assert_eq!(answer.status(), 200, "CORS is the browser's check; the server still answers");
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let refused = preflight(&s, "/sync/push", EVIL).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
    assert_eq!(header(&refused, "access-control-allow-methods"), None);
    // A look-alike of an allowed origin is another origin.
    let lookalike = pull_from(&s, "http://app.test:3000.evil.test", Some("alice")).await;
    assert_eq!(header(&lookalike, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_names_the_methods_and_the_auth_header() {
    let s = with_cors(allowing_app()).await;
    let answer = preflight(&s, "/sync/push", APP).await;
    assert_eq!(answer.status(), 204);
    assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some(APP));
    let methods = header(&answer, "access-control-allow-methods").expect("allowed methods");
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&answer, "access-control-allow-headers").expect("allowed headers");
    for needed in ["content-type", "x-user", "authorization"] {
        assert!(headers.split(", ").any(|h| h == needed), "{needed} missing from {headers}");
    }
    assert!(header(&answer, "access-control-max-age").is_some());
    // No endpoint there: the JSON 404, readable by the page.
    let missing = preflight(&s, "/sync/nothing", APP).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "access-control-allow-origin").as_deref(), Some(APP));
}

#[tokio::test]
async fn any_origin_is_allowed_only_when_asked_for() {
    let open = with_cors(CorsConfig { allow_any_origin: true, ..CorsConfig::default() }).await;
    let answer = pull_from(&open, EVIL, Some("alice")).await;
    assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some(EVIL));
    assert_eq!(preflight(&open, "/sync/pull", EVIL).await.status(), 204);

    // The default: no CORS at all (same-origin pages need none), OPTIONS is a wrong method.
    let closed = TestServer::start(ServerConfig::default()).await;
    let answer = pull_from(&closed, APP, Some("alice")).await;
    assert_eq!(answer.status(), 200, "a same-origin page's request (with an Origin header) works");
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    assert_eq!(header(&answer, "vary"), None);
    assert_eq!(preflight(&closed, "/sync/push", APP).await.status(), 405);
}

/// Opens a poke socket offering `protocols` and no headers; the HTTP status
/// of the handshake and the subprotocol the server selected.
async fn poke_handshake(s: &TestServer, protocols: &[String]) -> (u16, Option<String>) {
    poke_handshake_from(s, protocols, None).await
}

/// [`poke_handshake`] from a page of `origin` (its `Origin` header).
async fn poke_handshake_from(s: &TestServer, protocols: &[String], origin: Option<&str>) -> (u16, Option<String>) {
    let mut request = format!("ws://{}/sync/poke?clientGroupID=g1", s.addr).into_client_request().expect("request");
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().expect("origin"));
    }
    if !protocols.is_empty() {
        request.headers_mut().insert("sec-websocket-protocol", protocols.join(", ").parse().expect("header"));
    }
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request)).await.expect("in time") {
        Ok((_socket, response)) => (
            response.status().as_u16(),
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned),
        ),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (response.status().as_u16(), None),
        Err(e) => panic!("handshake failed without an answer: {e}"),
    }
}

#[tokio::test]
async fn a_poke_socket_takes_its_credentials_from_subprotocols() {
    let s = TestServer::start(ServerConfig::default()).await;
    let carried = [POKE_SUBPROTOCOL.to_owned(), header_subprotocol(todo::server::USER_HEADER, "alice")];
    assert_eq!(poke_handshake(&s, &carried).await, (101, Some(POKE_SUBPROTOCOL.to_owned())));
    assert_eq!(poke_handshake(&s, &[POKE_SUBPROTOCOL.to_owned()]).await.0, 401, "no credentials, no socket");
    let banned = [POKE_SUBPROTOCOL.to_owned(), header_subprotocol(todo::server::USER_HEADER, "banned")];
    assert_eq!(poke_handshake(&s, &banned).await.0, 403, "carried credentials go through the auth hook");
}

#[tokio::test]
async fn a_poke_socket_from_a_page_of_another_origin_is_refused_unless_cors_allows_it() {
    let carried = [POKE_SUBPROTOCOL.to_owned(), header_subprotocol(todo::server::USER_HEADER, "alice")];
    let closed = TestServer::start(ServerConfig::default()).await;
    let own = format!("http://{}", closed.addr);
    assert_eq!(poke_handshake_from(&closed, &carried, Some(&own)).await.0, 101, "a page of the server's own origin");
    assert_eq!(poke_handshake_from(&closed, &carried, None).await.0, 101, "a native client sends no Origin");
    assert_eq!(poke_handshake_from(&closed, &carried, Some(EVIL)).await.0, 403, "another site's page");
    let https_own = format!("https://{}", closed.addr);
    assert_eq!(poke_handshake_from(&closed, &carried, Some(&https_own)).await.0, 101, "same host behind TLS");
    assert_eq!(poke_handshake_from(&closed, &carried, Some("null")).await.0, 403, "an opaque origin");

    let open = with_cors(CorsConfig { allowed_origins: vec![APP.to_owned()], ..CorsConfig::default() }).await;
    assert_eq!(poke_handshake_from(&open, &carried, Some(APP)).await.0, 101, "an origin CORS allows");
    assert_eq!(poke_handshake_from(&open, &carried, Some(EVIL)).await.0, 403);
}
