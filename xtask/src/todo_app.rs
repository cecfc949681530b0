//! `cargo xtask todo [--port N] [--db PATH] [--build-only]`: the todo quick
//! start in one command.
//!
//! 1. builds the Leptos client (`examples/todo/web`, package `todo-web`) for
//!    wasm32 with the `wasm-release` profile;
//! 2. runs `wasm-bindgen --target web` into `target/todo-web/pkg` (skipped
//!    when the output is newer than the wasm) and copies `index.html` and
//!    `style.css` into `target/todo-web/`;
//! 3. unless `--build-only`: builds the `todo` server and runs it on
//!    127.0.0.1 (`--port`, default 8787; 0 picks a free one) with the SQLite
//!    file `--db` (default `todos.db` in the workspace) serving
//!    `target/todo-web` next to `/sync`, and prints the URL to open.
//!
//! Cargo rebuilds only what changed, so a second run starts at once.
//! `--build-only` is for the e2e tests, which start the server binary themselves.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::{WASM_TARGET, ensure_rust_target, ensure_wasm_bindgen_cli};

/// What `cargo xtask todo` was asked for.
struct Options {
    port: u16,
    db: PathBuf,
    build_only: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options { port: 8787, db: PathBuf::from("todos.db"), build_only: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let port = args.next().ok_or("--port needs a number")?;
                options.port = port.parse().map_err(|_| format!("--port: `{port}` is not a port number"))?;
            }
            "--db" => options.db = args.next().ok_or("--db needs a path")?.into(),
            "--build-only" => options.build_only = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: cargo xtask todo [--port N] [--db PATH] [--build-only]"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs `cargo xtask todo` with the arguments after `todo`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask has no parent directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let site = workspace.join("target").join("todo-web");
    build_site(workspace, &target, &site)?;
    if options.build_only {
        eprintln!("xtask: the todo site is in {}", site.display());
        return Ok(());
    }
    serve(workspace, &target, &site, &options)
}

/// Builds the client into `site`: the wasm, its bindings, the page and its CSS.
fn build_site(workspace: &Path, target: &Path, site: &Path) -> Result<(), String> {
    ensure_rust_target(WASM_TARGET)?;
    ensure_wasm_bindgen_cli()?;
    cargo(workspace, &["build", "-p", "todo-web", "--lib", "--target", WASM_TARGET, "--profile", "wasm-release"])?;
    let wasm = target.join(WASM_TARGET).join("wasm-release").join("todo_web.wasm");
    let pkg = site.join("pkg");
    let bound = pkg.join("todo_web_bg.wasm");
    if modified(&bound).is_some_and(|out| modified(&wasm).is_some_and(|input| out >= input)) {
        eprintln!("xtask: {} is up to date", bound.display());
    } else {
        let wasm_arg = wasm.to_str().ok_or("the target directory's path is not UTF-8")?;
        let pkg_arg = pkg.to_str().ok_or("the workspace's path is not UTF-8")?;
        crate::run(
            "wasm-bindgen",
            &[
                "--target",
                "web",
                "--no-typescript",
                "--remove-name-section",
                "--remove-producers-section",
                "--out-dir",
                pkg_arg,
                wasm_arg,
            ],
        )?;
    }
    let web = workspace.join("examples").join("todo").join("web");
    for file in ["index.html", "style.css"] {
        let (from, to) = (web.join(file), site.join(file));
        std::fs::copy(&from, &to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    }
    let size = std::fs::metadata(&bound).map_err(|e| format!("cannot stat {}: {e}", bound.display()))?.len();
    eprintln!("xtask: todo-web wasm is {} KB", size / 1024);
    Ok(())
}

/// Builds the server and runs it until it exits (Ctrl-C stops both).
fn serve(workspace: &Path, target: &Path, site: &Path, options: &Options) -> Result<(), String> {
    cargo(workspace, &["build", "-p", "todo", "--bin", "todo"])?;
    let binary = target.join("debug").join(format!("todo{}", std::env::consts::EXE_SUFFIX));
    let mut server = Command::new(&binary)
        .current_dir(workspace)
        .arg("--db")
        .arg(&options.db)
        .arg("--port")
        .arg(options.port.to_string())
        .arg("--web")
        .arg(site)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    // The server's first line on stdout is `listening on http://ADDR`.
    let stdout = server.stdout.take().ok_or("the server's stdout was not captured")?;
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).map_err(|e| format!("cannot read the server's output: {e}"))?;
    match first.trim().strip_prefix("listening on ") {
        Some(url) => {
            println!("\nThe todo app is running: open {url}/?user=alice");
            println!("(another user: {url}/?user=bob; a second browser profile or tab shows sync; Ctrl-C stops)\n");
        }
        None => eprintln!("xtask: the server did not say where it listens ({:?})", first.trim()),
    }
    let status = server.wait().map_err(|e| format!("cannot wait for the server: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("the todo server exited ({status})")) }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn cargo(workspace: &Path, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new("cargo")
        .current_dir(workspace)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed ({status})", args.join(" "))) }
}
