pub type Id = u32;

#[plasma::table]
pub struct Todo {
    #[plasma(id)]
    pub id: Id,
}

fn main() {}
