//! The Worker's `fetch` entry: converts between workers-rs and `http`
//! types, applies the schema once per isolate, and routes the poke socket to
//! the [`PlasmaPokes`](super::PlasmaPokes) Durable Object after the same
//! checks the axum server makes.

use std::cell::RefCell;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use super::database::D1Db;
use super::pokes::{self, SocketRequest};
use crate::mutator::Registry;
use crate::protocol::{ErrorCode, POKE_SUBPROTOCOL};
use crate::schema::Schema;
use crate::server::http_handler::{error_response, too_large};
use crate::server::subprotocol_headers::add_subprotocol_headers;
use crate::server::{BatchServer, BatchServerBuilder, ServerConfig, ServerError, check_id};

/// The D1 binding the server stores in (`[[d1_databases]] binding = "DB"`).
pub const DATABASE_BINDING: &str = "DB";
/// The Durable Object binding holding poke sockets
/// (`[[durable_objects.bindings]] name = "PLASMA_POKES", class_name = "PlasmaPokes"`).
/// Without it the Worker is pull-only: `{base}/poke` answers 404.
pub const POKES_BINDING: &str = "PLASMA_POKES";

thread_local! {
    /// Schema versions this isolate has applied (a Worker isolate runs one
    /// thread; the first request of each isolate pays for `ensure_schema`).
    static APPLIED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A [`BatchServer`] builder on the Worker's D1 binding [`DATABASE_BINDING`],
/// telling the [`POKES_BINDING`] Durable Object about pushes when bound, with
/// [`ServerConfig::for_d1`]'s limits. Add the auth hook and build (a later
/// `.config(..)` replaces every limit: start it from `ServerConfig::for_d1()`).
pub fn builder<R: Registry>(schema: &'static Schema, env: &Env) -> worker::Result<BatchServerBuilder<R, D1Db>> {
    let builder = BatchServer::builder(schema, D1Db::new(env.d1(DATABASE_BINDING)?)).config(ServerConfig::for_d1());
    Ok(match env.durable_object(POKES_BINDING) {
        Ok(namespace) => {
            let sockets = namespace.clone();
            builder
                .on_push(move |notice| {
                    let namespace = namespace.clone();
                    async move {
                        // Pokes are best effort: a client that misses one pulls on its timer.
                        if let Err(e) = pokes::notify(&namespace, &notice).await {
                            tracing::warn!(error = %e, "could not reach the poke Durable Object");
                        }
                    }
                })
                .connected(move || {
                    let namespace = sockets.clone();
                    async move {
                        // Unknown sockets are poked by every data change (`All`).
                        pokes::connected(&namespace).await.unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "could not list poke sockets");
                            vec![crate::server::ConnectedGroup { group: String::new(), scope: None }]
                        })
                    }
                })
        }
        Err(_) => builder,
    })
}

/// Answers one Worker request: push and pull through [`BatchServer::handle`],
/// `GET {base}/poke` (WebSocket) through the poke Durable Object.
pub async fn serve<R: Registry>(
    server: &BatchServer<R, D1Db>,
    env: &Env,
    request: Request,
) -> worker::Result<Response> {
    if let Err(error) = ensure_schema_once(server).await {
        return into_worker(error_response(&error));
    }
    let poke_path = format!("{}/poke", server.config().base_path);
    if request.path() == poke_path {
        return match poke_socket(server, env, &request).await {
            Ok(response) => Ok(response),
            Err(error) => into_worker(server_error_with_cors(server, &request, &error)),
        };
    }
    // A declared body over the limit is refused before it is read (the
    // Worker would otherwise buffer all of it); chunked bodies are read and
    // then checked by `handle`.
    let limit = server.config().max_body_bytes;
    let declared = request.headers().get("content-length").ok().flatten().and_then(|n| n.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return into_worker(server_error_with_cors(server, &request, &too_large(limit)));
    }
    match into_http(request).await {
        Ok(request) => into_worker(server.handle(request).await),
        Err(e) => {
            let error = ServerError::new(ErrorCode::InvalidRequest, format!("could not read the request: {e}"));
            into_worker(error_response(&error))
        }
    }
}

async fn ensure_schema_once<R: Registry>(server: &BatchServer<R, D1Db>) -> Result<(), ServerError> {
    let version = server.schema_version().to_owned();
    if APPLIED.with(|applied| applied.borrow().contains(&version)) {
        return Ok(());
    }
    server.ensure_schema().await?;
    APPLIED.with(|applied| applied.borrow_mut().push(version));
    Ok(())
}

