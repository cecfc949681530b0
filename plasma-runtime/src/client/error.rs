//! Client errors.

use crate::client::store::StoreError;
use crate::error::{DecodeError, ExecError};
use crate::mutator::MutatorError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The mutator refused when run locally; nothing was queued.
    #[error(transparent)]
    Mutator(#[from] MutatorError),
    /// The mutation is too large for the server: even alone, its push body
    /// exceeds the server's limit. Nothing was queued or changed.
    #[error("the mutation is too large for the server: a push carrying it is {bytes} bytes, the limit is {limit}")]
    MutationTooLarge {
        /// Size of the smallest push that could carry it.
        bytes: usize,
        /// The server's body limit as the client knows it.
        limit: usize,
    },
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
    /// The durable store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The builder was not given a context provider.
    #[error("the client needs a context provider: call `.context(...)` on the builder")]
    MissingContext,
    /// A panic inside a mutator poisoned the client's state lock.
    #[error("the client's state was poisoned by a panic")]
    Poisoned,
    /// The client this handle belongs to was dropped.
    #[error("the client was dropped")]
    Closed,
    /// The platform cannot run the client (for example no async runtime).
    #[error("platform: {0}")]
    Platform(String),
}
