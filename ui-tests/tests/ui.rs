//! Compile-fail cases must fail with exactly the pinned `.stderr` (message and
//! span); compile-pass cases must build. Re-bless with
//! `TRYBUILD=overwrite cargo test -p plasma-ui-tests` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail(concat!(env!("CARGO_MANIFEST_DIR"), "/cases/fail/*.rs"));
    cases.pass(concat!(env!("CARGO_MANIFEST_DIR"), "/cases/pass/*.rs"));
}
