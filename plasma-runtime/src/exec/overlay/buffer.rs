//! The overlay's buffered writes: the current version of every row the
//! overlay touched, whether that row exists in the base, and an undo log that
//! statements and savepoints roll back to. Knows nothing about the base or
//! about queries; [`super::OverlayTx`] decides what to write.

use std::collections::BTreeMap;

use super::OverlayChange;
use crate::schema::TableDef;
use crate::table::Row;

/// One touched row.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// When the row was first touched (a counter): the order of net changes.
    seq: u64,
    /// Whether the row exists in the base. Known exactly at first touch: a
    /// row is first touched either after a base read returned it (update,
    /// delete, upsert of an existing row) or after a base lookup by id found
    /// nothing (insert of a new row).
    pub(super) in_base: bool,
    /// First touched by a blind insert: `in_base` is false by assumption,
    /// not by a lookup (see [`super::OverlayTx::blind_inserts`]).
    assumed_new: bool,
    /// The row as the overlay sees it now (`None`: deleted).
    pub(super) current: Option<Row>,
}

/// The touched rows of one table, by id.
#[derive(Debug)]
pub(super) struct TableBuffer {
    def: &'static TableDef,
    pub(super) rows: BTreeMap<String, Entry>,
}

impl TableBuffer {
    /// How many touched ids exist in the base: the most base rows a merged
    /// read may have to drop (see [`super::OverlayTx`]).
    pub(super) fn in_base(&self) -> u64 {
        self.rows.values().filter(|e| e.in_base).count() as u64
    }
}

/// How to undo one buffered change.
#[derive(Debug)]
enum Undo {
    /// The row was first touched: forget it.
    Created { table: &'static str, id: String },
    /// The row's current version was `old`.
    Changed { table: &'static str, id: String, old: Option<Row> },
}

/// Buffered writes of every table, keyed by table name then id.
#[derive(Debug, Default)]
pub(super) struct Buffer {
    tables: BTreeMap<&'static str, TableBuffer>,
    undo: Vec<Undo>,
    next_seq: u64,
}

impl Buffer {
    /// The touched rows of `table`, if any.
    pub(super) fn table(&self, table: &str) -> Option<&TableBuffer> {
        self.tables.get(table)
    }

    /// The entry of one touched row.
    pub(super) fn get(&self, table: &str, id: &str) -> Option<&Entry> {
        self.tables.get(table)?.rows.get(id)
    }

    /// Sets the current version of a row. `in_base` and `assumed_new` are
    /// recorded only if this is the row's first touch (later they are known).
    pub(super) fn set(
        &mut self,
        table: &'static TableDef,
        id: &str,
        in_base: bool,
        assumed_new: bool,
        row: Option<Row>,
    ) {
        let buffer = self.tables.entry(table.name).or_insert_with(|| TableBuffer { def: table, rows: BTreeMap::new() });
        match buffer.rows.get_mut(id) {
            Some(entry) => {
                let old = std::mem::replace(&mut entry.current, row);
                self.undo.push(Undo::Changed { table: table.name, id: id.to_owned(), old });
            }
            None => {
                buffer.rows.insert(id.to_owned(), Entry { seq: self.next_seq, in_base, assumed_new, current: row });
                self.next_seq += 1;
                self.undo.push(Undo::Created { table: table.name, id: id.to_owned() });
            }
        }
    }

    /// Whether any touched row has a net change (see [`into_changes`](Self::into_changes)).
    pub(super) fn has_changes(&self) -> bool {
        self.tables.values().flat_map(|b| b.rows.values()).any(|e| e.current.is_some() || e.in_base)
    }

    /// A position in the undo log.
    pub(super) fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes every change made after `mark`, newest first.
    pub(super) fn rollback_to(&mut self, mark: usize) {
        let tail = self.undo.split_off(mark.min(self.undo.len()));
        for undo in tail.into_iter().rev() {
            match undo {
                Undo::Created { table, id } => {
                    if let Some(buffer) = self.tables.get_mut(table) {
                        buffer.rows.remove(&id);
                    }
                }
                Undo::Changed { table, id, old } => {
                    if let Some(entry) = self.tables.get_mut(table).and_then(|b| b.rows.get_mut(&id)) {
                        entry.current = old;
                    }
                }
            }
        }
        // Marks taken later than `mark` now point past the log's end; rolling
        // back to one of them is a no-op (`min` above), never a panic.
    }

    /// The net change of every touched row, in first-touch order: a row that
    /// exists now is a put, a base row that no longer exists is a delete, and
    /// a row created and deleted again (never in the base) is nothing.
    pub(super) fn into_changes(self) -> Vec<OverlayChange> {
        let mut touched: Vec<(u64, OverlayChange)> = Vec::new();
        for buffer in self.tables.into_values() {
            let def = buffer.def;
            for (id, entry) in buffer.rows {
                let net = match entry.current {
                    Some(row) if entry.assumed_new => OverlayChange::Create { table: def, row },
                    Some(row) => OverlayChange::Put { table: def, row },
                    None if entry.in_base => OverlayChange::Delete { table: def, id },
                    None if entry.assumed_new => OverlayChange::Absent { table: def, id },
                    None => continue,
                };
                touched.push((entry.seq, net));
            }
        }
        touched.sort_unstable_by_key(|(seq, _)| *seq);
        touched.into_iter().map(|(_, net)| net).collect()
    }
}
