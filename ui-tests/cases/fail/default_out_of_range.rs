#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(default = 300)]
    pub priority: u8,
}

fn main() {}
