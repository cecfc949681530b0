#[plasma::table]
pub struct Todo<T> {
    #[plasma(id)]
    pub id: String,
    pub payload: T,
}

fn main() {}
