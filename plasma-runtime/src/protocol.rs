//! Sync protocol v1: the JSON bodies of push, pull and pokes, shared by the
//! server and every client. PROTOCOL.md is the prose version of this file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// `POST {base}/push`: mutations of one client group, in order per client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushRequest {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The app's schema version; must equal the server's.
    pub schema_version: String,
    /// The client group all mutations belong to.
    pub client_group_id: String,
    /// Mutations, each client's in increasing `id` order.
    #[serde(deserialize_with = "crate::strict::vec_of_objects")]
    pub mutations: Vec<MutationRecord>,
    /// Per client of the group, the highest mutation id whose outcome the
    /// client has durably applied from a pull: the server may forget the
    /// errors it recorded for those mutations. Optional; absent means none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied_through: BTreeMap<String, u64>,
}

/// One mutation as queued by a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MutationRecord {
    /// The client that ran it.
    pub client_id: String,
    /// Per-client sequential id, starting at 1.
    pub id: u64,
    /// Mutator name.
    pub name: String,
    /// Mutator arguments, kept as raw JSON text until the mutator decodes
    /// them into its own type (no intermediate tree).
    pub args: Box<serde_json::value::RawValue>,
    /// When the client ran it, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Set when the client gave up on sending this mutation (its `args` are
    /// then `null`): the server consumes its id and records an error for it
    /// without running the mutator. Absent on ordinary mutations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<Abandoned>,
}

impl MutationRecord {
    /// A typed call of mutator `M`, as a client queues it: arguments of the
    /// wrong type do not compile.
    pub fn new<M: crate::Mutator>(
        client_id: impl Into<String>,
        id: u64,
        args: &M::Args,
        timestamp: i64,
    ) -> Result<Self, serde_json::Error> {
        Ok(MutationRecord {
            client_id: client_id.into(),
            id,
            name: M::NAME.to_owned(),
            args: serde_json::value::to_raw_value(args)?,
            timestamp,
            abandoned: None,
        })
    }
}

/// Answer to a successful push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    /// The last mutation id now processed, per client of the push.
    pub last_mutation_ids: BTreeMap<String, u64>,
}

/// `POST {base}/pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequest {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The app's schema version; must equal the server's.
    pub schema_version: String,
    /// The pulling client group.
    pub client_group_id: String,
    /// The cookie of the last pull applied, or `null` for a first pull.
    /// Required: a pull without the key is refused.
    #[serde(deserialize_with = "crate::strict::option_object")]
    pub cookie: Option<Cookie>,
}

/// Where a client group is in the server's history. Ordered by `order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cookie {
    /// The change-log position everything up to which is included.
    pub order: i64,
    /// Set while a paged reset is in progress: the last row sent.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::strict::option_object")]
    pub reset_after: Option<RowKey>,
    /// The identity of the database that issued it: a cookie of another
    /// database (the server's was replaced) gets a reset, whatever its order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl Cookie {
    /// A cookie at `order` with no reset in progress and no database identity
    /// (a server answers it with a reset; for tests and stores).
    pub fn at(order: i64) -> Self {
        Cookie { order, reset_after: None, database: None }
    }
}

/// A row's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RowKey {
    /// Table name.
    pub table: String,
    /// Primary key.
    pub id: String,
}

/// Answer to a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// The cookie to send with the next pull.
    pub cookie: Cookie,
    /// New last mutation ids of this group's clients.
    pub last_mutation_id_changes: BTreeMap<String, u64>,
    /// Row changes, to apply in order.
    pub patch: Vec<PatchOp>,
    /// Mutations of this group's clients the server processed with an error.
    pub mutation_errors: Vec<MutationError>,
    /// More pages follow: pull again with `cookie` before revealing the result.
    pub more: bool,
    /// The server's request limits. Always sent by this server; optional on
    /// decode (a client keeps what it knew when a server omits them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ServerLimits>,
}

/// One patch operation. On the wire: `{"op":"clear"}`,
/// `{"op":"put","table":..,"row":{..}}`, `{"op":"del","table":..,"id":..}`.
///
/// Rows stay raw JSON text until the client decodes them straight into its
/// row type with the schema (`plasma::wire::row_from_json_text`): a large pull
/// never builds a JSON tree per row. Hand-written serde because internally
/// tagged enums cannot hold raw JSON.
#[derive(Debug, Clone)]
pub enum PatchOp {
    /// Drop every row (the start of a reset).
    Clear,
    /// Insert or replace a row.
    Put {
        /// Table name.
        table: String,
        /// The row: a JSON object keyed by column name (see `plasma::wire`).
        row: Box<RawValue>,
    },
    /// Delete a row.
    Del {
        /// Table name.
        table: String,
        /// Primary key.
        id: String,
    },
}

