pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[plasma::mutator]
pub fn create(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), plasma::MutatorError> {
    let _ = (tx, ctx, args);
    Ok(())
}

fn main() {}
