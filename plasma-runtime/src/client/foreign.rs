//! *Foreign* pending mutations: records of other clients of the same group
//! (other tabs on one browser database), shown in this client's view before
//! the server confirms them. This module keeps the set and decides what is
//! admitted and what is dropped; [`ClientCore`](crate::client::ClientCore)
//! runs them on the view.
//!
//! They are never pushed by this client (their own client pushes them). One
//! is dropped once a pull reports its client's last mutation id at or past
//! its id (confirmed or rejected: the server consumed the id either way), or
//! names it in `mutationErrors`, and all are dropped when this client resets.

use std::collections::{BTreeMap, BTreeSet};

use crate::exec::memory::UndoLog;
use crate::protocol::MutationRecord;

/// The most foreign pending mutations a client keeps. Past it the oldest are
/// dropped (a debug log says how many), so a runaway tab cannot grow another
/// tab's memory without limit.
pub const MAX_FOREIGN_PENDING: usize = 10_000;

/// The order pending mutations apply in: `(timestamp, client id, id)`. Every
/// tab receiving the same records computes the same order, and one client's
/// records keep their id order (it stamps each above the ones before).
pub(crate) type ForeignKey = (i64, String, u64);

/// One foreign mutation and the undo log of its last run.
#[derive(Debug)]
pub(crate) struct ForeignEntry {
    pub(crate) record: MutationRecord,
    pub(crate) undo: UndoLog,
}

/// How a record would join the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Nothing to do: this client's own, already confirmed, or a duplicate.
    Ignored,
    /// It sorts after every pending mutation held (own and foreign) and the
    /// set has room: it runs on top of them.
    OnTop,
    /// It sorts among them, replaces one, or evicts the oldest: the pending
    /// mutations are undone and replayed.
    Reorder,
}

/// The foreign pending mutations of one client.
#[derive(Debug)]
pub(crate) struct Foreign {
    pub(crate) entries: BTreeMap<ForeignKey, ForeignEntry>,
    /// The last mutation id each client of the group had when a pull last
    /// reported it: a record at or below it is already in the snapshot.
    confirmed: BTreeMap<String, u64>,
    cap: usize,
}

impl Default for Foreign {
    fn default() -> Self {
        Foreign { entries: BTreeMap::new(), confirmed: BTreeMap::new(), cap: MAX_FOREIGN_PENDING }
    }
}

pub(crate) fn key_of(record: &MutationRecord) -> ForeignKey {
    (record.timestamp, record.client_id.clone(), record.id)
}

fn same(a: &MutationRecord, b: &MutationRecord) -> bool {
    a.name == b.name && a.args.get() == b.args.get() && a.abandoned == b.abandoned
}

impl Foreign {
    /// Sets the cap (tests use a small one).
    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
    }

    /// How `record` would join, for a client whose id is `own` and whose
    /// newest pending mutation sorts at `own_top`.
    pub(crate) fn admission(&self, own: &str, record: &MutationRecord, own_top: Option<&ForeignKey>) -> Admission {
        if record.client_id == own || self.confirmed.get(&record.client_id).is_some_and(|&l| record.id <= l) {
            return Admission::Ignored;
        }
        let key = key_of(record);
        if let Some(held) = self.entries.get(&key) {
            return if same(&held.record, record) { Admission::Ignored } else { Admission::Reorder };
        }
        let above =
            self.entries.last_key_value().is_none_or(|(last, _)| *last < key) && own_top.is_none_or(|top| *top < key);
        if above && self.entries.len() < self.cap { Admission::OnTop } else { Admission::Reorder }
    }

    /// Inserts `entry` (replacing one with the same key), then drops the
    /// oldest while over the cap. The foreign mutations must be undone, or
    /// `entry` must be the newest (see [`Admission::OnTop`]).
    pub(crate) fn insert(&mut self, entry: ForeignEntry) {
        self.entries.insert(key_of(&entry.record), entry);
        let over = self.entries.len().saturating_sub(self.cap);
        if over > 0 {
            for _ in 0..over {
                self.entries.pop_first();
            }
            tracing::debug!(dropped = over, cap = self.cap, "foreign pending mutations over the cap: oldest dropped");
        }
    }

    /// Applies what a pull said (the foreign mutations must be undone):
    /// `lmids` are clients' new last mutation ids, `errors` the mutations
    /// the server processed with an error. Drops every mutation they cover.
    /// Returns how many were dropped.
    pub(crate) fn confirm(&mut self, lmids: &BTreeMap<String, u64>, errors: &BTreeSet<(String, u64)>) -> usize {
        for (client, lmid) in lmids {
            let known = self.confirmed.entry(client.clone()).or_default();
            *known = (*known).max(*lmid);
        }
        let before = self.entries.len();
        let confirmed = &self.confirmed;
        self.entries.retain(|(_, client, id), _| {
            confirmed.get(client).is_none_or(|l| id > l) && !errors.contains(&(client.clone(), *id))
        });
        before - self.entries.len()
    }

    /// Drops every foreign mutation (the foreign mutations must be undone).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
