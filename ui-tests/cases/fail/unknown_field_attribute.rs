#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    #[plasma(indx)]
    pub title: String,
}

fn main() {}
