use plasma::Mutator;

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

pub async fn call(tx: &mut impl plasma::Transaction) {
    let _ = create_todo::run(tx, &Ctx, MarkDone { id: "a".into() }).await;
}

fn main() {}
