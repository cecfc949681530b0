//! Differential test: random rows, random queries; SQLite and the in-memory
//! evaluator must return exactly the same rows in the same order, and random
//! writes must leave both stores identical. The generators live in
//! `plasma_conformance::fuzz`; the browser suite runs them against IndexedDB.
//!
//! Covers NULLs (three-valued logic), integer vs real comparison, BINARY text
//! order with non-ASCII text, LIKE case folding, IN lists with NULL, and ties
//! broken by the primary key.

use plasma::exec::run_ready;
use plasma::{MemoryExecutor, SqliteExecutor};
use plasma_conformance::fuzz::{self, SCHEMA, rows, select, write};
use proptest::prelude::*;

fn stores() -> (SqliteExecutor, MemoryExecutor) {
    let sqlite = SqliteExecutor::open_in_memory().expect("sqlite");
    sqlite.ensure_schema(&SCHEMA).expect("schema");
    (sqlite, MemoryExecutor::new(&SCHEMA))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn selects_agree(rows in rows(), queries in proptest::collection::vec(select(), 1..8)) {
        let (sqlite, memory) = stores();
        let agreed = run_ready(fuzz::selects_agree(&sqlite, &memory, &rows, &queries)).expect("never waits");
        prop_assert!(agreed.is_ok(), "{}", agreed.unwrap_err());
    }

    #[test]
    fn writes_agree(rows in rows(), writes in proptest::collection::vec(write(), 1..6)) {
        let (sqlite, memory) = stores();
        let agreed = run_ready(fuzz::writes_agree(&sqlite, &memory, &rows, &writes)).expect("never waits");
        prop_assert!(agreed.is_ok(), "{}", agreed.unwrap_err());
    }
}
