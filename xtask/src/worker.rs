//! `worker::run()`: the todo Worker (examples/todo-worker) on a real local
//! D1, driven by native and browser clients.
//!
//! 1. installs what is missing: `npm ci` in examples/todo-worker (wrangler,
//!    and the wasm-opt and esbuild worker-build is pointed at, since it
//!    cannot download its own here), `cargo install worker-build`,
//!    wasm-bindgen-cli (shared with the browser suite);
//! 2. builds the Worker with worker-build (`--release`, local tools);
//! 3. starts `wrangler dev --local --ip 127.0.0.1` on a free port with a fresh
//!    `--persist-to` directory (so a fresh local D1) and the bad-input
//!    table's body limit, and waits until it answers;
//! 4. runs `tests/tests/worker_d1.rs` against it, then the browser sync test
//!    (a wasm client in Chromium and a native client, `web_sync`); with
//!    `--bench`, `bench-report worker` instead (push 100, pull 10k, beside axum);
//! 5. whatever happened: kills wrangler's process group (workerd with it)
//!    and removes the state directory.
//!
//! Every step has a deadline, so the run ends by itself.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::e2e::{kill_group, npm_ci, run_for};

/// The worker-build release the Worker is built with.
const WORKER_BUILD: &str = "0.8.7";
/// Each build.
const BUILD: Duration = Duration::from_secs(1800);
/// How long wrangler may take to answer its first request (it also applies
/// the schema to the fresh D1).
const START: Duration = Duration::from_secs(120);
/// The Rust tests against the Worker.
const TESTS: Duration = Duration::from_secs(600);
/// The body limit the bad-input table expects (`plasma_tests::bad_input::LIMIT`).
const MAX_BODY_BYTES: &str = "65536";

/// What to run against the Worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The tests (part of `cargo xtask test`).
    Test,
    /// The figures: `bench-report worker` (push 100, pull 10k) beside axum.
    Bench,
}

/// Runs the Worker suite or its benchmark (see the module docs).
pub fn run(mode: Mode) -> Result<(), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask has no parent directory")?;
    let dir = workspace.join("examples").join("todo-worker");
    crate::ensure_rust_target(crate::WASM_TARGET)?;
    crate::ensure_wasm_bindgen_cli()?;
    npm_ci(&dir)?;
    ensure_worker_build()?;
    build(&dir)?;
    let state = std::env::temp_dir().join(format!("plasma-worker-{}", std::process::id()));
    std::fs::create_dir_all(&state).map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let result = with_wrangler(workspace, &dir, &state, mode);
    let _ = std::fs::remove_dir_all(&state);
    result
}

/// `worker-build` at [`WORKER_BUILD`], unless it is already there.
fn ensure_worker_build() -> Result<(), String> {
    let have = Command::new("worker-build")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if have.as_deref().is_some_and(|v| v.ends_with(WORKER_BUILD)) {
        return Ok(());
    }
    eprintln!(
        "xtask: worker-build {WORKER_BUILD} needed (found {}); building it (a few minutes)",
        have.as_deref().unwrap_or("none")
    );
    crate::run("cargo", &["install", "worker-build", "--version", WORKER_BUILD])
}

/// The tools worker-build would otherwise download.
fn tool_env(dir: &Path) -> Result<Vec<(&'static str, PathBuf)>, String> {
    let wasm_bindgen = Command::new("sh")
        .args(["-c", "command -v wasm-bindgen"])
        .output()
        .map_err(|e| format!("cannot look for wasm-bindgen: {e}"))?;
    let wasm_bindgen = String::from_utf8_lossy(&wasm_bindgen.stdout).trim().to_owned();
    if wasm_bindgen.is_empty() {
        return Err("wasm-bindgen is not on PATH".to_owned());
    }
    let bin = dir.join("node_modules").join(".bin");
    Ok(vec![
        ("WASM_BINDGEN_BIN", PathBuf::from(wasm_bindgen)),
        ("WASM_OPT_BIN", bin.join("wasm-opt")),
        ("ESBUILD_BIN", bin.join("esbuild")),
    ])
}

