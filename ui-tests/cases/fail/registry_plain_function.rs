pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn create(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

// Forgot #[plasma::mutator].
pub async fn archive(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct AppMutators { create, archive }
}

fn main() {}
