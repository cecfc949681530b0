//! [`PlasmaPokes`]: the Durable Object fanning pokes out to WebSockets.
//!
//! One object (named [`OBJECT_NAME`]) holds every poke socket through the
//! WebSocket Hibernation API: the runtime keeps the sockets open while the
//! object sleeps, so an idle app costs no Durable Object duration. The Worker
//! authenticates and checks each socket before handing it here
//! ([`open`]), and after each push tells the object whom to poke and who owns
//! the pushing group ([`notify`]). Each socket is tagged with hashes of its
//! group and user (tags are at most 256 characters; ids may be longer) and
//! carries the exact ids as its attachment, checked before acting on a tag.

// `#[durable_object]` emits undocumented JS glue methods for the class.
#![allow(missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Headers, Method, ObjectNamespace, Request, Response, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, durable_object,
};

use super::front::{internal_request, into_worker};
use crate::protocol::{ErrorCode, POKE_SUBPROTOCOL, Poke};
use crate::server::http_handler::error_response;
use crate::server::{ConnectedGroup, PokeTarget, PushNotice, ServerError};

/// The one poke object every Worker isolate talks to.
pub const OBJECT_NAME: &str = "plasma-pokes";

/// The header carrying a [`SocketRequest`] to the object (base64url JSON).
const SOCKET_HEADER: &str = "x-plasma-socket";

/// What the Worker established about a socket it hands over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SocketRequest {
    pub group: String,
    pub user: String,
    /// Whether the client offered the `plasma-poke` subprotocol (a browser
    /// that offers subprotocols needs one selected).
    pub offered: bool,
    pub max_total: usize,
    pub max_per_user: usize,
    /// The read scope the socket's user reads under ([`scope_wire`](crate::server::scope_wire)
    /// JSON), if it fits the attachment; `None`: poked on every data change.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Largest scope JSON kept with a socket: attachments hold at most 2,048
/// bytes, and the ids (each at most 256 bytes) ride along.
pub(super) const MAX_ATTACHED_SCOPE: usize = 1_400;

/// A socket's exact ids (its tags are hashes) and its scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attachment {
    group: String,
    user: String,
    #[serde(default)]
    scope: Option<String>,
}

/// A push, as the object receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Notice {
    /// Everyone must pull.
    all: bool,
    /// This group must pull (when not `all`).
    poke_group: Option<String>,
    /// These groups must pull (when not `all`): the ones whose scope the push touched.
    #[serde(default)]
    poke_groups: Vec<String>,
    /// The group that pushed, and its proven owner.
    group: String,
    owner: Option<String>,
}

fn stub(namespace: &ObjectNamespace) -> worker::Result<worker::Stub> {
    namespace.id_from_name(OBJECT_NAME)?.get_stub()
}

/// Hands an upgrade request, already checked, to the object; its answer
/// (the 101 with the socket, or a JSON refusal) goes back to the client.
pub(super) async fn open(namespace: &ObjectNamespace, socket: &SocketRequest) -> worker::Result<Response> {
    let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(socket)?);
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set(SOCKET_HEADER, &encoded)?;
    stub(namespace)?.fetch_with_request(internal_request("/socket", Method::Get, headers, None)?).await
}

/// Tells the object about a push.
pub(super) async fn notify(namespace: &ObjectNamespace, notice: &PushNotice) -> worker::Result<()> {
    let body = Notice {
        all: notice.poke == Some(PokeTarget::All),
        poke_group: match &notice.poke {
            Some(PokeTarget::Group(group)) => Some(group.clone()),
            _ => None,
        },
        poke_groups: match &notice.poke {
            Some(PokeTarget::Groups(groups)) => groups.clone(),
            _ => Vec::new(),
        },
        group: notice.group.clone(),
        owner: notice.owner.clone(),
    };
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let request = internal_request("/notice", Method::Post, headers, Some(serde_json::to_string(&body)?))?;
    stub(namespace)?.fetch_with_request(request).await?;
    Ok(())
}

/// The groups with open sockets and the scopes they read under.
pub(super) async fn connected(namespace: &ObjectNamespace) -> worker::Result<Vec<ConnectedGroup>> {
    let request = internal_request("/connected", Method::Get, Headers::new(), None)?;
    let mut response = stub(namespace)?.fetch_with_request(request).await?;
    response.json().await
}

/// 64-bit FNV-1a, as a tag: sockets are found by tag, then checked by attachment.
fn tag(kind: &str, id: &str) -> String {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{kind}:{hash:016x}")
}

fn attachment(socket: &WebSocket) -> Option<Attachment> {
    socket.deserialize_attachment::<Attachment>().ok().flatten()
}

