#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: i64,
}

fn main() {}
