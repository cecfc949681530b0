//! How a client group's database is laid out. Three object stores, the same
//! for every app schema (so the database never needs an upgrade when the
//! app's tables change):
//!
//! - `meta`: `"group"` and `"version"` (who wrote the database),
//!   `"snapshot"` (a [`SnapshotMeta`]: which slot holds the server snapshot,
//!   its cookie, the last mutation ids it reflects), and `"client:<id>"`
//!   (each client's [`ClientMeta`]).
//! - `pending`: key `[client id, mutation id]`, value the record's JSON.
//! - `rows`: key `[slot, table, row id]`, value `[table, row JSON]`. The
//!   snapshot is one slot; a reset is staged in another and swapped in by
//!   rewriting `snapshot.slot`.

use std::collections::BTreeMap;

use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::IdbKeyRange;

use crate::client::store::ClientMeta;
use crate::protocol::Cookie;

/// The object stores, all written by one kind of transaction.
pub(super) const META: &str = "meta";
/// Pending mutations.
pub(super) const PENDING: &str = "pending";
/// Snapshot and staged rows.
pub(super) const ROWS: &str = "rows";
/// Every object store (write transactions span all of them).
pub(super) const ALL: [&str; 3] = [META, PENDING, ROWS];
/// The database version: the layout above.
pub(super) const DB_VERSION: u32 = 1;

/// Meta key of the client group.
pub(super) const GROUP: &str = "group";
/// Meta key of the schema version.
pub(super) const VERSION: &str = "version";
/// Meta key of the [`SnapshotMeta`].
pub(super) const SNAPSHOT: &str = "snapshot";
/// Prefix of a client's meta key.
pub(super) const CLIENT_PREFIX: &str = "client:";

/// Meta keys of reset stages under way start with this; the value is the
/// staging client's id, so a later tab can tell an abandoned stage (its
/// client's lock is free) from one a live tab is writing.
pub(super) const STAGE_PREFIX: &str = "stage:";

/// The meta key recording stage `slot`.
pub(super) fn stage_key(slot: &str) -> String {
    format!("{STAGE_PREFIX}{slot}")
}

/// The first slot of a fresh database.
pub(super) const FIRST_SLOT: &str = "s0";

/// The shared server snapshot's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct SnapshotMeta {
    /// The slot of `rows` holding it.
    pub slot: String,
    /// The cookie it is at.
    pub cookie: Option<Cookie>,
    /// The last mutation id of each client it reflects.
    pub lmids: BTreeMap<String, u64>,
}

impl Default for SnapshotMeta {
    fn default() -> Self {
        SnapshotMeta { slot: FIRST_SLOT.to_owned(), cookie: None, lmids: BTreeMap::new() }
    }
}

/// The meta key of client `id`.
pub(super) fn client_key(id: &str) -> String {
    format!("{CLIENT_PREFIX}{id}")
}

/// Separates a pending mutation's client id from its number in its key.
/// Client ids are plasma's (ULID layout) or the app's printable ids, so no
/// id contains it, and `SEPARATOR + 1` bounds a client's range.
const SEPARATOR: char = '\u{1}';

/// The key of a pending mutation: `<client id>\u{1}<id, 20 digits>`. A
/// string, not an array: the hot path puts one per mutation, and IndexedDB
/// encodes and compares a string key for less than an array key. Zero-padded
/// ids sort numerically, so a client's mutations stay a contiguous range.
pub(super) fn pending_key(client_id: &str, id: u64) -> JsValue {
    JsValue::from_str(&format!("{client_id}{SEPARATOR}{id:020}"))
}

/// Every pending mutation of `client_id` with id at most `through`.
pub(super) fn pending_through(client_id: &str, through: u64) -> Result<JsValue, JsValue> {
    IdbKeyRange::bound(&pending_key(client_id, 0), &pending_key(client_id, through)).map(JsValue::from)
}

/// Every pending mutation of `client_id`.
pub(super) fn pending_of(client_id: &str) -> Result<JsValue, JsValue> {
    let start = JsValue::from_str(&format!("{client_id}{SEPARATOR}"));
    let end = JsValue::from_str(&format!("{client_id}\u{2}"));
    IdbKeyRange::bound(&start, &end).map(JsValue::from)
}

/// The key of a row in `slot`.
pub(super) fn row_key(slot: &str, table: &str, id: &str) -> JsValue {
    Array::of3(&JsValue::from_str(slot), &JsValue::from_str(table), &JsValue::from_str(id)).into()
}

/// Every row of `slot` (an array key sorts after every string).
pub(super) fn slot_range(slot: &str) -> Result<JsValue, JsValue> {
    let start: JsValue = Array::of1(&JsValue::from_str(slot)).into();
    let end: JsValue = Array::of2(&JsValue::from_str(slot), &Array::new()).into();
    IdbKeyRange::bound(&start, &end).map(JsValue::from)
}

/// A stored row value: `[table, row JSON]`.
pub(super) fn row_value(table: &str, json: &str) -> JsValue {
    Array::of2(&JsValue::from_str(table), &JsValue::from_str(json)).into()
}

/// Whether a pull at `incoming` may replace a snapshot at `stored`: only
/// forward (or sideways to another server database, which always comes as a
/// reset), so two tabs committing pulls in either order never move the
/// shared snapshot back to an older state than one already written.
pub(super) fn moves_forward(stored: Option<&Cookie>, incoming: Option<&Cookie>) -> bool {
    match (stored, incoming) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(old), Some(new)) => old.database != new.database || new.order >= old.order,
    }
}

/// A client's meta as stored.
pub(super) fn encode_meta(meta: &ClientMeta) -> Result<String, serde_json::Error> {
    serde_json::to_string(meta)
}
