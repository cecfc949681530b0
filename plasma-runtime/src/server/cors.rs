//! CORS for the sync endpoints, so a page on another origin can push and pull.
//!
//! Off by default: a page served by the sync server's own origin needs no
//! CORS. When on ([`CorsConfig`]), an allowed origin's requests get
//! `Access-Control-Allow-Origin` on every answer (errors too, so the browser
//! lets the client read the JSON error body), and its preflight `OPTIONS`
//! gets a 204 naming the allowed methods and headers. A disallowed origin
//! gets no CORS headers, and its preflight a JSON 403. WebSocket upgrades
//! (pokes) are not subject to CORS.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::protocol::ErrorCode;
use crate::server::ServerError;
use crate::server::http_handler::error_response;

/// Which browser origins may call the sync endpoints (`ServerConfig::cors`).
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Origins allowed, exactly as browsers send them: scheme, host and
    /// port if not the default (`https://app.example`, `http://127.0.0.1:3000`).
    pub allowed_origins: Vec<String>,
    /// Allow every origin. For development: any page may then call the
    /// server with whatever credentials it holds.
    pub allow_any_origin: bool,
    /// Request headers a page may send besides `content-type`: the headers
    /// the auth hook reads (default `authorization`). Case does not matter.
    pub allowed_headers: Vec<String>,
    /// How long a browser may reuse a preflight answer (default 10 minutes).
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            allowed_headers: vec!["authorization".to_owned()],
            max_age: Duration::from_secs(600),
        }
    }
}

/// The methods the sync endpoints answer (POST push and pull, GET the poke socket).
const ALLOWED_METHODS: &str = "POST, GET, OPTIONS";

impl CorsConfig {
    /// Browsers let any page open a WebSocket to any server (no CORS), sending
    /// the page's `Origin` and the user's cookies: a socket from a page of
    /// another origin is refused unless CORS allows that origin. Same origin
    /// means the `Origin`'s host and port are the `Host` the request was sent to
    /// (a proxy that rewrites `Host` must keep it, or list the public origin in
    /// [`CorsConfig`]). No `Origin` (not a browser: native clients) passes.
    pub fn check_socket_origin(&self, headers: &HeaderMap) -> Result<(), ServerError> {
        let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
        let origin = origin.to_str().unwrap_or("");
        let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let same_origin = authority.is_some_and(|a| host.is_some_and(|h| a.eq_ignore_ascii_case(h)));
        if same_origin || self.allows(origin) {
            return Ok(());
        }
        Err(ServerError::new(
            ErrorCode::Forbidden,
            format!("a page of origin `{origin}` may not open this server's poke socket (allow it with CORS)"),
        ))
    }

    /// Whether any origin is allowed at all (otherwise CORS is off).
    pub fn is_enabled(&self) -> bool {
        self.allow_any_origin || !self.allowed_origins.is_empty()
    }

    /// Whether `origin` may call the endpoints.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_any_origin || self.allowed_origins.iter().any(|allowed| allowed.trim_end_matches('/') == origin)
    }

    /// `origin` if CORS is on and allows it.
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        (self.is_enabled() && origin.to_str().is_ok_and(|o| self.allows(o))).then_some(origin)
    }

    /// Whether this request is a preflight this configuration answers.
    pub(crate) fn is_preflight(&self, method: &Method, request: &HeaderMap) -> bool {
        self.is_enabled()
            && method == Method::OPTIONS
            && request.contains_key(header::ORIGIN)
            && request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: 204 with the allowed methods and headers,
    /// or a JSON 403 without CORS headers for an origin not allowed.
    pub(crate) fn preflight(&self, request: &HeaderMap) -> Response<Bytes> {
        let Some(origin) = self.allowed(request.get(header::ORIGIN)) else {
            let origin = request.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
            return error_response(&ServerError::new(
                ErrorCode::Forbidden,
                format!("origin `{origin}` may not call this server (CORS)"),
            ));
        };
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        let allowed = std::iter::once("content-type")
            .chain(self.allowed_headers.iter().map(String::as_str))
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(allowed) = HeaderValue::from_str(&allowed) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age.as_secs()));
        response
    }

    /// Adds the CORS headers an answer to a request from `origin` (its
    /// `Origin` header) needs: none if CORS is off, only `Vary` for an origin
    /// not allowed.
    pub(crate) fn decorate(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        if !self.is_enabled() {
            return;
        }
        response.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(origin) {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(o: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(o).expect("header"));
        headers
    }

    #[test]
    fn only_listed_origins_are_allowed_exactly() {
        let cors = CorsConfig { allowed_origins: vec!["https://app.example/".into()], ..CorsConfig::default() };
        assert!(cors.allows("https://app.example"));
        assert!(!cors.allows("https://app.example.evil"));
        assert!(!cors.allows("http://app.example"));
        let mut answer = HeaderMap::new();
        cors.decorate(origin("https://evil.example").get(header::ORIGIN), &mut answer);
        assert!(answer.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(!CorsConfig::default().is_enabled(), "off unless configured");
    }
}
