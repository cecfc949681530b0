//! Mounts a [`SyncServer`] on axum: `POST {base}/push`, `POST {base}/pull`,
//! and `GET {base}/poke?clientGroupID=...` (WebSocket).

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Request, Response, header};
use axum::routing::{any, get};

use crate::mutator::Registry;
use crate::protocol::{ErrorCode, Poke};
use crate::server::http_handler::{error_response, too_large};
use crate::server::{PokeSubscription, ServerError, SyncServer};

/// How long a poke may take to reach a socket before the socket is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// An axum router serving the sync endpoints under the server's base path.
pub fn router<R: Registry>(server: SyncServer<R>) -> Router
where
    R::Context: Send + Sync + 'static,
{
    let base = server.config().base_path.clone();
    Router::new()
        .route(&format!("{base}/push"), any(http_endpoint::<R>))
        .route(&format!("{base}/pull"), any(http_endpoint::<R>))
        .route(&format!("{base}/poke"), get(poke_endpoint::<R>))
        // Unknown paths under the base get a JSON 404 from the handler; paths
        // outside it stay free for the app's own routes.
        .route(&format!("{base}/{{*rest}}"), any(http_endpoint::<R>))
        // The server enforces its own limit with a JSON 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(server)
}

async fn http_endpoint<R: Registry>(State(server): State<SyncServer<R>>, request: Request<Body>) -> Response<Body>
where
    R::Context: Send + Sync + 'static,
{
    let limit = server.config().max_body_bytes;
    let (parts, body) = request.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return error_response(&too_large(limit)).map(Body::from);
    }
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return error_response(&too_large(limit)).map(Body::from),
    };
    server.handle(Request::from_parts(parts, body)).await.map(Body::from)
}

async fn poke_endpoint<R: Registry>(
    State(server): State<SyncServer<R>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response<Body>
where
    R::Context: Send + Sync + 'static,
{
    let result = async {
        let who = server.authorize(headers).await?;
        let group = query
            .get("clientGroupID")
            .cloned()
            .ok_or_else(|| ServerError::new(ErrorCode::BadRequest, "missing query parameter clientGroupID"))?;
        if who.client_group_id.as_ref().is_some_and(|pinned| *pinned != group) {
            return Err(ServerError::new(ErrorCode::Forbidden, "this request may not use that client group"));
        }
        server.check_group_access(who.user_id, group.clone()).await?;
        // Credentials first, so an anonymous probe learns nothing else.
        let upgrade = upgrade
            .map_err(|e| ServerError::new(ErrorCode::BadRequest, format!("expected a WebSocket upgrade: {e}")))?;
        Ok((group, upgrade))
    }
    .await;
    match result {
        Ok((group, upgrade)) => {
            let subscription = server.pokes().subscribe(group);
            let coalesce = server.config().poke_coalesce;
            upgrade.on_upgrade(move |socket| forward_pokes(socket, subscription, coalesce))
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
        if pending {
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
                None => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
