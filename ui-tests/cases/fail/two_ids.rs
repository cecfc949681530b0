#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(id)]
    pub slug: String,
}

fn main() {}
