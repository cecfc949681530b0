#![deny(unused_imports)]
use std::collections::BTreeMap;

// One mistake (no primary key) gives one error: the struct is still emitted,
// so the code naming it compiles and the import stays used.
#[plasma::table]
pub struct Todo {
    pub title: String,
    #[plasma(json)]
    pub tags: BTreeMap<String, String>,
}

pub fn make() -> Todo {
    Todo { title: "x".into(), tags: BTreeMap::new() }
}

fn main() {}
