#[plasma::table]
pub struct Todo {
    pub id: String,
    pub title: String,
}

fn main() {}
