pub struct AppCtx;
pub struct OtherCtx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn first(_tx: &mut impl plasma::Transaction, _ctx: &AppCtx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

#[plasma::mutator]
pub async fn second(_tx: &mut impl plasma::Transaction, _ctx: &OtherCtx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct Mixed { first, second }
}

fn main() {}
