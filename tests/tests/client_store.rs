//! The client's durable stores, memory and SQLite, pass the shared store and
//! live-query conformance scenarios (`plasma-conformance`; the same ones run
//! on IndexedDB in Chromium), plus what only SQLite has: engine errors.

use plasma::client::{MemoryStore, SqliteStore, Store, StoreError};
use plasma::exec::run_ready;
use plasma_conformance::{live, store};
use todo::SCHEMA;

/// Reopens one shared in-memory store.
struct Memory(MemoryStore);

impl store::StoreFactory for Memory {
    type Store = MemoryStore;
    async fn open(&self) -> MemoryStore {
        self.0.clone()
    }
}

/// Reopens one SQLite file.
struct Sqlite(tempfile::TempDir);

impl store::StoreFactory for Sqlite {
    type Store = SqliteStore;
    async fn open(&self) -> SqliteStore {
        SqliteStore::open(self.0.path().join("client.db")).expect("open")
    }
}

fn memory() -> Memory {
    Memory(MemoryStore::new())
}

fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().expect("tempdir"))
}

/// Memory and SQLite futures never wait.
fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    run_ready(future).expect("a memory or SQLite store never waits")
}

macro_rules! both {
    ($($name:ident => $scenario:path;)*) => {
        mod on_memory {
            use super::*;
            $(#[test] fn $name() { ready($scenario(&memory())); })*
        }
        mod on_sqlite {
            use super::*;
            $(#[test] fn $name() { ready($scenario(&sqlite())); })*
        }
    };
}

both! {
    reopen_keeps_pending_and_snapshot => store::reopen_keeps_pending_and_snapshot;
    a_burst_of_large_mutations_survives_partial_confirmation => store::a_burst_of_large_mutations_survives_partial_confirmation;
    reset_replaces_snapshot_and_identity => store::reset_replaces_snapshot_and_identity;
    incompatible_version_keeps_unpushed => store::incompatible_version_keeps_unpushed;
    live_rebase_notifies_only_the_net_difference => live::a_rebase_notifies_only_the_net_difference;
    live_reset_in_bulk_notifies_exactly_what_changed => live::a_reset_built_in_bulk_notifies_exactly_what_changed;
}

#[test]
fn sqlite_stages_a_reset_beside_the_snapshot_and_swaps_it_in() {
    assert!(ready(store::staged_reset_swaps_in(&sqlite())), "the SQLite store stages");
}

#[test]
fn the_memory_store_does_not_stage() {
    assert!(!ready(store::staged_reset_swaps_in(&memory())), "pulls are written whole at commit");
    assert!(!MemoryStore::new().begin_stage(&SCHEMA).expect("begin"));
}

#[test]
fn a_store_io_failure_keeps_the_engine_error_as_its_source() {
    use std::error::Error as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gone").join("client.db"); // the directory does not exist
    let err = SqliteStore::open(&path).expect_err("cannot open a file in a missing directory");
    let StoreError::Io { message, .. } = &err else { panic!("expected an I/O error, got {err:?}") };
    let source = err.source().expect("the SQLite error is kept as the source");
    assert_eq!(source.to_string(), *message, "the source is the engine's error itself");
    assert!(err.to_string().starts_with("local store I/O: "), "{err}");
}
