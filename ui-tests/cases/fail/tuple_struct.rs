#[plasma::table]
pub struct Todo(String, String);

fn main() {}
