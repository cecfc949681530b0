pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator(name = "save")]
pub async fn create(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

#[plasma::mutator]
pub async fn remove(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

#[plasma::mutator(name = "save")]
pub async fn update(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct AppMutators { create, remove, update }
}

fn main() {}
