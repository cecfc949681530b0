pub type Count = i64;

#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(default = "many")]
    pub count: Count,
}

fn main() {}
