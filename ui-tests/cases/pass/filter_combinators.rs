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
    let f = Todo::done.eq(false)
        & (Todo::title.like("a%") | Todo::title.starts_with(name.as_str()))
        & !Todo::id.is_in(["a", "b"])
        & Todo::id.is_in(vec![String::from("c")])
        & Todo::updated_at.is_in([1, 2, 3])
        & Todo::note.eq("plain value on a nullable column")
        & Todo::note.ne(None)
        & Todo::note.eq(Some(String::from("x")))
        & Todo::note.like("%")
        & Todo::score.gt(1.5)
        & Todo::score.is_not_null()
        & plasma::not(Todo::updated_at.le(10))
        & Todo::updated_at.lt(5i32).or(Todo::updated_at.ge(7u8));
    let _ = Todo::select().filter(f).filter(Todo::title.ne(&name)).first_query();
}

trait FirstQuery {
    fn first_query(self) -> plasma::query::tree::SelectQuery;
}

impl FirstQuery for plasma::Select<Todo> {
    fn first_query(self) -> plasma::query::tree::SelectQuery {
        self.limit(1).query().clone()
    }
}
