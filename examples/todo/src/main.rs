//! The todo sync server on an embedded SQLite file.
//!
//! `cargo run -p todo -- [--db todos.db] [--port 8787] [--web DIR] [--allow-origin ORIGIN]... [--allow-any-origin]`
//! listens on 127.0.0.1 and serves `/sync/push`, `/sync/pull` and
//! `/sync/poke` (WebSocket). `--web DIR` also serves the files of DIR at `/`
//! (the web client, built by `cargo xtask todo`), same-origin with `/sync`. `--allow-origin https://app.example` (repeatable)
//! lets pages of that origin sync from a browser (CORS); `--allow-any-origin`
//! lets every page (development). `--port 0` picks a free port. Once
//! listening, it prints `listening on http://ADDR` on stdout.
//! Logs go to stderr; set `RUST_LOG=debug` for more.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

mod static_files;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let mut db = PathBuf::from("todos.db");
    let mut port = 8787u16;
    let mut web: Option<PathBuf> = None;
    let mut config = plasma::server::ServerConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().ok_or("--db needs a path")?.into(),
            "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
            "--web" => web = Some(args.next().ok_or("--web needs a directory")?.into()),
            "--allow-origin" => config.cors.allowed_origins.push(args.next().ok_or("--allow-origin needs an origin")?),
            "--allow-any-origin" => config.cors.allow_any_origin = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: todo [--db PATH] [--port N] [--web DIR] [--allow-origin ORIGIN]... [--allow-any-origin]"
                )
                .into());
            }
        }
    }
    if let Some(dir) = &web
        && !dir.join("index.html").is_file()
    {
        return Err(format!(
            "--web {}: no index.html there (build it with `cargo xtask todo --build-only`)",
            dir.display()
        )
        .into());
    }
    let server = todo::server::open_with(&db, config)?;
    let mut router = plasma::server::router(server);
    if let Some(dir) = web {
        router = static_files::with_site(router, dir);
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    tracing::info!(db = %db.display(), %addr, "todo sync server listening");
    // For scripts that start the server on port 0.
    println!("listening on http://{addr}");
    // Header and idle timeouts, a connection cap and bounded buffers: see `ServeConfig`.
    plasma::server::serve(listener, router, plasma::server::ServeConfig::default()).await;
    Ok(())
}
