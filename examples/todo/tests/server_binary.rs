//! Starts the real `todo` server binary on 127.0.0.1 and drives it over HTTP
//! and WebSocket, as a client would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_todo"))
        .args(["--db", &dir.path().join("todos.db").to_string_lossy(), "--port", &port.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn todo server");
    // The server logs one line when it listens; wait for it (bounded).
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("server logs before the deadline");
        if line.contains("listening") {
            assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
            break;
        }
    }
    Server { child, port, _dir: dir }
}

async fn post(http: &reqwest::Client, port: u16, endpoint: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(format!("http://127.0.0.1:{port}/sync/{endpoint}"))
        .header("x-user", "alice")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_push_pull_and_pokes() {
    let server = start();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");

    let mut request = format!("ws://127.0.0.1:{}/sync/poke?clientGroupID=other", server.port)
        .into_client_request()
        .expect("ws request");
    // Another device of alice's: her todos are hers to read, so her push pokes it.
    request.headers_mut().insert("x-user", "alice".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("initial poke");
    assert!(first.is_some());

    let push = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1",
        "mutations": [{"clientId": "c1", "id": 1, "name": "createTodo",
                       "args": {"id": "t1", "title": "Try plasma", "updatedAt": 1}, "timestamp": 1}]});
    let (status, body) = post(&http, server.port, "push", push).await;
    assert_eq!(status, 200, "{body}");

    let poke = tokio::time::timeout(Duration::from_secs(1), socket.next()).await.expect("poke within 1 s");
    assert_eq!(poke.and_then(Result::ok).map(|m| m.to_string()).as_deref(), Some(r#"{"type":"poke"}"#));

    let pull =
        json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": null});
    let (status, body) = post(&http, server.port, "pull", pull).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patch"][1]["row"]["title"], "Try plasma");
    assert_eq!(body["lastMutationIdChanges"]["c1"], 1);
}