impl PartialEq for PatchOp {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PatchOp::Clear, PatchOp::Clear) => true,
            (PatchOp::Put { table: t1, row: r1 }, PatchOp::Put { table: t2, row: r2 }) => {
                t1 == t2 && r1.get() == r2.get()
            }
            (PatchOp::Del { table: t1, id: i1 }, PatchOp::Del { table: t2, id: i2 }) => t1 == t2 && i1 == i2,
            _ => false,
        }
    }
}

impl Serialize for PatchOp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            PatchOp::Clear => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("op", "clear")?;
                map.end()
            }
            PatchOp::Put { table, row } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("op", "put")?;
                map.serialize_entry("table", table)?;
                map.serialize_entry("row", row)?;
                map.end()
            }
            PatchOp::Del { table, id } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("op", "del")?;
                map.serialize_entry("table", table)?;
                map.serialize_entry("id", id)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PatchOp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Op,
            Table,
            Row,
            Id,
            #[serde(other)]
            Other,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Clear,
            Put,
            Del,
        }
        struct OpVisitor;
        impl<'de> serde::de::Visitor<'de> for OpVisitor {
            type Value = PatchOp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a patch operation object with an `op` field")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PatchOp, A::Error> {
                use serde::de::Error;
                let (mut op, mut table, mut row, mut id) = (None::<Kind>, None::<String>, None, None::<String>);
                while let Some(key) = map.next_key::<Field>()? {
                    match key {
                        Field::Op => op = Some(map.next_value()?),
                        Field::Table => table = Some(map.next_value()?),
                        Field::Row => row = Some(map.next_value::<Box<RawValue>>()?),
                        Field::Id => id = Some(map.next_value()?),
                        // Fields of a newer protocol revision are ignored.
                        Field::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                match op {
                    Some(Kind::Clear) => Ok(PatchOp::Clear),
                    Some(Kind::Put) => Ok(PatchOp::Put {
                        table: table.ok_or_else(|| A::Error::missing_field("table"))?,
                        row: row.ok_or_else(|| A::Error::missing_field("row"))?,
                    }),
                    Some(Kind::Del) => Ok(PatchOp::Del {
                        table: table.ok_or_else(|| A::Error::missing_field("table"))?,
                        id: id.ok_or_else(|| A::Error::missing_field("id"))?,
                    }),
                    None => Err(A::Error::missing_field("op")),
                }
            }
        }
        deserializer.deserialize_map(OpVisitor)
    }
}

/// A mutation the server processed with an error: its writes were discarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationError {
    /// The client that sent it.
    pub client_id: String,
    /// Its id.
    pub mutation_id: u64,
    /// The mutator's error message.
    pub message: String,
}

/// A WebSocket message from server to client: "pull now". Contentless on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Poke {
    /// Something this client group can see changed.
    Poke,
}

/// Every error body: `{"error": "<code>", "message": "...", "retryable": false}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable detail.
    pub message: String,
    /// Whether the same request may succeed later.
    pub retryable: bool,
}

/// Machine-readable error codes.
///
/// A code this build does not know (sent by a newer server) decodes as
/// [`ErrorCode::Unknown`]; the client then follows the body's `retryable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not valid JSON for this endpoint (400).
    InvalidRequest,
    /// A field is out of range or inconsistent (400).
    BadRequest,
    /// The body exceeds the server's limit (413).
    PayloadTooLarge,
    /// The protocol version is not supported (400). Stop syncing: update needed.
    UnsupportedProtocolVersion,
    /// The schema version differs from the server's (409). Stop syncing: update needed.
    SchemaVersionMismatch,
    /// No mutator of that name (400). Nothing was applied.
    UnknownMutator,
    /// A mutation id skips ahead of the last processed id + 1 (409). Retry from the queue.
    OutOfOrderMutation,
    /// The client was forgotten by the server (409): its mutations may have
    /// been applied or not. Start over under a new client id; do not resend.
    ClientForgotten,
    /// The auth hook rejected the request (401).
    Unauthorized,
    /// The client group or client belongs to another user or group (403).
    Forbidden,
    /// No such endpoint (404).
    NotFound,
    /// Wrong HTTP method (405).
    MethodNotAllowed,
    /// The request body did not arrive within the server's body read timeout (408, retryable).
    RequestTimeout,
    /// The request headers exceed the server's limit (431).
    HeadersTooLarge,
    /// This user already holds as many poke sockets as the server allows (429, retryable).
    TooManySockets,
    /// The server holds as many poke sockets as it allows in total (503, retryable).
    Overloaded,
    /// The database is busy; retry later (503, retryable).
    Busy,
    /// An unexpected server failure (500, retryable).
    Internal,
    /// A code this build does not know, from a newer server. Never sent by
    /// this server. Whether to retry is the body's `retryable`, not
    /// [`ErrorCode::retryable`] (which is `false` for it).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status that carries this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::BadRequest
            | ErrorCode::UnsupportedProtocolVersion
            | ErrorCode::UnknownMutator => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::TooManySockets => 429,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::SchemaVersionMismatch | ErrorCode::OutOfOrderMutation | ErrorCode::ClientForgotten => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::Busy | ErrorCode::Overloaded => 503,
        }
    }

    /// Whether a client should retry the request unchanged later. `false`
    /// for [`ErrorCode::Unknown`], whose body's `retryable` decides instead.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Busy
                | ErrorCode::Internal
                | ErrorCode::OutOfOrderMutation
                | ErrorCode::RequestTimeout
                | ErrorCode::TooManySockets
                | ErrorCode::Overloaded
        )
    }
}