fn refuse(code: ErrorCode, message: String) -> worker::Result<Response> {
    into_worker(error_response(&ServerError::new(code, message)))
}

/// The poke Durable Object. Bind it as `PLASMA_POKES` (class `PlasmaPokes`,
/// a `new_sqlite_classes` migration) and re-export it from the Worker crate.
#[durable_object]
pub struct PlasmaPokes {
    state: State,
}

impl PlasmaPokes {
    fn accept(&self, request: &Request) -> worker::Result<Response> {
        let Some(encoded) = request.headers().get(SOCKET_HEADER)? else {
            return refuse(ErrorCode::BadRequest, "not a socket handed over by the Worker".to_owned());
        };
        let socket: SocketRequest = URL_SAFE_NO_PAD
            .decode(encoded.as_bytes())
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| worker::Error::RustError("malformed socket request".to_owned()))?;
        let user_tag = tag("u", &socket.user);
        let held = self
            .state
            .get_websockets_with_tag(&user_tag)
            .iter()
            .filter(|s| attachment(s).is_some_and(|a| a.user == socket.user))
            .count();
        if held >= socket.max_per_user {
            return refuse(
                ErrorCode::TooManySockets,
                format!("this user already holds {} poke sockets, the most allowed", socket.max_per_user),
            );
        }
        if self.state.get_websockets().len() >= socket.max_total {
            return refuse(
                ErrorCode::Overloaded,
                format!("the server already holds {} poke sockets, the most allowed", socket.max_total),
            );
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &[&tag("g", &socket.group), &user_tag]);
        let scope = socket.scope.filter(|json| json.len() <= MAX_ATTACHED_SCOPE);
        pair.server.serialize_attachment(Attachment { group: socket.group, user: socket.user, scope })?;
        // A fresh socket may have missed changes since its client's last pull.
        pair.server.send_with_str(poke_text())?;
        let response = Response::from_websocket(pair.client)?;
        if !socket.offered {
            return Ok(response);
        }
        let headers = Headers::new();
        headers.set("sec-websocket-protocol", POKE_SUBPROTOCOL)?;
        Ok(response.with_headers(headers))
    }

    async fn notice(&self, mut request: Request) -> worker::Result<Response> {
        let notice: Notice = request.json().await?;
        if let Some(owner) = &notice.owner {
            for socket in self.state.get_websockets_with_tag(&tag("g", &notice.group)) {
                if attachment(&socket).is_some_and(|a| a.group == notice.group && a.user != *owner) {
                    // The group was claimed by another user: policy violation (1008).
                    let _ = socket.close(Some(1008), Some("client group belongs to another user"));
                }
            }
        }
        let groups: Vec<&String> = notice.poke_group.iter().chain(&notice.poke_groups).collect();
        let targets = if notice.all {
            self.state.get_websockets()
        } else {
            let mut targets = Vec::new();
            for group in groups {
                targets.extend(
                    self.state
                        .get_websockets_with_tag(&tag("g", group))
                        .into_iter()
                        .filter(|s| attachment(s).is_some_and(|a| a.group == *group)),
                );
            }
            targets
        };
        let poke = poke_text();
        for socket in targets {
            // A socket that is closing fails to send; it is gone either way.
            let _ = socket.send_with_str(&poke);
        }
        Response::empty().map(|r| r.with_status(204))
    }
}

impl PlasmaPokes {
    /// Every open socket's group and scope, each pair once.
    fn connected(&self) -> worker::Result<Response> {
        let mut out: Vec<ConnectedGroup> = Vec::new();
        for socket in self.state.get_websockets() {
            if let Some(a) = attachment(&socket) {
                let entry = ConnectedGroup { group: a.group, scope: a.scope };
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        Response::from_json(&out)
    }
}

fn poke_text() -> String {
    serde_json::to_string(&Poke::Poke).unwrap_or_else(|_| "\"poke\"".to_owned())
}

impl DurableObject for PlasmaPokes {
    fn new(state: State, _env: Env) -> Self {
        PlasmaPokes { state }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        match request.path().as_str() {
            "/socket" => self.accept(&request),
            "/connected" => self.connected(),
            "/notice" => self.notice(request).await,
            _ => refuse(ErrorCode::NotFound, "no such poke object endpoint".to_owned()),
        }
    }

    async fn websocket_message(&self, _socket: WebSocket, _message: WebSocketIncomingMessage) -> worker::Result<()> {
        // Clients only ever send control frames; anything else is ignored.
        Ok(())
    }

    async fn websocket_close(
        &self,
        socket: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> worker::Result<()> {
        // Completes the closing handshake the client began.
        let _ = socket.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _socket: WebSocket, _error: worker::Error) -> worker::Result<()> {
        Ok(())
    }
}
