//! Live queries by incremental view maintenance.
//!
//! A live query is a [`SelectQuery`](crate::query::tree::SelectQuery) whose
//! result is kept current as the client's state changes, without re-running
//! it: each table being watched has one source of ordered indexes (one per
//! distinct total order, shared by every query using it), each query keeps a
//! window over its index (see [`window`] for the algorithm), and every
//! transaction — a local mutation, a rebase, a pull — yields at most one
//! [`Diff`] per query, computed from the net row changes the client's
//! [`MemoryExecutor`](crate::MemoryExecutor) captured.
//!
//! [`LiveQueries`] is the engine; the client's typed handle is
//! [`LiveQuery`](crate::client::LiveQuery).

mod diff;
mod key;
mod registry;
pub mod window;

pub use diff::{Diff, LiveChange, RowDiff};
pub use key::SortKey;
pub use registry::{LiveId, LiveQueries};
