//! Serving a router on a TCP listener with bounded connection resources.
//!
//! `axum::serve` has no header timeout, no connection cap and hyper's default
//! 400 KB buffers; a few hundred clients that send half a request would hold
//! the server's connections for as long as they like. [`serve`] runs each
//! connection with hyper's HTTP/1 server configured from [`ServeConfig`]:
//!
//! - a **header read timeout** that also bounds idle keep-alive connections
//!   (hyper starts it whenever it waits for the next request head);
//! - a **connection cap**: at most `max_connections` connections are served at
//!   once; further ones wait, unaccepted, in the listen backlog until one ends;
//! - a **buffer cap**: `max_buf_size` bounds hyper's read buffer, so headers
//!   beyond it get hyper's own (bodiless) 431;
//! - WebSocket upgrades (pokes) keep working; an upgraded socket leaves the
//!   connection cap (the poke caps of [`ServerConfig`](crate::server::ServerConfig) bound it).
//!
//! Body read timeouts and the JSON 431 below `max_buf_size` are enforced by
//! the sync endpoints themselves ([`ServerConfig`](crate::server::ServerConfig)).

use std::future::{Future, pending};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connection limits of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// How long a client may take to send a request's headers, and how long
    /// a keep-alive connection may sit idle between requests. The connection
    /// is closed after it (without an answer: no request was read).
    pub header_read_timeout: Duration,
    /// Most connections served at once. Further connections are not accepted
    /// until one ends (they wait in the listen backlog). Upgraded WebSockets
    /// do not count.
    pub max_connections: usize,
    /// hyper's read buffer cap per connection, at least 8192. Request headers
    /// larger than this get a bare 431 from hyper; below it the sync endpoints
    /// answer a JSON 431 above `ServerConfig::max_header_bytes`.
    pub max_buf_size: usize,
    /// Most header fields in a request; hyper answers a bare 431 above it.
    pub max_headers: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_buf_size: 64 << 10,
            max_headers: 100,
        }
    }
}

/// Serves `router` on `listener` until the task is dropped. See the module docs.
pub async fn serve(listener: TcpListener, router: Router, config: ServeConfig) {
    serve_with_shutdown(listener, router, config, pending()).await;
}

/// Like [`serve`], but when `shutdown` completes it stops accepting, lets each
/// connection finish the request in flight (idle ones close at once), and
/// returns when all connections have ended. Upgraded WebSockets are not waited for.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let max = config.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(max));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_buf_size.max(8192))
        .max_headers(config.max_headers)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let Some((stream, permit)) = accepted else { continue };
        let service = TowerToHyperService::new(router.clone());
        let builder = Arc::clone(&builder);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopped.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection task holds a permit until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// Waits for a free connection slot, then for a connection. `None` after an
/// accept error (logged; the caller retries).
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = Arc::clone(permits).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => {
            // Small answers should not wait for Nagle.
            let _ = stream.set_nodelay(true);
            Some((stream, permit))
        }
        Err(e) => {
            // Out of file descriptors and similar: back off instead of spinning.
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}
