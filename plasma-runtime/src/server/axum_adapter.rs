//! Mounts a [`SyncServer`] on axum: `POST {base}/push`, `POST {base}/pull`,
//! and `GET {base}/poke?clientGroupID=...` (WebSocket).

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::Method;
use axum::http::{HeaderMap, Request, Response, header};
use axum::routing::any;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::mutator::Registry;
use crate::protocol::{ErrorCode, POKE_SUBPROTOCOL, Poke};
use crate::server::http_handler::{error_response, too_large};
use crate::server::subprotocol_headers::add_subprotocol_headers;
use crate::server::{PokeSubscription, ServerError, SubscribeError, SyncServer};

/// How long a poke may take to reach a socket before the socket is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Poke sockets only ever receive control frames (ping, pong, close) from the
/// client, so their buffers are small: an idle socket costs a few KB, not the
/// 256 KB of tungstenite's defaults.
const POKE_READ_BUFFER: usize = 1024;
/// Largest frame or message a client may send on a poke socket.
const POKE_MAX_MESSAGE: usize = 1024;
/// Bytes queued for a slow poke socket before writes fail (a poke is 16 bytes).
const POKE_MAX_WRITE_BUFFER: usize = 16 << 10;

/// An axum router serving the sync endpoints under the server's base path.
pub fn router<R: Registry>(server: SyncServer<R>) -> Router
where
    R::Context: Send + Sync + 'static,
{
    let base = server.config().base_path.clone();
    // Every path under the base but the poke socket goes to `http_endpoint`,
    // which routes it with `SyncServer::endpoint` (push, pull, or a JSON 404
    // or 405): the same routing `SyncServer::handle` uses, done once. Paths
    // outside the base stay free for the app's own routes.
    let router = Router::new()
        // `any`, not `get`: the endpoint answers a wrong method with a JSON 405.
        .route(&format!("{base}/poke"), any(poke_endpoint::<R>))
        .route(&format!("{base}/"), any(http_endpoint::<R>))
        .route(&format!("{base}/{{*rest}}"), any(http_endpoint::<R>));
    let router = if base.is_empty() { router } else { router.route(&base, any(http_endpoint::<R>)) };
    router
        // The server enforces its own limit with a JSON 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(server)
}

/// Push and pull, with CORS: preflights answered, every other answer
/// (errors too) carrying the CORS headers the configuration calls for.
async fn http_endpoint<R: Registry>(State(server): State<SyncServer<R>>, request: Request<Body>) -> Response<Body>
where
    R::Context: Send + Sync + 'static,
{
    if let Some(preflight) = server.preflight(request.uri().path(), request.method(), request.headers()) {
        return preflight.map(Body::from);
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = sync_endpoint(&server, request).await;
    server.config().cors.decorate(origin.as_ref(), response.headers_mut());
    response
}

async fn sync_endpoint<R: Registry>(server: &SyncServer<R>, request: Request<Body>) -> Response<Body>
where
    R::Context: Send + Sync + 'static,
{
    let config = server.config();
    let limit = config.max_body_bytes;
    let (parts, body) = request.into_parts();
    if let Err(error) = check_headers(&parts.headers, config.max_header_bytes) {
        return closing(error_response(&error));
    }
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return closing(error_response(&too_large(limit)));
    }
    // The limit also stops chunked bodies, which declare no length.
    let collected = tokio::time::timeout(config.body_read_timeout, Limited::new(body, limit).collect()).await;
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return closing(error_response(&too_large(limit))),
        Ok(Err(e)) => {
            let error = ServerError::new(ErrorCode::InvalidRequest, format!("could not read the request body: {e}"));
            return closing(error_response(&error));
        }
        Err(_) => {
            let error = ServerError::new(
                ErrorCode::RequestTimeout,
                format!("the request body did not arrive within {:?}", config.body_read_timeout),
            );
            return closing(error_response(&error));
        }
    };
    // The body is within the limit: route, then answer, without checking again.
    match server.endpoint(parts.uri.path(), &parts.method) {
        Ok(endpoint) => server.answer(endpoint, parts.headers, &body).await.map(Body::from),
        Err(error) => error_response(&error).map(Body::from),
    }
}

/// An error answer after which the connection closes: the rest of the body
/// (if any) is never read.
fn closing(mut response: Response<bytes::Bytes>) -> Response<Body> {
    response.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response.map(Body::from)
}

