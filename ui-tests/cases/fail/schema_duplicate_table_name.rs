#[plasma::table(name = "items")]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
}

#[plasma::table]
pub struct Tag {
    #[plasma(id)]
    pub id: String,
}

#[plasma::table(name = "Items")]
pub struct Note {
    #[plasma(id)]
    pub id: String,
}

pub static SCHEMA: plasma::Schema = plasma::schema![Todo, Tag, Note];

fn main() {}
