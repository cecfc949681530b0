//! The benchmark's sync server: `kv-server --db PATH --rows N [--port P]`.
//!
//! Seeds `N` rows of 1 KB (keys `s/000000`...) straight into the database,
//! through the change log like any write, then serves push, pull and pokes on
//! 127.0.0.1 to pages of any origin (the benchmark page is served by another
//! port). Prints `listening on http://ADDR` once ready.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::path::PathBuf;

    use plasma::SqliteExecutor;
    use plasma::server::{Authorized, ServeConfig, SyncServer, router, serve};
    use plasma_browser_bench::kv::{Ctx, Kv, KvMutators, SCHEMA, payload};

    /// Rows per seeding transaction.
    const SEED_BATCH: usize = 5_000;

    pub fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut db = PathBuf::from("kv-bench.db");
        let mut rows = 0usize;
        let mut port = 0u16;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--db" => db = args.next().ok_or("--db needs a path")?.into(),
                "--rows" => rows = args.next().ok_or("--rows needs a number")?.parse()?,
                "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
                other => {
                    return Err(
                        format!("unknown argument `{other}`; usage: kv-server --db PATH --rows N [--port P]").into()
                    );
                }
            }
        }
        let executor = SqliteExecutor::open(&db)?;
        executor.ensure_schema(&SCHEMA)?;
        seed(&executor, rows)?;
        let server = SyncServer::<KvMutators>::builder(&SCHEMA, executor)
            .allow_any_origin()
            .auth(|_headers| async { Ok(Authorized::user("bench", Ctx)) })
            .scopes(plasma::server::Scopes::read_all())
            .build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
            println!("listening on http://{}", listener.local_addr()?);
            serve(listener, router(server), ServeConfig::default()).await;
            Ok(())
        })
    }

    /// Writes `rows` rows unless the database already holds them.
    fn seed(executor: &SqliteExecutor, rows: usize) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let have: i64 = executor.connection().query_row("SELECT count(*) FROM \"kv\"", [], |r| r.get(0))?;
        if usize::try_from(have)? >= rows {
            return Ok(());
        }
        for start in (0..rows).step_by(SEED_BATCH) {
            let tx = executor.begin_immediate_sync()?;
            for i in start..(start + SEED_BATCH).min(rows) {
                let row = Kv { id: format!("s/{i:06}"), v: payload(u32::try_from(i)?, 1024) };
                tx.write_sync(Kv::upsert().row(&row).into_query())?;
            }
            tx.commit_sync()?;
        }
        Ok(())
    }
}
