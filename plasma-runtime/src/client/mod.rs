//! The client: optimistic mutations, a durable pending queue, push/pull loops
//! and rebase. `core` is the synchronous state machine; the rest drives it.

pub mod core;
pub mod error;

pub use self::core::{ClientCore, ClientMeta, Outcome, Pending, Rebase};
pub use error::ClientError;
