//! Client errors.

use crate::error::{DecodeError, ExecError};
use crate::mutator::MutatorError;
use crate::protocol::ErrorBody;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The mutator refused when run locally; nothing was queued.
    #[error(transparent)]
    Mutator(#[from] MutatorError),
    /// The local store failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A row from the server does not decode with this schema.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Arguments could not be encoded.
    #[error("cannot encode mutation arguments: {0}")]
    Encode(#[from] serde_json::Error),
    /// A pending mutation failed while being replayed (internal; it stays pending).
    #[error("replay failed: {0}")]
    Replay(String),
    /// The server refused a request (see the body's code).
    #[error("server refused the request: {0:?}")]
    Server(ErrorBody),
    /// The request did not reach the server or the answer was unreadable.
    #[error("network: {0}")]
    Network(String),
    /// The durable store failed.
    #[error("local store: {0}")]
    Store(String),
    /// The client was stopped, or its sync loop gave up.
    #[error("the client is not syncing: {0}")]
    Stopped(String),
}
