#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(rename = "title")]
    pub name: String,
    pub title: String,
}

fn main() {}
