pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn create(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

#[plasma::mutator]
pub async fn remove(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct AppMutators { create, remove, create }
}

fn main() {
    // The registry is still emitted: no cascade of "cannot find type `AppMutators`".
    let _ = AppMutators;
}
