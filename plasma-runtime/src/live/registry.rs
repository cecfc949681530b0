//! The live-query engine: per table, one source of ordered indexes shared by
//! every live query over it; per query, a maintained window. Fed with the net
//! row changes a [`MemoryExecutor`] captured, it answers each transaction with
//! at most one diff per query, and never re-runs a query.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use crate::error::ExecError;
use crate::exec::memory::{MemoryExecutor, RowChange};
use crate::live::diff::{Diff, LiveChange, RowDiff};
use crate::live::key::SortKey;
use crate::live::window::{KeyChange, Refill, Window};
use crate::query::eval;
use crate::query::tree::{Expr, OrderTerm, SelectQuery};
use crate::schema::TableDef;
use crate::table::Row;

/// Identifies one live query in a [`LiveQueries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LiveId(u64);

/// Every row of one table sorted under one total order; shared by the live
/// queries that use that order.
#[derive(Debug)]
struct OrderedIndex {
    keys: BTreeSet<SortKey>,
    users: usize,
}

#[derive(Debug)]
struct QueryState {
    filter: Option<Expr>,
    order: Vec<OrderTerm>,
    window: Window,
}

/// One table's indexes and the live queries over it.
#[derive(Debug)]
struct Source {
    def: &'static TableDef,
    indexes: BTreeMap<Vec<OrderTerm>, OrderedIndex>,
    queries: BTreeMap<LiveId, QueryState>,
}

/// The live queries over one client's state.
#[derive(Debug, Default)]
pub struct LiveQueries {
    sources: HashMap<&'static str, Source>,
    next: u64,
}

/// Refills a window from an ordered index, reading rows for the filter.
struct IndexRefill<'a> {
    index: &'a BTreeSet<SortKey>,
    rows: &'a BTreeMap<String, Row>,
    filter: Option<&'a Expr>,
    pk_slot: usize,
}

impl Refill for IndexRefill<'_> {
    fn after(&mut self, bound: &SortKey, want: usize, out: &mut Vec<SortKey>) {
        let mut found = 0;
        for key in self.index.range((Bound::Excluded(bound), Bound::Unbounded)) {
            if found == want {
                break;
            }
            if self.rows.get(key.id(self.pk_slot)).is_some_and(|row| eval::matches(self.filter, row)) {
                out.push(key.clone());
                found += 1;
            }
        }
    }
}

fn pk_slot(order: &[OrderTerm], def: &TableDef) -> usize {
    order.iter().position(|t| t.column == def.primary_key).unwrap_or(0)
}

impl LiveQueries {
    /// No live queries.
    pub fn new() -> Self {
        LiveQueries::default()
    }

    /// Number of live queries.
    pub fn len(&self) -> usize {
        self.sources.values().map(|s| s.queries.len()).sum()
    }

    /// Whether there are no live queries.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Number of ordered indexes kept (for tests: queries share them).
    pub fn index_count(&self) -> usize {
        self.sources.values().map(|s| s.indexes.len()).sum()
    }

    /// Starts maintaining `query` over `view` and returns its id and current
    /// rows. Call [`flush`](Self::flush) after every change to `view`, before
    /// watching another query.
    pub fn watch(&mut self, view: &MemoryExecutor, query: SelectQuery) -> Result<(LiveId, Vec<Row>), ExecError> {
        query.validate()?;
        if query.filter.as_ref().is_some_and(crate::query::tree::Expr::has_sub_select) {
            return Err(crate::error::QueryError::LiveSubSelect { table: query.table.name }.into());
        }
        let def = query.table;
        view.capture(def, true)?;
        let order = query.total_order();
        let source = self.sources.entry(def.name).or_insert_with(|| Source {
            def,
            indexes: BTreeMap::new(),
            queries: BTreeMap::new(),
        });
        let index = match source.indexes.get_mut(&order) {
            Some(index) => index,
            None => {
                let keys = view.with_rows(def, |rows| rows.values().map(|r| SortKey::of(&order, r)).collect())?;
                source.indexes.entry(order.clone()).or_insert(OrderedIndex { keys, users: 0 })
            }
        };
        index.users += 1;
        let cap = query.limit.map(|l| to_usize(l).saturating_add(to_usize(query.offset)));
        let slot = pk_slot(&order, def);
        let (window, rows) = view.with_rows(def, |rows| {
            let mut keys = Vec::new();
            for key in &index.keys {
                if cap.is_some_and(|c| keys.len() >= c) {
                    break;
                }
                if rows.get(key.id(slot)).is_some_and(|row| eval::matches(query.filter.as_ref(), row)) {
                    keys.push(key.clone());
                }
            }
            let window = Window::new(cap, to_usize(query.offset), slot, keys);
            let current = window.visible_rows(rows);
            (window, current)
        })?;
        let id = LiveId(self.next);
        self.next += 1;
        source.queries.insert(id, QueryState { filter: query.filter, order, window });
        Ok((id, rows))
    }

