//! Native transports and platform: HTTP with reqwest, WebSocket pokes with
//! tokio-tungstenite, timers and tasks on the current tokio runtime.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::client::error::ClientError;
use crate::client::platform::{BoxFuture, BoxStream, Platform, Transport, TransportError, decode_answer};
use crate::protocol::{ErrorBody, ErrorCode, PullRequest, PullResponse, PushRequest, PushResponse};

/// Supplies request headers (credentials) for every request, so tokens can rotate.
pub type HeaderProvider = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Talks to a plasma server over HTTP (push, pull) and WebSocket (pokes).
#[derive(Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
    endpoint: String,
    headers: HeaderProvider,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport for the sync endpoints under `endpoint`, an absolute
    /// `http://` URL such as `http://127.0.0.1:8787/sync`.
    pub fn new(endpoint: impl Into<String>) -> Result<Self, ClientError> {
        let endpoint = endpoint.into().trim_end_matches('/').to_owned();
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return Err(ClientError::Platform(format!("endpoint `{endpoint}` must be an absolute http(s) URL")));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Platform(e.to_string()))?;
        Ok(HttpTransport { http, endpoint, headers: Arc::new(Vec::new) })
    }

    /// Sends these headers (computed per request) with every request,
    /// including the WebSocket upgrade.
    pub fn headers(mut self, provider: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static) -> Self {
        self.headers = Arc::new(provider);
        self
    }

    /// Sends one fixed header with every request.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let pair = (name.into(), value.into());
        self.headers(move || vec![pair.clone()])
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &'static str,
        body: &B,
    ) -> BoxFuture<'static, Result<T, TransportError>> {
        let mut request = self.http.post(format!("{}/{path}", self.endpoint));
        for (name, value) in (self.headers)() {
            request = request.header(name, value);
        }
        let body = serde_json::to_vec(body);
        Box::pin(async move {
            let body = body.map_err(|e| TransportError::network_from("cannot encode request", e))?;
            let response = request
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| TransportError::network_from("", e))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| TransportError::network_from("", e))?;
            decode_answer(status, &bytes)
        })
    }
}

impl Transport for HttpTransport {
    fn push(&self, request: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        self.post("push", &request)
    }

    fn pull(&self, request: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        self.post("pull", &request)
    }

    fn pokes(&self, client_group_id: &str) -> BoxFuture<'static, Result<BoxStream<'static, ()>, TransportError>> {
        let ws = self.endpoint.replacen("http", "ws", 1);
        let url = format!("{ws}/poke?clientGroupID={}", encode_query(client_group_id));
        let headers = (self.headers)();
        Box::pin(async move {
            let mut request = url.into_client_request().map_err(|e| TransportError::network_from("", e))?;
            for (name, value) in headers {
                let name = HeaderName::try_from(name).map_err(|e| TransportError::network_from("", e))?;
                let value = HeaderValue::try_from(value).map_err(|e| TransportError::network_from("", e))?;
                request.headers_mut().insert(name, value);
            }
            let (socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    let status = response.status().as_u16();
                    let body =
                        response.body().as_deref().and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok()).unwrap_or(
                            ErrorBody {
                                error: if status == 401 { ErrorCode::Unauthorized } else { ErrorCode::Internal },
                                message: format!("WebSocket upgrade refused with {status}"),
                                retryable: status >= 500,
                            },
                        );
                    TransportError::Server { status, body }
                }
                other => TransportError::network_from("", other),
            })?;
            // Every text frame is a poke; control frames are answered by tungstenite.
            let pokes = socket
                .take_while(|m| std::future::ready(matches!(m, Ok(m) if !m.is_close())))
                .filter_map(|m| std::future::ready(matches!(m, Ok(Message::Text(_))).then_some(())));
            Ok(Box::pin(pokes) as BoxStream<'static, ()>)
        })
    }
}

/// Percent-encodes a query value (client group ids are usually plain already).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Timers and tasks on a tokio runtime; wall clock from the OS.
#[derive(Debug, Clone)]
pub struct TokioPlatform {
    runtime: tokio::runtime::Handle,
    counter: Arc<AtomicU64>,
    seed: RandomState,
}

impl TokioPlatform {
    /// Uses the runtime this is called from.
    pub fn current() -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::Platform("TokioPlatform::current() must be called inside a tokio runtime".into())
        })?;
        Ok(TokioPlatform { runtime, counter: Arc::new(AtomicU64::new(0)), seed: RandomState::new() })
    }
}

impl Platform for TokioPlatform {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.runtime.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    fn random_u64(&self) -> u64 {
        // SipHash with a per-process random key over a counter: unpredictable
        // enough for jitter and id entropy, with no extra dependency.
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    }
}
