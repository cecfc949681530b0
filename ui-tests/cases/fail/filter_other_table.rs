#[plasma::table(name = "todos")]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    pub title: String,
    pub done: bool,
    pub updated_at: i64,
}

#[plasma::table(name = "users")]
pub struct User {
    #[plasma(id)]
    pub id: String,
    pub name: String,
}

fn main() {
    let _ = Todo::select().filter(User::NAME.eq("ann"));
}