    /// Stops maintaining a query and frees its state (and its index and
    /// source when nothing else uses them). Returns whether it existed.
    pub fn unwatch(&mut self, view: &MemoryExecutor, id: LiveId) -> bool {
        let Some(source) = self.sources.values_mut().find(|s| s.queries.contains_key(&id)) else { return false };
        let Some(state) = source.queries.remove(&id) else { return false };
        if let Some(index) = source.indexes.get_mut(&state.order) {
            index.users -= 1;
            if index.users == 0 {
                source.indexes.remove(&state.order);
            }
        }
        if source.queries.is_empty() {
            let def = source.def;
            self.sources.remove(def.name);
            // The table is known (it was watched), so this cannot fail.
            let _ = view.capture(def, false);
        }
        true
    }

    /// The current rows of a live query, or `None` if it is not live.
    pub fn rows(&self, view: &MemoryExecutor, id: LiveId) -> Option<Vec<Row>> {
        let source = self.sources.values().find(|s| s.queries.contains_key(&id))?;
        let state = source.queries.get(&id)?;
        view.with_rows(source.def, |rows| state.window.visible_rows(rows)).ok()
    }

    /// Brings every live query up to date with the changes `view` captured
    /// since the last flush (one transaction): at most one diff per query,
    /// none for a query whose result did not change.
    pub fn flush(&mut self, view: &MemoryExecutor) -> Vec<(LiveId, RowDiff)> {
        let mut diffs = Vec::new();
        for source in self.sources.values_mut() {
            let Ok(changes) = view.take_changes(source.def) else { continue };
            if changes.is_empty() {
                continue;
            }
            source.flush(view, &changes, &mut diffs);
        }
        diffs
    }
}

/// The old and new key of each change under one order.
struct Keyed {
    old: Vec<Option<SortKey>>,
    new: Vec<Option<SortKey>>,
}

impl Source {
    fn flush(&mut self, view: &MemoryExecutor, changes: &[RowChange], diffs: &mut Vec<(LiveId, RowDiff)>) {
        let mut keyed: BTreeMap<Vec<OrderTerm>, Keyed> = BTreeMap::new();
        for (order, index) in &mut self.indexes {
            let old: Vec<Option<SortKey>> =
                changes.iter().map(|c| c.before.as_ref().map(|r| SortKey::of(order, r))).collect();
            let new: Vec<Option<SortKey>> =
                changes.iter().map(|c| c.after.as_ref().map(|r| SortKey::of(order, r))).collect();
            for key in old.iter().flatten() {
                index.keys.remove(key);
            }
            for key in new.iter().flatten() {
                index.keys.insert(key.clone());
            }
            keyed.insert(order.clone(), Keyed { old, new });
        }
        let by_id: HashMap<&str, usize> = changes.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let is_changed = |id: &str| by_id.contains_key(id);
        let indexes = &self.indexes;
        let def = self.def;
        // The table is known (it is watched), so this cannot fail.
        let _ = view.with_rows(def, |rows| {
            for (id, state) in &mut self.queries {
                let (Some(keys), Some(index)) = (keyed.get(&state.order), indexes.get(&state.order)) else { continue };
                let filter = state.filter.as_ref();
                let mut removed = Vec::new();
                let mut added = Vec::new();
                for (i, change) in changes.iter().enumerate() {
                    if let (Some(row), Some(key)) = (&change.before, &keys.old[i])
                        && eval::matches(filter, row)
                    {
                        removed.push(key.clone());
                    }
                    if let (Some(row), Some(key)) = (&change.after, &keys.new[i])
                        && eval::matches(filter, row)
                    {
                        added.push(key.clone());
                    }
                }
                if removed.is_empty() && added.is_empty() {
                    continue;
                }
                let window = &mut state.window;
                let mut refill = IndexRefill { index: &index.keys, rows, filter, pk_slot: pk_slot(&state.order, def) };
                let key_changes = window.apply(&removed, &added, &is_changed, &mut refill);
                if key_changes.is_empty() {
                    continue;
                }
                let before = |key: &SortKey| {
                    let id = window.id_of(key);
                    match by_id.get(id) {
                        Some(i) => changes[*i].before.clone(),
                        None => rows.get(id).cloned(),
                    }
                };
                let now = |key: &SortKey| rows.get(window.id_of(key)).cloned();
                let diff: Vec<LiveChange<Row>> = key_changes
                    .into_iter()
                    .filter_map(|c| {
                        Some(match c {
                            KeyChange::Added { index, key } => LiveChange::Added { index, row: now(&key)? },
                            KeyChange::Removed { old_index, key } => {
                                LiveChange::Removed { old_index, row: before(&key)? }
                            }
                            KeyChange::Edited { old_index, index, key } => {
                                LiveChange::Edited { old_index, index, old: before(&key)?, row: now(&key)? }
                            }
                        })
                    })
                    .collect();
                diffs.push((*id, Diff { changes: diff }));
            }
        });
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
