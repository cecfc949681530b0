//! The maintained window of one live query: the first `offset + limit`
//! matching keys of an ordered index (every matching key when there is no
//! limit), kept up to date batch by batch.
//!
//! The algorithm (Zero's Take operator, generalised to batches): let `bound`
//! be the window's last key when the window is full. Before a batch, the
//! window holds exactly the matching keys `<= bound`. So after it, the
//! matching keys `<= bound` are the old window minus the removed keys plus
//! the added keys `<= bound`; added keys beyond the bound are ignored (the
//! index has them). Then trim to capacity, and if short, refill once from the
//! index strictly after the old bound. When the window is not full it holds
//! every matching key, so every added key goes in.

use std::collections::{BTreeMap, HashMap};

use crate::live::key::SortKey;
use crate::table::Row;

/// Finds matching keys in the ordered index for a refill.
pub(crate) trait Refill {
    /// Pushes up to `want` keys that match the query's filter, in order,
    /// strictly after `bound`.
    fn after(&mut self, bound: &SortKey, want: usize, out: &mut Vec<SortKey>);
}

/// One change to the visible keys (positions as in [`crate::live::LiveChange`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyChange {
    /// Entered at `index`.
    Added { index: usize, key: SortKey },
    /// Left from `old_index`.
    Removed { old_index: usize, key: SortKey },
    /// The same row before and after, changed by the batch.
    Edited { old_index: usize, index: usize, key: SortKey },
}

/// The maintained prefix of a query's result.
#[derive(Debug)]
pub(crate) struct Window {
    /// `offset + limit`, or `None` for no limit.
    cap: Option<usize>,
    offset: usize,
    /// Position of the primary key in each sort key.
    pk_slot: usize,
    /// Sorted; at most `cap` long.
    keys: Vec<SortKey>,
}

impl Window {
    /// A window over `keys` (sorted, matching, at most `cap`).
    pub(crate) fn new(cap: Option<usize>, offset: usize, pk_slot: usize, keys: Vec<SortKey>) -> Self {
        Window { cap, offset, pk_slot, keys }
    }

    /// The visible keys: the window after the offset.
    pub(crate) fn visible(&self) -> &[SortKey] {
        self.keys.get(self.offset..).unwrap_or(&[])
    }

    /// The visible rows, read from the table by id.
    pub(crate) fn visible_rows(&self, rows: &BTreeMap<String, Row>) -> Vec<Row> {
        self.visible().iter().filter_map(|k| rows.get(self.id_of(k)).cloned()).collect()
    }

