//! Queries: the dialect-free tree, the typed builders over it, and its
//! in-memory evaluation.

pub mod eval;
pub mod tree;
pub mod typed;
