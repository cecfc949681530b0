pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CreateTodo {
    pub id: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct MarkDone {
    pub id: String,
}

#[plasma::mutator]
pub async fn create_todo(tx: &mut impl plasma::Transaction, _ctx: &Ctx, args: CreateTodo) -> Result<(), plasma::MutatorError> {
    let _ = (tx, args);
    Ok(())
}

fn main() {
    let _ = plasma::protocol::MutationRecord::new::<create_todo>("c1", 1, &MarkDone { id: "a".into() }, 0);
}
