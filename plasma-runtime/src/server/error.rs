//! Server errors and their wire form.

use crate::error::{EncodeError, ExecError};
use crate::protocol::{ErrorBody, ErrorCode};

/// Why the server refused or failed a request. Each maps to one [`ErrorCode`]
/// and HTTP status; see PROTOCOL.md.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ServerError {
    /// Machine-readable code (decides the HTTP status).
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl ServerError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerError { code, message: message.into() }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code, message: self.message.clone(), retryable: self.code.retryable() }
    }
}

impl From<ExecError> for ServerError {
    fn from(e: ExecError) -> Self {
        if e.is_transient() {
            ServerError::new(ErrorCode::Busy, e.to_string())
        } else {
            tracing::error!(error = %e, "storage failure");
            ServerError::new(ErrorCode::Internal, "internal storage error")
        }
    }
}

impl From<EncodeError> for ServerError {
    fn from(e: EncodeError) -> Self {
        tracing::error!(error = %e, "a stored row did not encode");
        ServerError::new(ErrorCode::Internal, "internal error: a stored row did not encode")
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        crate::exec::sqlite::map_err(e).into()
    }
}
