//! The client: optimistic mutations, a durable pending queue, push/pull loops
//! and rebase.
//!
//! - [`core`]: the synchronous state machine (no I/O, no clock), driven by the
//!   async [`Client`] and directly by the deterministic simulation.
//! - [`Client`] ([`sync`]) and its background tasks ([`sync_loop`]).
//! - [`store`]: durable state, every backend side by side ([`MemoryStore`],
//!   and [`SqliteStore`] natively).
//! - [`platform`]: the pluggable [`Transport`] and [`Platform`] (timers, tasks,
//!   clock, randomness), every implementation side by side
//!   ([`platform::native`]: reqwest and tokio).
//! - [`foreign`] and [`tabs`]: other tabs' mutations shown before the server
//!   confirms them, and the [`TabChannel`] that carries them.
//! - `shared`: what the client and its background tasks share; both depend
//!   on it, not on each other.

pub mod backoff;
mod bounded;
pub mod core;
pub mod error;
pub mod events;
pub mod foreign;
pub mod handle;
pub mod id;
pub mod live;
pub mod platform;
mod pull_stream;
mod shared;
pub mod store;
pub mod sync;
mod sync_loop;
pub mod tabs;

pub use self::core::{ClientCore, DecodedPage, Pending, Rebase};
pub use backoff::BackoffConfig;
pub use error::ClientError;
pub use events::{ClientEvent, EVENT_BUFFER, SyncStatus};
pub use handle::{MutationFailed, MutationHandle};
pub use live::{LIVE_DIFF_BUFFER, LiveCallback, LiveQuery};
pub use platform::{BoxFuture, BoxStream, MaybeSend, Platform, Transport, TransportError};
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{Change, ClientMeta, MemoryStore, PageChanges, Persisted, PullCommit, Store, StoreError};
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub use store::{IdbError, IndexedDbStore};
pub use sync::{Client, ClientBuilder, ClientConfig};
pub use tabs::{LocalTabChannel, LocalTabs, TabChannel, TabMessage};
