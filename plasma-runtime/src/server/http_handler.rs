//! The framework-agnostic HTTP surface: `http::Request<Bytes>` in,
//! `http::Response<Bytes>` out. Every failure is a JSON [`ErrorBody`](crate::protocol::ErrorBody).
//! Routing, the body limit, CORS and error bodies are written once here for
//! every backend; each backend only answers a routed request.

use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;

use crate::protocol::ErrorCode;
use crate::server::{ServerConfig, ServerError};
#[cfg(feature = "server")]
use crate::{mutator::Registry, server::SyncServer};

/// Endpoints answered under the base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST {base}/push`.
    Push,
    /// `POST {base}/pull`.
    Pull,
}

/// The endpoint answering `method path`: a JSON 404 for a path that is
/// none, then a JSON 405 for a method other than POST. The only place
/// requests are routed to push or pull, for every backend.
pub fn route(config: &ServerConfig, path: &str, method: &Method) -> Result<Endpoint, ServerError> {
    let endpoint = match path.strip_prefix(config.base_path.as_str()) {
        Some("/push") => Endpoint::Push,
        Some("/pull") => Endpoint::Pull,
        _ => return Err(ServerError::new(ErrorCode::NotFound, format!("no endpoint at {path}"))),
    };
    if method != Method::POST {
        return Err(ServerError::new(ErrorCode::MethodNotAllowed, "use POST"));
    }
    Ok(endpoint)
}

/// The answer to a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`, CORS on), or `None` for any other
/// request. A path that is no endpoint gets the JSON 404 (with CORS
/// headers, so the page can read it).
pub fn preflight(config: &ServerConfig, path: &str, method: &Method, headers: &HeaderMap) -> Option<Response<Bytes>> {
    let cors = &config.cors;
    if !cors.is_preflight(method, headers) {
        return None;
    }
    Some(match route(config, path, &Method::POST) {
        Ok(_) => cors.preflight(headers),
        Err(error) => {
            let mut response = error_response(&error);
            cors.decorate(headers.get(header::ORIGIN), response.headers_mut());
            response
        }
    })
}

/// The whole HTTP exchange around a backend's answer: preflights, routing,
/// the body limit, CORS headers on every answer. `answer` runs the auth hook
/// and the endpoint on a routed request whose body is within the limit.
pub async fn exchange<F, Fut>(config: &ServerConfig, request: Request<Bytes>, answer: F) -> Response<Bytes>
where
    F: FnOnce(Endpoint, HeaderMap, Bytes) -> Fut,
    Fut: Future<Output = Response<Bytes>>,
{
    let (parts, body) = request.into_parts();
    if let Some(preflight) = preflight(config, parts.uri.path(), &parts.method, &parts.headers) {
        return preflight;
    }
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let limit = config.max_body_bytes;
    let mut response = match route(config, parts.uri.path(), &parts.method) {
        Ok(_) if body.len() > limit => error_response(&too_large(limit)),
        Ok(endpoint) => answer(endpoint, parts.headers, body).await,
        Err(error) => error_response(&error),
    };
    config.cors.decorate(origin.as_ref(), response.headers_mut());
    response
}

/// The JSON answer of an endpoint's result.
pub fn respond(result: Result<Response<Bytes>, ServerError>) -> Response<Bytes> {
    result.unwrap_or_else(|error| error_response(&error))
}

#[cfg(feature = "server")]
impl<R: Registry> SyncServer<R>
where
    R::Context: Send + Sync + 'static,
{
    /// Answers `POST {base}/push` and `POST {base}/pull`. Runs the auth hook
    /// first; enforces the body limit; never panics on input.
    ///
    /// The full entry for any framework: it routes and size-checks the
    /// request itself. The axum endpoint instead reads the body under the
    /// limit (and a timeout) and calls `SyncServer::endpoint` and
    /// `SyncServer::answer`, so each request is routed and checked once.
    /// Answers CORS preflights and adds CORS headers as
    /// [`ServerConfig::cors`](crate::server::ServerConfig::cors) says.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        exchange(self.config(), request, |endpoint, headers, body| async move {
            self.answer(endpoint, headers, &body).await
        })
        .await
    }

    /// See [`preflight`] (for the axum adapter).
    #[cfg(feature = "axum")]
    pub(crate) fn preflight(&self, path: &str, method: &Method, headers: &HeaderMap) -> Option<Response<Bytes>> {
        preflight(self.config(), path, method, headers)
    }

    /// See [`route`] (for the axum adapter).
    #[cfg(feature = "axum")]
    pub(crate) fn endpoint(&self, path: &str, method: &Method) -> Result<Endpoint, ServerError> {
        route(self.config(), path, method)
    }

    /// Answers a routed request whose body is within the limit: runs the
    /// auth hook on `headers`, then the endpoint. Neither routes nor checks
    /// the size again.
    pub(crate) async fn answer(&self, endpoint: Endpoint, headers: HeaderMap, body: &[u8]) -> Response<Bytes> {
        respond(
            async {
                let who = self.authorize(headers).await?;
                match endpoint {
                    Endpoint::Push => json(StatusCode::OK, &self.push(who, body).await?),
                    Endpoint::Pull => json(StatusCode::OK, &self.pull(who, body).await?),
                }
            }
            .await,
        )
    }
}

/// The 413 error for a body over `limit` bytes.
pub fn too_large(limit: usize) -> ServerError {
    ServerError::new(ErrorCode::PayloadTooLarge, format!("request body exceeds {limit} bytes"))
}

/// A JSON response with `status`.
pub fn json(status: StatusCode, value: &impl Serialize) -> Result<Response<Bytes>, ServerError> {
    let body = serde_json::to_vec(value).map_err(|e| ServerError::new(ErrorCode::Internal, e.to_string()))?;
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The JSON response for an error.
pub fn error_response(error: &ServerError) -> Response<Bytes> {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(code = ?error.code, message = %error.message, "request failed");
    } else {
        tracing::debug!(code = ?error.code, message = %error.message, "request refused");
    }
    // ErrorBody always serializes; fall back to a fixed body rather than panic.
    let body = serde_json::to_vec(&error.body()).unwrap_or_else(|_| br#"{"error":"internal"}"#.to_vec());
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
