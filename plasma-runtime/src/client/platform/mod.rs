//! What the client needs from where it runs: a transport to the server, timers,
//! a task spawner, a clock and randomness. Native code gets tokio + reqwest
//! implementations (`native-client` feature); the browser supplies its own.
//!
//! Futures are `Send` natively, so the client's tasks run on a multi-threaded
//! runtime, and not `Send` on wasm32, where nothing is.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use crate::error::ErrorSource;
use crate::protocol::{ErrorBody, ErrorCode, PullRequest, PullResponse, PushRequest, PushResponse};

#[cfg(feature = "native-client")]
pub mod native;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web;

/// `Send + Sync` natively; nothing on wasm32, which is single-threaded.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSend for T {}

/// `Send + Sync` natively; nothing on wasm32, which is single-threaded.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// A boxed future, `Send` natively.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future, `Send` natively.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A boxed stream, `Send` natively.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;
/// A boxed stream, `Send` natively.
#[cfg(target_arch = "wasm32")]
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + 'a>>;

/// Why a request to the server did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The request did not get an answer (connection refused, reset, timeout,
    /// unreadable body). Retried with backoff.
    #[error("network: {message}")]
    Network {
        /// What failed.
        message: String,
        /// The HTTP client's or decoder's error, if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The server answered with an error body.
    #[error("server answered {status}: {} ({:?})", .body.message, .body.error)]
    Server {
        /// HTTP status.
        status: u16,
        /// The machine-readable body.
        body: ErrorBody,
    },
    /// The transport cannot do this (for example pokes without WebSocket support).
    #[error("not supported by this transport: {0}")]
    Unsupported(String),
}

impl TransportError {
    /// A network failure described by text alone (no underlying error).
    pub fn network(message: impl Into<String>) -> Self {
        TransportError::Network { message: message.into(), source: None }
    }

    /// A network failure caused by `error`, kept as the source; `context`
    /// (may be empty) prefixes its message.
    pub fn network_from(context: &str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        let message = if context.is_empty() { error.to_string() } else { format!("{context}: {error}") };
        TransportError::Network { message, source: Some(ErrorSource::new(error)) }
    }
}

/// Decodes an HTTP answer the same way on every platform: a 2xx body as `T`
/// (an unreadable one is a [`TransportError::Network`]), anything else as the
/// server's [`ErrorBody`] in a [`TransportError::Server`]. A body that is not
/// an `ErrorBody` (a proxy's page, a server from before error bodies) is
/// judged by its status: 5xx retryable, 4xx not.
pub fn decode_answer<T: serde::de::DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, TransportError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(bytes).map_err(|e| TransportError::network_from("unreadable answer", e));
    }
    let body = serde_json::from_slice::<ErrorBody>(bytes).unwrap_or_else(|_| ErrorBody {
        error: if status >= 500 { ErrorCode::Internal } else { ErrorCode::BadRequest },
        message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        retryable: status >= 500,
    });
    Err(TransportError::Server { status, body })
}

/// Carries push, pull and pokes to the server.
pub trait Transport: MaybeSend + 'static {
    /// Sends a push.
    fn push(&self, request: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>>;

    /// Sends a pull and returns one page.
    fn pull(&self, request: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>>;

    /// Opens a poke channel for `client_group_id`: the stream yields once per
    /// poke ("pull now") and ends when the connection does.
    fn pokes(&self, client_group_id: &str) -> BoxFuture<'static, Result<BoxStream<'static, ()>, TransportError>> {
        let _ = client_group_id;
        Box::pin(async { Err(TransportError::Unsupported("pokes".to_owned())) })
    }
}

/// Timers, tasks, clock and randomness.
pub trait Platform: MaybeSend + 'static {
    /// Runs `task` in the background until it finishes.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Wall-clock milliseconds since the Unix epoch (mutation timestamps, ids).
    fn now_ms(&self) -> i64;

    /// 64 random bits (ids, backoff jitter). Need not be cryptographic.
    fn random_u64(&self) -> u64;
}
