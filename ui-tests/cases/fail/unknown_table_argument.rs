#[plasma::table(nmae = "todos")]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
}

fn main() {}
