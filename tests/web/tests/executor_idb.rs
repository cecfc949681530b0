//! What only IndexedDB has: reopening, additive upgrades by version change,
//! refused destructive upgrades, and the auto-commit rule.

#![cfg(target_arch = "wasm32")]

use plasma::exec::indexeddb::IndexedDbExecutor;
use plasma::sql::migrate::SchemaChange;
use plasma::{ExecError, Executor, SchemaError};
use plasma_conformance::executor::{all, in_tx, seed};
use plasma_conformance::fixtures::{SCHEMA, kitchen};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn unique(test: &str) -> String {
    format!("plasma-idb-{test}-{}", js_sys::Date::now())
}

/// The first version of a table.
#[plasma::table(name = "gadget")]
#[derive(Debug, Clone, PartialEq)]
struct GadgetV1 {
    #[plasma(id)]
    id: String,
    label: String,
    size: i64,
}

/// The same table, upgraded additively: an index on `size` and a new column.
#[plasma::table(name = "gadget")]
#[derive(Debug, Clone, PartialEq)]
struct GadgetV2 {
    #[plasma(id)]
    id: String,
    label: String,
    #[plasma(index)]
    size: i64,
    #[plasma(default = 7, index)]
    stock: i64,
}

/// A destructive change: `size` changes kind.
#[plasma::table(name = "gadget")]
#[derive(Debug, Clone, PartialEq)]
struct GadgetBadKind {
    #[plasma(id)]
    id: String,
    label: String,
    size: String,
    #[plasma(default = 7, index)]
    stock: i64,
}

static V1: plasma::Schema = plasma::schema![GadgetV1];
static V2: plasma::Schema = plasma::schema![GadgetV2, plasma_conformance::fixtures::Shelf];
static DROPS_COLUMN: plasma::Schema = plasma::schema![GadgetV1, plasma_conformance::fixtures::Shelf];
static BAD_KIND: plasma::Schema = plasma::schema![GadgetBadKind, plasma_conformance::fixtures::Shelf];

fn gadget(n: i64) -> GadgetV1 {
    GadgetV1 { id: format!("g{n}"), label: format!("gadget {n}"), size: n % 3 }
}

#[wasm_bindgen_test]
async fn reopen_keeps_data_and_changes_nothing() {
    let name = unique("reopen");
    let db = IndexedDbExecutor::open(&name, &SCHEMA).await.expect("open");
    assert_eq!(
        db.changes(),
        &[SchemaChange::CreateTable { table: "kitchen".into() }, SchemaChange::CreateTable { table: "shelf".into() }]
    );
    seed(&db, 3).await;
    drop(db);
    let db = IndexedDbExecutor::open(&name, &SCHEMA).await.expect("reopen");
    assert!(db.changes().is_empty(), "{:?}", db.changes());
    assert_eq!(all(&db).await, (0..3).map(kitchen).collect::<Vec<_>>());
}

#[wasm_bindgen_test]
async fn additive_upgrade_adds_table_index_and_column_and_reindexes_old_rows() {
    let name = unique("additive");
    let db = IndexedDbExecutor::open(&name, &V1).await.expect("open v1");
    in_tx(&db, async |tx| {
        for n in 0..6 {
            GadgetV1::insert().row(&gadget(n)).run(tx).await?;
        }
        Ok(())
    })
    .await
    .expect("seed v1");
    drop(db);

    let db = IndexedDbExecutor::open(&name, &V2).await.expect("open v2");
    let mut changes = db.changes().to_vec();
    changes.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        changes,
        vec![
            SchemaChange::AddColumn { table: "gadget".into(), column: "stock".into() },
            SchemaChange::CreateIndex { table: "gadget".into(), column: "size".into() },
            SchemaChange::CreateTable { table: "shelf".into() },
        ]
    );
    // Old rows: the new column reads as its default, and both new indexes
    // (served by index ranges) see them.
    let by_size =
        in_tx(&db, async |tx| GadgetV2::select().filter(GadgetV2::SIZE.eq(1)).fetch(tx).await).await.expect("by size");
    assert_eq!(by_size.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["g1", "g4"]);
    assert!(by_size.iter().all(|g| g.stock == 7));
    let stocked = in_tx(&db, async |tx| GadgetV2::select().filter(GadgetV2::STOCK.eq(7)).fetch(tx).await)
        .await
        .expect("by stock");
    assert_eq!(stocked.len(), 6);
    let top = in_tx(&db, async |tx| GadgetV2::select().order_by(GadgetV2::SIZE.desc()).limit(2).fetch(tx).await)
        .await
        .expect("ordered walk");
    assert_eq!(top.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["g2", "g5"]);
    drop(db);
    let db = IndexedDbExecutor::open(&name, &V2).await.expect("reopen v2");
    assert!(db.changes().is_empty(), "{:?}", db.changes());
}

#[wasm_bindgen_test]
async fn destructive_upgrades_are_refused_and_leave_data_intact() {
    let name = unique("destructive");
    let db = IndexedDbExecutor::open(&name, &V2).await.expect("open v2");
    in_tx(&db, async |tx| {
        GadgetV2::insert().row(&GadgetV2 { id: "g1".into(), label: "one".into(), size: 1, stock: 3 }).run(tx).await
    })
    .await
    .expect("seed");
    drop(db);

    let err = IndexedDbExecutor::open(&name, &DROPS_COLUMN).await.expect_err("dropping a column is refused");
    assert!(
        matches!(&err, ExecError::Schema(SchemaError::DroppedColumn { table, column }) if table == "gadget" && column == "stock"),
        "{err:?}"
    );
    let err = IndexedDbExecutor::open(&name, &BAD_KIND).await.expect_err("changing a kind is refused");
    assert!(matches!(&err, ExecError::Schema(SchemaError::ChangedType { column, .. }) if column == "size"), "{err:?}");
    let db = IndexedDbExecutor::open(&name, &V2).await.expect("the old schema still opens");
    assert!(db.changes().is_empty(), "{:?}", db.changes());
    let rows =
        in_tx(&db, async |tx| GadgetV2::select().filter(GadgetV2::SIZE.eq(1)).fetch(tx).await).await.expect("select");
    assert_eq!(rows, vec![GadgetV2 { id: "g1".into(), label: "one".into(), size: 1, stock: 3 }]);
}

#[wasm_bindgen_test]
async fn awaiting_a_timer_inside_a_transaction_ends_it() {
    // The documented rule: IndexedDB commits a transaction once the event loop
    // idles with no request pending, so later operations fail (typed).
    let db = IndexedDbExecutor::open(&unique("inactive"), &SCHEMA).await.expect("open");
    let mut tx = db.begin().await.expect("begin");
    plasma_conformance::fixtures::Kitchen::insert().row(&kitchen(1)).run(&mut tx).await.expect("insert");
    sleep(20).await;
    let err = plasma_conformance::fixtures::Kitchen::select().fetch(&mut tx).await.expect_err("inactive");
    assert!(matches!(err, ExecError::Storage { .. }), "{err:?}");
    drop(tx);
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global: web_sys_free::Global = wasm_bindgen::JsCast::unchecked_into(js_sys::global());
        global.set_timeout(&resolve, ms);
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.expect("timer");
}

mod web_sys_free {
    //! `setTimeout` on whatever the global object is (window or worker).
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// The global object.
        pub type Global;
        /// `setTimeout(callback, ms)`.
        #[wasm_bindgen(method, js_name = setTimeout)]
        pub fn set_timeout(this: &Global, callback: &js_sys::Function, ms: i32) -> JsValue;
    }
}
