#[plasma::table]
pub enum Todo {
    Open,
    Done,
}

fn main() {}
