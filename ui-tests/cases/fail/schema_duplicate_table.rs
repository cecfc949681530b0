#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
}

#[plasma::table]
pub struct Tag {
    #[plasma(id)]
    pub id: String,
}

pub static SCHEMA: plasma::Schema = plasma::schema![Todo, Tag, Todo];

fn main() {}
