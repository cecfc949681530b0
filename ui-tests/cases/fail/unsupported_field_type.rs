#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    pub created: std::time::Instant,
    pub big: u64,
}

fn main() {}
