//! trybuild compile-fail and compile-pass cases for plasma's macros and typed builders; see tests/ui.rs.
