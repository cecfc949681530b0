// A query builder that is never run does nothing: `#[must_use]` says so.
#![deny(unused_must_use)]

#[plasma::table(name = "todos")]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    pub done: bool,
}

fn main() {
    Todo::delete().filter(Todo::DONE.eq(true));
    Todo::update().set(Todo::DONE, false);
    Todo::insert().value(Todo::ID, "a".to_owned());
    Todo::select().limit(1);
}