fn server_error_with_cors<R: Registry>(
    server: &BatchServer<R, D1Db>,
    request: &Request,
    error: &ServerError,
) -> http::Response<Bytes> {
    let mut response = error_response(error);
    let origin = request.headers().get("origin").ok().flatten().and_then(|o| HeaderValue::from_str(&o).ok());
    server.config().cors.decorate(origin.as_ref(), response.headers_mut());
    response
}

/// The poke socket: the axum server's checks (method, origin, credentials,
/// group id and owner), then the socket is handed to the Durable Object.
async fn poke_socket<R: Registry>(
    server: &BatchServer<R, D1Db>,
    env: &Env,
    request: &Request,
) -> Result<Response, ServerError> {
    let Ok(namespace) = env.durable_object(super::POKES_BINDING) else {
        return Err(ServerError::new(ErrorCode::NotFound, "this server sends no pokes: pull on a timer"));
    };
    if request.method() != Method::Get {
        return Err(ServerError::new(ErrorCode::MethodNotAllowed, "use GET with a WebSocket upgrade"));
    }
    let mut headers: HeaderMap = request.headers().into();
    server.config().cors.check_socket_origin(&headers)?;
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == POKE_SUBPROTOCOL);
    add_subprotocol_headers(&mut headers);
    let who = server.authorize(headers).await?;
    let url = request.url().map_err(|e| ServerError::new(ErrorCode::BadRequest, e.to_string()))?;
    let group = url
        .query_pairs()
        .find(|(k, _)| k == "clientGroupID")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ServerError::new(ErrorCode::BadRequest, "missing query parameter clientGroupID"))?;
    if who.client_group_id.as_ref().is_some_and(|pinned| *pinned != group) {
        return Err(ServerError::new(ErrorCode::Forbidden, "this request may not use that client group"));
    }
    check_id("client group id", &group)?;
    server.check_group_access(&who.user_id, &group).await?;
    let upgrade = request.headers().get("upgrade").ok().flatten();
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ServerError::new(ErrorCode::BadRequest, "expected a WebSocket upgrade"));
    }
    // The scope rides with the socket, so a push pokes it only when it
    // touched that scope (too large a scope: poked on every change).
    let scope = Some(crate::server::scope_wire::to_json(&server.scope_of(&who)?))
        .filter(|json| json.len() <= pokes::MAX_ATTACHED_SCOPE);
    let socket = SocketRequest {
        group: group.clone(),
        user: who.user_id.clone(),
        offered,
        max_total: server.config().max_poke_sockets,
        max_per_user: server.config().max_poke_sockets_per_user,
        scope,
    };
    let response =
        pokes::open(&namespace, &socket).await.map_err(|e| ServerError::new(ErrorCode::Internal, e.to_string()))?;
    // A push may have claimed the group between the check above and the
    // socket's registration, and told the object before it held the socket:
    // look again now that it does, and have the object close it if so. A
    // claim after this look reaches the object after the socket.
    if response.status_code() == 101
        && let Ok(Some(owner)) = server.storage().group_owner(&group).await
        && owner != who.user_id
    {
        let notice = crate::server::PushNotice { poke: None, group, owner: Some(owner) };
        if let Err(e) = pokes::notify(&namespace, &notice).await {
            tracing::warn!(error = %e, "could not revoke a poke socket of a claimed group");
        }
    }
    Ok(response)
}

async fn into_http(mut request: Request) -> worker::Result<http::Request<Bytes>> {
    let url = request.url()?;
    let mut path_and_query = url.path().to_owned();
    if let Some(query) = url.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    let body = request.bytes().await?;
    let mut builder = http::Request::builder().method(request.method().as_ref()).uri(path_and_query);
    if let Some(headers) = builder.headers_mut() {
        *headers = request.headers().into();
    }
    builder.body(Bytes::from(body)).map_err(|e| worker::Error::RustError(e.to_string()))
}

/// An `http` response as the Worker's.
pub(super) fn into_worker(response: http::Response<Bytes>) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    Ok(Response::from_bytes(body.to_vec())?
        .with_status(parts.status.as_u16())
        .with_headers(Headers::from(&parts.headers)))
}

/// A request to the Durable Object (its URL's host is never resolved).
pub(super) fn internal_request(
    path: &str,
    method: Method,
    headers: Headers,
    body: Option<String>,
) -> worker::Result<Request> {
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    Request::new_with_init(&format!("https://plasma-pokes{path}"), &init)
}
