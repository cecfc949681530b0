#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(default = "zero")]
    pub count: i64,
}

fn main() {}
