//! A real todo sync server on 127.0.0.1 with a temporary SQLite file, and a
//! small JSON-over-HTTP client for tests.

use std::net::SocketAddr;
use std::time::Duration;

use plasma::SqliteExecutor;
use plasma::server::{ServeConfig, ServerConfig, SyncServer};
use serde_json::{Value, json};
use todo::TodoMutators;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every request in tests gives up after this long, so no test hangs.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running server; dropping it stops the listener task and deletes the database.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server, for direct access (compaction, database dumps).
    pub server: SyncServer<TodoMutators>,
    /// The HTTP client.
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a todo server with `config` (schema version and base path are
    /// filled in), served by `plasma::server::serve` with default limits.
    pub async fn start(config: ServerConfig) -> TestServer {
        Self::start_with(config, ServeConfig::default()).await
    }

    /// Starts a todo server with `config`, served with the connection limits `serve`.
    pub async fn start_with(config: ServerConfig, serve: ServeConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteExecutor::open(dir.path().join("server.db")).expect("open db");
        // Transport tests send titles far over the app's limit (`ServerRules`).
        let server = todo::server::build_with_rules(db, config, todo::ServerRules::unlimited()).expect("build server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = plasma::server::router(server.clone());
        let task = tokio::spawn(plasma::server::serve(listener, app, serve));
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().expect("client");
        TestServer { addr, server, http, task, _dir: dir }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a raw request; returns the status and the JSON body (`Null` if not JSON).
    pub async fn raw(&self, method: &str, path: &str, user: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        send(&self.http, method, &self.url(path), user, body).await
    }

    /// Writes `request` as-is on a fresh TCP connection and reads the answer
    /// until the server closes the connection (or [`TIMEOUT`]). Returns the
    /// status (0 if none arrived) and the JSON body (`Null` if not JSON).
    pub async fn raw_tcp(&self, request: &[u8]) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(request).await.expect("write request");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
        parse_response(&answer)
    }

    /// POSTs JSON to `{base}/{endpoint}` as `user`.
    pub async fn post(&self, endpoint: &str, user: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        self.raw("POST", &format!("/sync/{endpoint}"), Some(user), bytes).await
    }

    /// Pushes `mutations` (each `(client, id, name, args)`) for `group` as `user`.
    pub async fn push(&self, user: &str, group: &str, mutations: &[(&str, u64, &str, Value)]) -> (u16, Value) {
        let mutations: Vec<Value> = mutations
            .iter()
            .map(|(client, id, name, args)| {
                json!({"clientId": client, "id": id, "name": name, "args": args, "timestamp": 1})
            })
            .collect();
        let body = json!({
            "protocolVersion": 1,
            "schemaVersion": todo::SCHEMA_VERSION,
            "clientGroupId": group,
            "mutations": mutations,
        });
        self.post("push", user, &body).await
    }

    /// Pulls for `group` as `user` from `cookie` (`Value::Null` for a first pull).
    pub async fn pull(&self, user: &str, group: &str, cookie: Value) -> (u16, Value) {
        let body = json!({
            "protocolVersion": 1,
            "schemaVersion": todo::SCHEMA_VERSION,
            "clientGroupId": group,
            "cookie": cookie,
        });
        self.post("pull", user, &body).await
    }

    /// Every row of every table, including plasma's bookkeeping, as text: to
    /// assert that a refused request changed nothing.
    pub fn dump(&self) -> Vec<String> {
        self.server.with_db_blocking(|db| dump(db.connection()))
    }
}

/// Every row of the todo server's tables, including plasma's bookkeeping, as
/// text (any backend's SQLite file: the axum server's, a local D1's).
pub fn dump(conn: &plasma::exec::rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    // Everything but `last_seen` stamps, which a harmless duplicate push may refresh.
    for (table, columns) in [
        ("todos", "*"),
        ("_plasma_client_groups", "id, user_id"),
        ("_plasma_clients", "id, client_group_id, last_mutation_id"),
        ("_plasma_changes", "*"),
        ("_plasma_mutation_errors", "*"),
    ] {
        let mut stmt = conn.prepare(&format!("SELECT {columns} FROM \"{table}\" ORDER BY 1")).expect("prepare dump");
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..width)
                    .map(|i| format!("{:?}", r.get_ref(i).map(plasma::exec::sqlite::value_from_ref)))
                    .collect();
                Ok(format!("{table}: {}", cells.join(", ")))
            })
            .expect("dump");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out
}

/// Sends `method url` as `user` (the todo app's user header) with `body`;
/// returns the status and the JSON body (`Null` if not JSON). For any
/// server: the axum one here, the Worker in `worker_d1.rs`.
pub async fn send(http: &reqwest::Client, method: &str, url: &str, user: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url).body(body);
    if let Some(user) = user {
        request = request.header(todo::USER_HEADER, user);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// `createTodo` arguments.
pub fn create(id: &str, title: &str) -> Value {
    json!({"id": id, "title": title, "updatedAt": 1})
}

/// The status and JSON body of a raw HTTP/1.1 answer (`(0, Null)` if there is none).
pub fn parse_response(answer: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A transport whose push and pull never answer: a client on it works
/// offline (its queue grows, nothing is confirmed), for tests of local state.
pub struct Offline;

impl plasma::client::Transport for Offline {
    fn push(
        &self,
        _: plasma::protocol::PushRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PushResponse, plasma::client::TransportError>>
    {
        Box::pin(std::future::pending())
    }
    fn pull(
        &self,
        _: plasma::protocol::PullRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PullResponse, plasma::client::TransportError>>
    {
        Box::pin(std::future::pending())
    }
}
