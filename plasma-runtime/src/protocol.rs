//! Sync protocol v1: the JSON bodies of push, pull and pokes, shared by the
//! server and every client. PROTOCOL.md is the prose version of this file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub mutations: Vec<MutationRecord>,
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
    pub cookie: Option<Cookie>,
}

/// Where a client group is in the server's history. Ordered by `order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cookie {
    /// The change-log position everything up to which is included.
    pub order: i64,
    /// Set while a paged reset is in progress: the last row sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after: Option<RowKey>,
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
}

/// One patch operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum PatchOp {
    /// Drop every row (the start of a reset).
    Clear,
    /// Insert or replace a row.
    Put {
        /// Table name.
        table: String,
        /// The row, keyed by column name (see `plasma::wire`).
        row: serde_json::Map<String, serde_json::Value>,
    },
    /// Delete a row.
    Del {
        /// Table name.
        table: String,
        /// Primary key.
        id: String,
    },
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// The auth hook rejected the request (401).
    Unauthorized,
    /// The client group or client belongs to another user or group (403).
    Forbidden,
    /// No such endpoint (404).
    NotFound,
    /// Wrong HTTP method (405).
    MethodNotAllowed,
    /// The database is busy; retry later (503, retryable).
    Busy,
    /// An unexpected server failure (500, retryable).
    Internal,
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
            ErrorCode::SchemaVersionMismatch | ErrorCode::OutOfOrderMutation => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal => 500,
            ErrorCode::Busy => 503,
        }
    }

    /// Whether a client should retry the request unchanged later.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorCode::Busy | ErrorCode::Internal | ErrorCode::OutOfOrderMutation)
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