fn build(dir: &Path) -> Result<(), String> {
    let tools = tool_env(dir)?;
    let env: Vec<(&str, &std::ffi::OsStr)> = tools.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    run_for(dir, "worker-build", &["--release"], &env, BUILD)?;
    let wasm = dir.join("build").join("index_bg.wasm");
    let size = std::fs::metadata(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?.len();
    let gzipped = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", wasm.display()))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    eprintln!("xtask: Worker built: {} is {size} bytes ({gzipped} gzipped)", wasm.display());
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Starts wrangler, runs the suites against it, stops it.
fn with_wrangler(workspace: &Path, dir: &Path, state: &Path, mode: Mode) -> Result<(), String> {
    let port = free_port()?.to_string();
    let inspector = free_port()?.to_string();
    let log = state.join("wrangler.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err_file = log_file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
    let state_arg = state.join("d1-state");
    eprintln!("xtask: wrangler dev --local on 127.0.0.1:{port} (log {})", log.display());
    let wrangler = Command::new(dir.join("node_modules").join(".bin").join("wrangler"))
        .args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port, "--inspector-port", &inspector])
        .arg("--persist-to")
        .arg(&state_arg)
        .args(["--var", &format!("MAX_BODY_BYTES:{MAX_BODY_BYTES}"), "--show-interactive-dev-session=false"])
        .current_dir(dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start wrangler: {e}"))?;
    let url = format!("http://127.0.0.1:{port}");
    let ready = wrangler_ready(&url, &wrangler);
    let result = match mode {
        Mode::Test => suites(workspace, &url, &state_arg, ready),
        Mode::Bench => ready.and_then(|()| {
            let env = [("PLASMA_WORKER_URL", std::ffi::OsStr::new(&url))];
            let args = ["run", "--release", "-p", "plasma-benches", "--bin", "bench-report", "--", "worker"];
            run_for(workspace, "cargo", &args, &env, BUILD)
        }),
    };
    stop(wrangler);
    if result.is_err() {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(40).collect();
        eprintln!("xtask: wrangler's last lines:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    result
}

fn suites(workspace: &Path, url: &str, state: &Path, ready: Result<(), String>) -> Result<(), String> {
    ready?;
    eprintln!("xtask: Worker at {url}: tests/tests/worker_d1.rs");
    let state = state.to_string_lossy().into_owned();
    let env = [("PLASMA_WORKER_URL", std::ffi::OsStr::new(url)), ("PLASMA_WORKER_STATE", std::ffi::OsStr::new(&state))];
    let args = [
        "test",
        "-p",
        "plasma-tests",
        "--features",
        "worker",
        "--test",
        "worker_d1",
        "--",
        "--test-threads=1",
        "--nocapture",
    ];
    run_for(workspace, "cargo", &args, &env, TESTS)?;
    crate::ensure_chromium()?;
    eprintln!("xtask: Worker at {url}: the browser sync test (wasm client in Chromium, native peer)");
    crate::web_sync::both_halves(workspace, url)
}

/// Waits until the Worker answers a request (any JSON answer: it is up and
/// its schema is applied), or wrangler exits, or [`START`] passes.
fn wrangler_ready(url: &str, wrangler: &Child) -> Result<(), String> {
    let deadline = Instant::now() + START;
    let addr = url.trim_start_matches("http://").to_owned();
    while Instant::now() < deadline {
        // A pull without credentials: 401 once the Worker runs.
        if status_of(&addr).as_deref() == Some("401") {
            return Ok(());
        }
        if Command::new("kill").args(["-0", &wrangler.id().to_string()]).status().is_ok_and(|s| !s.success()) {
            return Err("wrangler exited before answering".to_owned());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("the Worker did not answer within {START:?}"))
}

/// The status code of an anonymous pull at `addr`, if it answers within 10 s.
fn status_of(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let socket_addr = addr.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket_addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let request = format!("POST /sync/pull HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    String::from_utf8_lossy(&head).split(' ').nth(1).map(str::to_owned)
}

fn stop(mut wrangler: Child) {
    kill_group(wrangler.id(), "TERM");
    let grace = Instant::now() + Duration::from_secs(5);
    while Instant::now() < grace && matches!(wrangler.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    kill_group(wrangler.id(), "KILL");
    let _ = wrangler.wait();
}
