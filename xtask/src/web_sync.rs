//! `web_sync::run()`: the browser sync test with its server and its native peer.
//!
//! A wasm test in Chromium cannot start a server, so this driver:
//! 1. builds the `todo` server binary and the native peer
//!    (`tests/tests/web_sync_peer.rs`);
//! 2. starts `todo --port 0 --allow-any-origin` on a temporary SQLite file
//!    and reads its address from stdout;
//! 3. builds `tests/web/tests/sync.rs` with that URL in `PLASMA_SYNC_URL`
//!    (read with `option_env!`);
//! 4. runs the native peer and the browser test at the same time: they
//!    exchange todos through the server and both check they end equal;
//! 5. stops the server and removes the database, whatever happened.
//!
//! Every step has a deadline, so the whole run ends by itself. Needs
//! `wasm-bindgen-test-runner` (matching the pinned wasm-bindgen) and
//! chromedriver (`CHROMEDRIVER`, default `/usr/bin/chromedriver`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the server may take to start listening.
const SERVER_START: Duration = Duration::from_secs(30);
/// How long the browser test and the native peer may run (builds excluded).
const EXCHANGE: Duration = Duration::from_secs(240);

/// Runs the browser sync test (see the module docs).
pub fn run() -> Result<(), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask has no parent directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    cargo(workspace, &["build", "-p", "todo", "--bin", "todo"], &[])?;
    cargo(workspace, &["test", "-p", "plasma-tests", "--test", "web_sync_peer", "--no-run"], &[])?;

    let dir = std::env::temp_dir().join(format!("plasma-web-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result = with_server(workspace, &target.join("debug").join("todo"), &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Starts the server, runs both halves against it, stops it.
fn with_server(workspace: &Path, binary: &Path, dir: &Path) -> Result<(), String> {
    let db = dir.join("todos.db");
    eprintln!("xtask: starting {} on {}", binary.display(), db.display());
    let mut server = Command::new(binary)
        .arg("--db")
        .arg(&db)
        .args(["--port", "0", "--allow-any-origin"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let result = listening_url(&mut server).and_then(|url| both_halves(workspace, &url));
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// Reads `listening on http://ADDR` from the server's stdout.
fn listening_url(server: &mut Child) -> Result<String, String> {
    let stdout = server.stdout.take().ok_or("the server's stdout is not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.find_map(|line| line.ok()?.strip_prefix("listening on ").map(str::to_owned));
        let _ = tx.send(url);
        // Keep draining, so the server never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(SERVER_START) {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Err("the server exited before listening".to_owned()),
        Err(_) => Err(format!("the server did not listen within {SERVER_START:?}")),
    }
}

/// Builds the browser half for `url`, then runs it and the native peer together.
pub(crate) fn both_halves(workspace: &Path, url: &str) -> Result<(), String> {
    eprintln!("xtask: server at {url}");
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
    let browser_env = [
        ("PLASMA_SYNC_URL", url),
        ("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner"),
        ("CHROMEDRIVER", chromedriver.as_str()),
        ("WASM_BINDGEN_TEST_TIMEOUT", "180"),
    ];
    let browser_args = ["test", "-p", "plasma-web-tests", "--target", "wasm32-unknown-unknown", "--test", "sync"];
    let mut build = browser_args.to_vec();
    build.push("--no-run");
    cargo(workspace, &build, &browser_env)?;

    let peer_args = ["test", "-p", "plasma-tests", "--test", "web_sync_peer", "--", "--ignored", "--nocapture"];
    let peer = spawn_cargo(workspace, &peer_args, &[("PLASMA_SYNC_URL", url)])?;
    let browser = spawn_cargo(workspace, &browser_args, &browser_env)?;
    let deadline = Instant::now() + EXCHANGE;
    let browser = finish("the browser half (tests/web/tests/sync.rs)", browser, deadline);
    let peer = finish("the native peer (tests/tests/web_sync_peer.rs)", peer, deadline);
    browser.and(peer)
}

fn spawn_cargo(workspace: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Child, String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    Command::new("cargo")
        .args(args)
        .current_dir(workspace)
        .envs(env.iter().copied())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))
}

pub(crate) fn cargo(workspace: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let child = spawn_cargo(workspace, args, env)?;
    finish(&format!("cargo {}", args.join(" ")), child, Instant::now() + Duration::from_secs(1800))
}

/// Waits for `child` until `deadline`, then kills it.
fn finish(what: &str, mut child: Child, deadline: Instant) -> Result<(), String> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{what} failed ({status})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish in time; stopped"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("cannot wait for {what}: {e}")),
        }
    }
}