    /// The id of the row a key belongs to.
    pub(crate) fn id_of<'k>(&self, key: &'k SortKey) -> &'k str {
        key.id(self.pk_slot)
    }

    fn bound(&self) -> Option<&SortKey> {
        match self.cap {
            Some(cap) if self.keys.len() >= cap => self.keys.last(),
            _ => None,
        }
    }

    /// Applies one batch: `removed` holds the old keys of changed rows that
    /// matched before, `added` the new keys of changed rows that match now (the
    /// index already reflects the batch). `is_changed` tells whether a row id
    /// was changed by the batch. Returns the visible changes, empty when the
    /// result did not change.
    pub(crate) fn apply(
        &mut self,
        removed: &[SortKey],
        added: &[SortKey],
        is_changed: &dyn Fn(&str) -> bool,
        refill: &mut dyn Refill,
    ) -> Vec<KeyChange> {
        let bound = self.bound().cloned();
        let removed: Vec<&SortKey> = removed.iter().filter(|k| self.keys.binary_search(k).is_ok()).collect();
        let added: Vec<&SortKey> = added.iter().filter(|k| bound.as_ref().is_none_or(|b| *k <= b)).collect();
        if removed.is_empty() && added.is_empty() {
            return Vec::new();
        }
        if self.cap.is_none() && self.offset == 0 {
            return self.apply_unbounded(&removed, &added);
        }
        let old: Vec<SortKey> = self.visible().to_vec();
        for key in removed {
            if let Ok(i) = self.keys.binary_search(key) {
                self.keys.remove(i);
            }
        }
        for key in added {
            if let Err(i) = self.keys.binary_search(key) {
                self.keys.insert(i, key.clone());
            }
        }
        if let Some(cap) = self.cap {
            self.keys.truncate(cap);
            if let Some(bound) = &bound
                && self.keys.len() < cap
            {
                let want = cap - self.keys.len();
                refill.after(bound, want, &mut self.keys);
            }
        }
        self.merge_diff(&old, is_changed)
    }

    /// No limit and no offset: nothing is trimmed or refilled, so the visible
    /// changes are exactly the batch's; positions come from binary searches
    /// instead of walking a result that may be large.
    fn apply_unbounded(&mut self, removed: &[&SortKey], added: &[&SortKey]) -> Vec<KeyChange> {
        let mut gone: Vec<(usize, SortKey)> =
            removed.iter().filter_map(|k| self.keys.binary_search(k).ok().map(|i| (i, (*k).clone()))).collect();
        gone.sort_unstable_by_key(|(i, _)| *i);
        for (i, _) in gone.iter().rev() {
            self.keys.remove(*i);
        }
        for key in added {
            if let Err(i) = self.keys.binary_search(key) {
                self.keys.insert(i, (*key).clone());
            }
        }
        let arrived: Vec<(usize, SortKey)> =
            added.iter().filter_map(|k| self.keys.binary_search(k).ok().map(|i| (i, (*k).clone()))).collect();
        self.pair(gone, arrived, Vec::new())
    }

    /// Compares the previous visible keys with the current ones.
    fn merge_diff(&self, old: &[SortKey], is_changed: &dyn Fn(&str) -> bool) -> Vec<KeyChange> {
        let new = self.visible();
        let (mut i, mut j) = (0, 0);
        let mut gone = Vec::new();
        let mut arrived = Vec::new();
        let mut edited = Vec::new();
        while i < old.len() && j < new.len() {
            match old[i].cmp(&new[j]) {
                std::cmp::Ordering::Less => {
                    gone.push((i, old[i].clone()));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    arrived.push((j, new[j].clone()));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if is_changed(self.id_of(&new[j])) {
                        edited.push(KeyChange::Edited { old_index: i, index: j, key: new[j].clone() });
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        gone.extend(old[i..].iter().cloned().enumerate().map(|(k, key)| (i + k, key)));
        arrived.extend(new[j..].iter().cloned().enumerate().map(|(k, key)| (j + k, key)));
        self.pair(gone, arrived, edited)
    }

    /// Pairs keys that left and arrived for the same row into edits (a row
    /// whose sort key changed), and orders the changes as [`crate::live::Diff`] promises.
    fn pair(
        &self,
        gone: Vec<(usize, SortKey)>,
        mut arrived: Vec<(usize, SortKey)>,
        mut changes: Vec<KeyChange>,
    ) -> Vec<KeyChange> {
        arrived.sort_unstable_by_key(|(i, _)| *i);
        let partner: Vec<Option<usize>> = {
            let by_id: HashMap<&str, usize> =
                arrived.iter().enumerate().map(|(n, (_, key))| (self.id_of(key), n)).collect();
            gone.iter().map(|(_, key)| by_id.get(self.id_of(key)).copied()).collect()
        };
        let mut paired = vec![false; arrived.len()];
        for ((old_index, key), partner) in gone.into_iter().zip(partner) {
            match partner {
                Some(n) => {
                    paired[n] = true;
                    let index = arrived[n].0;
                    changes.push(KeyChange::Edited { old_index, index, key: arrived[n].1.clone() });
                }
                None => changes.push(KeyChange::Removed { old_index, key }),
            }
        }
        changes.sort_by_key(|c| match c {
            KeyChange::Removed { old_index, .. } | KeyChange::Edited { old_index, .. } => *old_index,
            KeyChange::Added { index, .. } => *index,
        });
        for ((index, key), paired) in arrived.into_iter().zip(paired) {
            if !paired {
                changes.push(KeyChange::Added { index, key });
            }
        }
        changes
    }
}
