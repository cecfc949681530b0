pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[plasma::mutator]
pub async fn by_value_ctx(tx: &mut impl plasma::Transaction, ctx: Ctx, args: &Args) -> Result<(), plasma::MutatorError> {
    let _ = (tx, ctx, args);
    Ok(())
}

#[plasma::mutator]
pub async fn too_few(tx: &mut impl plasma::Transaction) -> Result<(), plasma::MutatorError> {
    let _ = tx;
    Ok(())
}

fn main() {}
