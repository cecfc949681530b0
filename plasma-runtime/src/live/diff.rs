//! What a live query tells its subscribers after a transaction: the net
//! difference between its previous and its new result, with positions.

use crate::error::DecodeError;
use crate::table::{Row, Table};

/// One change to a live query's result.
///
/// Positions are snapshot-relative: `old_index` counts in the previous
/// result, `index` in the new one. [`Diff::apply`] shows how to replay them
/// on a list.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveChange<R> {
    /// `row` entered the result at `index`.
    Added {
        /// Position in the new result.
        index: usize,
        /// The row.
        row: R,
    },
    /// `row` left the result from `old_index`.
    Removed {
        /// Position in the previous result.
        old_index: usize,
        /// The row as it was.
        row: R,
    },
    /// A row that stays in the result changed (and may have moved).
    Edited {
        /// Position in the previous result.
        old_index: usize,
        /// Position in the new result.
        index: usize,
        /// The row as it was.
        old: R,
        /// The row as it is.
        row: R,
    },
}

/// The net changes one transaction (a mutation, a rebase, a pull) made to a
/// live query's result. Never empty when delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff<R> {
    /// Removals and edits by ascending `old_index`, then additions by ascending `index`.
    pub changes: Vec<LiveChange<R>>,
}

/// A [`Diff`] of dynamic rows, as the live-query engine produces it.
pub type RowDiff = Diff<Row>;

impl<R> Default for Diff<R> {
    fn default() -> Self {
        Diff { changes: Vec::new() }
    }
}

impl<R: Clone> Diff<R> {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Turns the previous result into the new one: removes every removed and
    /// edited row by `old_index` (highest first), then inserts every added and
    /// edited row at its `index` (lowest first).
    pub fn apply(&self, rows: &mut Vec<R>) {
        let mut gone: Vec<usize> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                LiveChange::Removed { old_index, .. } | LiveChange::Edited { old_index, .. } => Some(*old_index),
                LiveChange::Added { .. } => None,
            })
            .collect();
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            if i < rows.len() {
                rows.remove(i);
            }
        }
        let mut arriving: Vec<(usize, &R)> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                LiveChange::Added { index, row } | LiveChange::Edited { index, row, .. } => Some((*index, row)),
                LiveChange::Removed { .. } => None,
            })
            .collect();
        arriving.sort_unstable_by_key(|(i, _)| *i);
        for (i, row) in arriving {
            rows.insert(i.min(rows.len()), row.clone());
        }
    }
}

impl RowDiff {
    /// Decodes every row into the table's struct.
    pub fn decode<T: Table>(&self) -> Result<Diff<T>, DecodeError> {
        let changes = self
            .changes
            .iter()
            .map(|c| {
                Ok(match c {
                    LiveChange::Added { index, row } => {
                        LiveChange::Added { index: *index, row: T::from_row(row.clone())? }
                    }
                    LiveChange::Removed { old_index, row } => {
                        LiveChange::Removed { old_index: *old_index, row: T::from_row(row.clone())? }
                    }
                    LiveChange::Edited { old_index, index, old, row } => LiveChange::Edited {
                        old_index: *old_index,
                        index: *index,
                        old: T::from_row(old.clone())?,
                        row: T::from_row(row.clone())?,
                    },
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Diff { changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_replays_snapshot_positions() {
        // old: a b c d  ->  new: b d' x c   (a removed, d edited and moved, x added)
        let mut rows = vec!["a", "b", "c", "d"];
        let diff = Diff {
            changes: vec![
                LiveChange::Removed { old_index: 0, row: "a" },
                LiveChange::Edited { old_index: 3, index: 1, old: "d", row: "d'" },
                LiveChange::Added { index: 2, row: "x" },
            ],
        };
        diff.apply(&mut rows);
        assert_eq!(rows, vec!["b", "d'", "x", "c"]);
    }
}
