#[plasma::table]
pub struct Query {
    #[plasma(id)]
    pub id: String,
    pub select: String,
}

fn main() {}