/// Refuses headers whose names and values total more than `limit` bytes (JSON 431).
fn check_headers(headers: &HeaderMap, limit: usize) -> Result<(), ServerError> {
    let total: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if total > limit {
        return Err(ServerError::new(
            ErrorCode::HeadersTooLarge,
            format!("request headers total {total} bytes, more than the {limit} allowed"),
        ));
    }
    Ok(())
}

async fn poke_endpoint<R: Registry>(
    State(server): State<SyncServer<R>>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
    mut headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response<Body>
where
    R::Context: Send + Sync + 'static,
{
    let result = async {
        if method != Method::GET {
            return Err(ServerError::new(ErrorCode::MethodNotAllowed, "use GET with a WebSocket upgrade"));
        }
        check_headers(&headers, server.config().max_header_bytes)?;
        server.config().cors.check_socket_origin(&headers)?;
        // A browser sends its credentials as subprotocols (it cannot set headers).
        add_subprotocol_headers(&mut headers);
        let who = server.authorize(headers).await?;
        let group = query
            .get("clientGroupID")
            .cloned()
            .ok_or_else(|| ServerError::new(ErrorCode::BadRequest, "missing query parameter clientGroupID"))?;
        if who.client_group_id.as_ref().is_some_and(|pinned| *pinned != group) {
            return Err(ServerError::new(ErrorCode::Forbidden, "this request may not use that client group"));
        }
        crate::server::check_id("client group id", &group)?;
        // Subscribe (and count against the caps) before checking the owner: a
        // push that claims the group after the check then revokes this subscription.
        let scope = std::sync::Arc::new(server.scope_of(&who)?);
        let subscription = server.pokes().subscribe_scoped(group.clone(), who.user_id.clone(), Some(scope)).map_err(|e| {
            let code = match e {
                SubscribeError::UserLimit(_) => ErrorCode::TooManySockets,
                SubscribeError::TotalLimit(_) => ErrorCode::Overloaded,
            };
            ServerError::new(code, e.to_string())
        })?;
        server.check_group_access(who.user_id, group).await?;
        // Credentials first, so an anonymous probe learns nothing else.
        let upgrade = upgrade
            .map_err(|e| ServerError::new(ErrorCode::BadRequest, format!("expected a WebSocket upgrade: {e}")))?;
        Ok((subscription, upgrade))
    }
    .await;
    match result {
        Ok((subscription, upgrade)) => {
            let coalesce = server.config().poke_coalesce;
            upgrade
                // Selected only if offered: a browser that offers subprotocols needs one back.
                .protocols([POKE_SUBPROTOCOL])
                .read_buffer_size(POKE_READ_BUFFER)
                .write_buffer_size(0)
                .max_write_buffer_size(POKE_MAX_WRITE_BUFFER)
                .max_message_size(POKE_MAX_MESSAGE)
                .max_frame_size(POKE_MAX_MESSAGE)
                .on_upgrade(move |socket| forward_pokes(socket, subscription, coalesce))
        }
        Err(error) => error_response(&error).map(Body::from),
    }
}

/// Sends one poke per burst until the client goes away. Runs in the socket's
/// own task, so a slow socket only delays itself.
async fn forward_pokes(mut socket: WebSocket, mut pokes: PokeSubscription, coalesce: Duration) {
    let poke = match serde_json::to_string(&Poke::Poke) {
        Ok(text) => text,
        Err(_) => return,
    };
    // A fresh subscriber may have missed changes since its last pull.
    let mut pending = true;
    loop {
        if pending && !pokes.is_revoked() {
            tokio::time::sleep(coalesce).await;
            pokes.drain();
            let send = socket.send(Message::Text(poke.as_str().into()));
            match tokio::time::timeout(SEND_TIMEOUT, send).await {
                Ok(Ok(())) => pending = false,
                _ => return,
            }
        }
        tokio::select! {
            next = pokes.next() => match next {
                Some(()) => pending = true,
                None if pokes.is_revoked() => {
                    // The group was claimed by another user: policy violation (1008).
                    let close = socket.send(Message::Close(Some(CloseFrame {
                        code: 1008,
                        reason: "client group belongs to another user".into(),
                    })));
                    let _ = tokio::time::timeout(SEND_TIMEOUT, close).await;
                    return;
                }
                None => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
