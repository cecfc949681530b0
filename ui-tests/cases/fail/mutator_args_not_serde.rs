pub struct Ctx;

pub struct NotSerde {
    pub id: String,
}

#[plasma::mutator]
pub async fn create(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: NotSerde) -> Result<(), plasma::MutatorError> {
    Ok(())
}

fn main() {}
