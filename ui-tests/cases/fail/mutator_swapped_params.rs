pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn create(ctx: &Ctx, tx: &mut impl plasma::Transaction, args: Args) -> Result<(), plasma::MutatorError> {
    let _ = (ctx, tx, args);
    Ok(())
}

fn main() {}
