#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
}

pub static EMPTY: plasma::Schema = plasma::schema![version = ""; Todo];
pub static NOT_A_STR: plasma::Schema = plasma::schema![version = 2; Todo];

fn main() {}
