//! The executor conformance scenarios (`plasma_conformance::executor`) on the
//! SQLite executor, the in-memory executor, and overlay transactions
//! (`plasma::exec::overlay`) over each of them (SQLite as a file), committed
//! by writing their net changes to the base: app code written against
//! `plasma::Transaction` behaves identically on all of them. The same scenarios run
//! on IndexedDB in `tests/web/tests/executor.rs`.

use plasma::exec::run_ready;
use plasma_conformance::executor::{all, seed};
use plasma_tests::kitchen;

macro_rules! on_every_executor {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $scenario() {
                plasma::exec::run_ready(plasma_conformance::executor::$scenario(&plasma_tests::sqlite()))
                    .expect("SQLite never waits");
            })*
        }
        mod memory {
            $(#[test] fn $scenario() {
                plasma::exec::run_ready(plasma_conformance::executor::$scenario(&plasma_tests::memory()))
                    .expect("memory never waits");
            })*
        }
        mod overlay_on_memory {
            $(#[test] fn $scenario() {
                let db = plasma_tests::overlay::OverlayExecutor(plasma_tests::memory());
                plasma::exec::run_ready(plasma_conformance::executor::$scenario(&db))
                    .expect("an overlay on memory never waits");
            })*
        }
        mod overlay_on_sqlite_file {
            $(#[test] fn $scenario() {
                let (_dir, db) = plasma_tests::sqlite_file();
                let db = plasma_tests::overlay::OverlayExecutor(db);
                plasma::exec::run_ready(plasma_conformance::executor::$scenario(&db))
                    .expect("an overlay on SQLite never waits");
            })*
        }
    };
}

plasma_conformance::executor_scenarios!(on_every_executor);

#[test]
fn sqlite_file_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kitchen.db");
    {
        let db = plasma::SqliteExecutor::open(&path).expect("open");
        db.ensure_schema(&plasma_tests::SCHEMA).expect("schema");
        run_ready(seed(&db, 3)).expect("ready");
    }
    let db = plasma::SqliteExecutor::open(&path).expect("reopen");
    assert!(db.ensure_schema(&plasma_tests::SCHEMA).expect("schema again").is_empty());
    assert_eq!(run_ready(all(&db)).expect("ready"), (0..3).map(kitchen).collect::<Vec<_>>());
}
