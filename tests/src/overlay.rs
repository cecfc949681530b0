//! An [`Executor`] whose transactions are overlays over another executor's
//! transaction, committing as the D1 server will: the overlay's net changes
//! written to the base at the end, then one base commit. Lets every executor
//! scenario run against `plasma::exec::overlay`.

use plasma::exec::overlay::{OverlayTx, TransactionBase};
use plasma::{ExecError, Executor, Transaction};

/// Overlay transactions over `E`'s transactions. The overlay reads through
/// its base transaction and never writes to it before commit.
#[derive(Debug)]
pub struct OverlayExecutor<E>(pub E);

impl<E: Executor> Executor for OverlayExecutor<E> {
    type Tx<'a>
        = OverlayTx<TransactionBase<E::Tx<'a>>>
    where
        Self: 'a;

    async fn begin(&self) -> Result<Self::Tx<'_>, ExecError> {
        Ok(OverlayTx::new(TransactionBase::new(self.0.begin().await?)))
    }

    async fn commit<'a>(tx: Self::Tx<'a>) -> Result<(), ExecError>
    where
        Self: 'a,
    {
        let (base, changes) = tx.into_parts();
        let mut base = base.into_inner();
        for change in changes {
            if let Some(write) = change.into_write() {
                base.write(write).await?;
            }
        }
        E::commit(base).await
    }
}
