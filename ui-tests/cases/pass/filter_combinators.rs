#[plasma::table(name = "todos")]
pub struct Todo {
    #[plasma(id)]
    pub id: String,
    pub title: String,
    pub note: Option<String>,
    pub score: Option<f64>,
    pub done: bool,
    pub updated_at: i64,
}

fn main() {
    let name = String::from("x");
    let f = Todo::DONE.eq(false)
        & (Todo::TITLE.like("a%") | Todo::TITLE.starts_with(name.as_str()))
        & !Todo::ID.is_in(["a", "b"])
        & Todo::ID.is_in(vec![String::from("c")])
        & Todo::UPDATED_AT.is_in([1, 2, 3])
        & Todo::NOTE.eq("plain value on a nullable column")
        & Todo::NOTE.ne(None)
        & Todo::NOTE.eq(Some(String::from("x")))
        & Todo::NOTE.like("%")
        & Todo::SCORE.gt(1.5)
        & Todo::SCORE.is_not_null()
        & plasma::not(Todo::UPDATED_AT.le(10))
        & Todo::UPDATED_AT.lt(5i32).or(Todo::UPDATED_AT.ge(7u8));
    let _ = Todo::select().filter(f).filter(Todo::TITLE.ne(&name)).first_query();
}

trait FirstQuery {
    fn first_query(self) -> plasma::query::tree::SelectQuery;
}

impl FirstQuery for plasma::Select<Todo> {
    fn first_query(self) -> plasma::query::tree::SelectQuery {
        self.limit(1).query().clone()
    }
}
