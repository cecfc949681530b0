//! [`FetchTransport`]: push and pull with the browser's `fetch`, pokes over
//! its `WebSocket` (see [`pokes`](super::pokes)).

use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js::{JsError, fetch_request, location_href};
use super::pokes::connect_pokes;
use crate::client::error::ClientError;
use crate::client::platform::{BoxFuture, BoxStream, Transport, TransportError, decode_answer};
use crate::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};

/// How long a push or pull may take before it fails as a network error
/// (the native transport's timeout too).
const REQUEST_TIMEOUT_MS: u32 = 30_000;

/// Supplies request headers (credentials) for every request, so tokens can rotate.
pub type HeaderProvider = Rc<dyn Fn() -> Vec<(String, String)>>;

/// Talks to a plasma server from a browser: `fetch` for push and pull, a
/// `WebSocket` for pokes.
///
/// The server must be the page's origin, or allow it with CORS
/// (`ServerConfig::cors`). A browser `WebSocket` cannot send headers, so the
/// poke socket carries them as subprotocols (see PROTOCOL.md); a refused
/// upgrade (401, 403) is only seen as a failed connection, retried with
/// backoff, while push and pull report the server's answer.
#[derive(Clone)]
pub struct FetchTransport {
    endpoint: String,
    headers: HeaderProvider,
}

impl std::fmt::Debug for FetchTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchTransport").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl FetchTransport {
    /// A transport for the sync endpoints under `endpoint`: relative to the
    /// page (`/sync`, served by the page's origin) or absolute
    /// (`http://127.0.0.1:3000/sync`, which must allow the page's origin).
    pub fn new(endpoint: &str) -> Result<Self, ClientError> {
        let base = location_href();
        let resolved = match &base {
            Some(base) => web_sys::Url::new_with_base(endpoint, base),
            None => web_sys::Url::new(endpoint),
        }
        .map_err(|e| {
            ClientError::Platform(format!(
                "endpoint `{endpoint}` is not a URL (page at {base:?}): {}",
                JsError::from(e)
            ))
        })?;
        let protocol = resolved.protocol();
        if protocol != "http:" && protocol != "https:" {
            return Err(ClientError::Platform(format!("endpoint `{endpoint}` must be an http(s) URL, not {protocol}")));
        }
        resolved.set_hash("");
        let endpoint = resolved.href().trim_end_matches('/').to_owned();
        Ok(FetchTransport { endpoint, headers: Rc::new(Vec::new) })
    }

    /// Sends these headers (computed per request) with every request,
    /// including the poke socket's (as subprotocols).
    pub fn headers(mut self, provider: impl Fn() -> Vec<(String, String)> + 'static) -> Self {
        self.headers = Rc::new(provider);
        self
    }

    /// Sends one fixed header with every request.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let pair = (name.into(), value.into());
        self.headers(move || vec![pair.clone()])
    }

    /// The absolute endpoint requests go to, for example `http://127.0.0.1:3000/sync`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The poke socket's URL for `client_group_id`: the endpoint with `ws`
    /// for `http` (`wss` for `https`), then `/poke?clientGroupID=...`.
    pub fn poke_url(&self, client_group_id: &str) -> String {
        let ws = self.endpoint.replacen("http", "ws", 1);
        let group = String::from(js_sys::encode_uri_component(client_group_id));
        format!("{ws}/poke?clientGroupID={group}")
    }

    fn post<B: Serialize, T: DeserializeOwned + 'static>(
        &self,
        path: &'static str,
        body: &B,
    ) -> BoxFuture<'static, Result<T, TransportError>> {
        let url = format!("{}/{path}", self.endpoint);
        let headers = (self.headers)();
        let body = serde_json::to_vec(body);
        Box::pin(async move {
            let body = body.map_err(|e| TransportError::network_from("cannot encode request", e))?;
            let (status, bytes) = send(&url, headers, &body).await.map_err(|e| TransportError::network_from("", e))?;
            decode_answer(status, &bytes)
        })
    }
}

/// POSTs `body` as JSON; the status and body of the answer, or why none came
/// (offline, refused, CORS, timeout).
async fn send(url: &str, headers: Vec<(String, String)>, body: &[u8]) -> Result<(u16, Vec<u8>), JsError> {
    let sent = web_sys::Headers::new()?;
    sent.set("content-type", "application/json")?;
    for (name, value) in headers {
        sent.set(&name, &value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&sent);
    init.set_body(&js_sys::Uint8Array::from(body));
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS)));
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let response: web_sys::Response = JsFuture::from(fetch_request(&request)).await?.dyn_into()?;
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    Ok((response.status(), js_sys::Uint8Array::new(&buffer).to_vec()))
}

impl Transport for FetchTransport {
    fn push(&self, request: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        self.post("push", &request)
    }

    fn pull(&self, request: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        self.post("pull", &request)
    }

    fn pokes(&self, client_group_id: &str) -> BoxFuture<'static, Result<BoxStream<'static, ()>, TransportError>> {
        let url = self.poke_url(client_group_id);
        let headers = (self.headers)();
        Box::pin(async move { connect_pokes(&url, &headers).await })
    }
}