/// Reads just the protocol version of a body, so a future protocol's request
/// still gets a clear `unsupported_protocol_version` rather than a parse error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionProbe {
    /// The version the client speaks, if it sent one.
    pub protocol_version: Option<serde_json::Value>,
}

/// Default of [`ServerLimits::max_body_bytes`], equal to the server's default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

/// Default of [`ServerLimits::max_mutations_per_push`], equal to the server's default.
pub const DEFAULT_MAX_MUTATIONS_PER_PUSH: usize = 5_000;

/// The request limits a server enforces, advertised in every pull response
/// so a client can size its pushes under them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerLimits {
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most mutations in one push (413 above it).
    pub max_mutations_per_push: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits { max_body_bytes: DEFAULT_MAX_BODY_BYTES, max_mutations_per_push: DEFAULT_MAX_MUTATIONS_PER_PUSH }
    }
}

/// Why a client gave up on sending a mutation, and the sizes that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Abandoned {
    /// The reason.
    pub reason: AbandonReason,
    /// Size in bytes of the smallest push that carried the mutation.
    pub bytes: u64,
    /// The body limit it exceeded, as the client last learned it.
    pub limit: u64,
}

impl Abandoned {
    /// The error the server records for the abandoned mutation.
    pub fn message(&self) -> String {
        match self.reason {
            AbandonReason::PayloadTooLarge if self.bytes > self.limit => format!(
                "dropped by the client: too large for the server ({} bytes > {} byte limit)",
                self.bytes, self.limit
            ),
            AbandonReason::PayloadTooLarge => {
                format!("dropped by the client: too large for the server ({} bytes were refused)", self.bytes)
            }
        }
    }
}

/// Why a client abandoned a mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbandonReason {
    /// Even alone in a push, it exceeded the server's body limit (413).
    PayloadTooLarge,
}

/// The WebSocket subprotocol of the poke socket. A client that offers
/// subprotocols (the browser transport does) offers this one, and the server
/// selects it.
pub const POKE_SUBPROTOCOL: &str = "plasma-poke";

/// Prefix of the subprotocols that carry request headers on the poke socket:
/// a browser's `WebSocket` cannot set headers, so the browser transport
/// offers each header as `plasma-header.<name>.<value in unpadded base64url>`
/// and the server reads them as headers (never replacing a real one) before
/// its auth hook runs. See PROTOCOL.md, "Pokes from a browser".
pub const HEADER_SUBPROTOCOL_PREFIX: &str = "plasma-header.";

/// The subprotocol carrying header `name: value` (`name` lowercased).
pub fn header_subprotocol(name: &str, value: &str) -> String {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.as_bytes());
    format!("{HEADER_SUBPROTOCOL_PREFIX}{}.{value}", name.to_ascii_lowercase())
}

/// The header a subprotocol from [`header_subprotocol`] carries, or `None`
/// for any other subprotocol or a malformed one.
pub fn parse_header_subprotocol(protocol: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    let rest = protocol.trim().strip_prefix(HEADER_SUBPROTOCOL_PREFIX)?;
    let (name, value) = rest.rsplit_once('.')?;
    if name.is_empty() {
        return None;
    }
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).ok()?;
    Some((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_from_a_newer_server_decodes_as_unknown() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"new_code","message":"x","retryable":true}"#).expect("decodes");
        assert_eq!(body.error, ErrorCode::Unknown);
        assert_eq!(body.message, "x");
        assert!(body.retryable, "the body's own verdict survives");
        assert!(!ErrorCode::Unknown.retryable(), "the code alone promises nothing");
        let known: ErrorBody =
            serde_json::from_str(r#"{"error":"busy","message":"x","retryable":true}"#).expect("decodes");
        assert_eq!(known.error, ErrorCode::Busy);
    }

    #[test]
    fn a_header_survives_the_trip_through_a_subprotocol() {
        let protocol = header_subprotocol("X-User", "ålice:1 /+");
        assert!(protocol.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "a token: {protocol}");
        assert_eq!(parse_header_subprotocol(&protocol), Some(("x-user".to_owned(), "ålice:1 /+".as_bytes().to_vec())));
        assert_eq!(parse_header_subprotocol(POKE_SUBPROTOCOL), None);
        assert_eq!(parse_header_subprotocol("plasma-header.x-user.***"), None);
    }
}
