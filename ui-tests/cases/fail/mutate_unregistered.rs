pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn listed(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

#[plasma::mutator]
pub async fn forgotten(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct AppMutators { listed }
}

pub fn call(client: &plasma::client::Client<AppMutators>) {
    let _ = client.mutate::<listed>(Args {});
    let _ = client.mutate::<forgotten>(Args {});
}

fn main() {}
