//! The client: optimistic mutations, a durable pending queue, push/pull loops
//! and rebase.
//!
//! - [`core`]: the synchronous state machine (no I/O, no clock), driven by the
//!   async [`Client`] and directly by the deterministic simulation.
//! - [`Client`] ([`sync`]) and its background tasks ([`sync_loop`]).
//! - [`store`]: durable state ([`MemoryStore`], and [`SqliteStore`] natively).
//! - [`platform`]: the pluggable [`Transport`] and [`Platform`] (timers, tasks,
//!   clock, randomness); [`native`] implements them with reqwest and tokio.

pub mod backoff;
mod bounded;
pub mod core;
pub mod error;
pub mod events;
pub mod handle;
pub mod id;
pub mod live;
#[cfg(feature = "native-client")]
pub mod native;
pub mod platform;
mod pull_stream;
#[cfg(feature = "sqlite")]
pub mod sqlite_store;
pub mod store;
pub mod sync;
mod sync_loop;

pub use self::core::{Change, ClientCore, ClientMeta, DecodedPage, Outcome, PageChanges, Pending, Rebase};
pub use backoff::BackoffConfig;
pub use error::ClientError;
pub use events::{ClientEvent, EVENT_BUFFER, SyncStatus};
pub use handle::{MutationFailed, MutationHandle};
pub use live::{LIVE_DIFF_BUFFER, LiveCallback, LiveQuery};
pub use platform::{BoxFuture, BoxStream, MaybeSend, Platform, Transport, TransportError};
#[cfg(feature = "sqlite")]
pub use sqlite_store::SqliteStore;
pub use store::{MemoryStore, Persisted, PullCommit, Store, StoreError};
pub use sync::{Client, ClientBuilder, ClientConfig};
