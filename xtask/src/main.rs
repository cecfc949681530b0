//! Project automation: `cargo xtask test` installs what the tests need (only
//! what is missing: the wasm32 target, wasm-bindgen-cli at the locked version,
//! Chromium and its driver) and runs every test, native and in the browser; CI
//! runs exactly this. `cargo xtask web` runs only the browser suite.
//! `cargo xtask todo` builds the todo quick start's web client and runs its
//! server (see `todo_app`).

use std::process::{Command, ExitCode};

mod e2e;
mod todo_app;
mod web_sync;
mod worker;

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "web" => web(),
        "bench" => bench(),
        "sim" => simulate(std::env::args().nth(2).unwrap_or_else(|| "10000".to_owned())),
        "planted" => planted(std::env::args().skip(2).collect()),
        "e2e" => e2e::run(),
        "worker" => worker::run(if std::env::args().skip(2).any(|a| a == "--bench") {
            worker::Mode::Bench
        } else {
            worker::Mode::Test
        }),
        "todo" => todo_app::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|web|e2e|worker|bench|sim|planted|todo>\n  test   install missing tools, run every test (native, browser, end to end)\n  web    install missing browser tools, run the browser suite (IndexedDB in headless Chromium) and the browser sync test\n  e2e    the todo app end to end in two headless Chromium profiles (npm playwright-core, the real server)\n  worker [--bench]  the todo Worker on a local D1 (wrangler dev --local): native tests, the bad-input table, the browser sync test; --bench: its figures beside axum\n  bench  run the benchmarks and print their figures\n  sim N  run the deterministic sync simulation for N seeds (default 10000)\n  planted [NAME..]  apply each bug in tests/planted/ in turn, run the test that must catch it, revert\n  todo [--port N] [--db PATH] [--build-only]  build the todo web client, run its server, print the URL"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<(), String> {
    ensure_rust_target(WASM_TARGET)?;
    run("cargo", &["test", "--workspace", "--all-targets"])?;
    run("cargo", &["test", "--workspace", "--doc"])?;
    // The core must keep building for the browser without SQLite, and the
    // browser apps (the README's minimal one, the benchmark's) with it.
    run("cargo", &["check", "-p", "plasma", "--no-default-features", "--target", WASM_TARGET])?;
    run("cargo", &["check", "-p", "web-minimal", "-p", "plasma-browser-bench", "--lib", "--target", WASM_TARGET])?;
    // The Leptos bindings and the todo quick start's web client (wasm32-only crates).
    run(
        "cargo",
        &["clippy", "-p", "plasma-leptos", "-p", "todo-web", "--target", WASM_TARGET, "--", "-D", "warnings"],
    )?;
    // The framework-agnostic server (`SyncServer::handle`) must build without axum.
    run("cargo", &["check", "-p", "plasma", "--no-default-features", "--features", "server"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    run(
        "cargo",
        &[
            "clippy",
            "-p",
            "plasma",
            "--target",
            WASM_TARGET,
            "--no-default-features",
            "--features",
            "web",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    web()?;
    // The todo app end to end: two Chromium profiles against a real server.
    e2e::run()?;
    // The todo Worker on a local D1 (wrangler dev), native and browser clients.
    run("cargo", &["clippy", "-p", "todo-worker", "--target", WASM_TARGET, "--", "-D", "warnings"])?;
    worker::run(worker::Mode::Test)
}

/// The browser suite (`tests/web`): installs what it needs, then runs it in headless Chromium.
fn web() -> Result<(), String> {
    ensure_rust_target(WASM_TARGET)?;
    ensure_wasm_bindgen_cli()?;
    ensure_chromium()?;
    eprintln!("xtask: browser suite (headless Chromium)");
    let status = Command::new("cargo")
        .args(["test", "-p", "plasma-web-tests", "--target", WASM_TARGET])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner")
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("browser suite failed ({status})"));
    }
    eprintln!("xtask: browser sync (a wasm client in Chromium and a native client against a real todo server)");
    web_sync::run()
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The version of the `wasm-bindgen` package in Cargo.lock: the CLI must match it exactly.
fn locked_wasm_bindgen() -> Result<String, String> {
    let lock = std::fs::read_to_string("Cargo.lock").map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next().and_then(|l| l.trim().strip_prefix("version = \""));
            return version
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
                .ok_or_else(|| "Cargo.lock: `wasm-bindgen` has no version line".to_owned());
        }
    }
    Err("Cargo.lock has no `wasm-bindgen` package".to_owned())
}

/// Installs wasm-bindgen-cli (`wasm-bindgen`, `wasm-bindgen-test-runner`) at the
/// locked version unless `wasm-bindgen --version` already reports it.
pub(crate) fn ensure_wasm_bindgen_cli() -> Result<(), String> {
    let want = locked_wasm_bindgen()?;
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let runner = Command::new("wasm-bindgen-test-runner").arg("--version").output().is_ok_and(|o| o.status.success());
    if runner && have.as_deref() == Some(&format!("wasm-bindgen {want}")) {
        return Ok(());
    }
    eprintln!(
        "xtask: wasm-bindgen-cli {want} needed (found {}); building it (a few minutes)",
        have.as_deref().unwrap_or("none")
    );
    // No `--locked`: one of its locked dependencies is not on the registry.
    run("cargo", &["install", "wasm-bindgen-cli", "--version", &want])
}

/// Installs Debian's `chromium` and `chromium-driver` when either binary is
/// missing (as root, as CI runs; otherwise says what to install).
pub(crate) fn ensure_chromium() -> Result<(), String> {
    let missing: Vec<&str> =
        [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !std::path::Path::new(p).exists()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let uid = Command::new("id").arg("-u").output().map_err(|e| format!("cannot run id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err(format!(
            "{} missing; install them with `sudo apt-get install -y chromium chromium-driver` (or run as root)",
            missing.join(" and ")
        ));
    }
    let install = ["install", "-y", "--no-install-recommends", "chromium", "chromium-driver"];
    if apt(&install).is_err() {
        apt(&["update"])?;
        apt(&install)?;
    }
    Ok(())
}

fn apt(args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`apt-get {}` failed ({status})", args.join(" "))) }
}

fn bench() -> Result<(), String> {
    run("cargo", &["run", "--release", "-p", "plasma-benches", "--bin", "bench-report"])?;
    run("cargo", &["bench", "-p", "plasma-benches"])
}

fn simulate(seeds: String) -> Result<(), String> {
    seeds.parse::<u64>().map_err(|_| format!("`{seeds}` is not a number of seeds"))?;
    eprintln!("xtask: simulating {seeds} seeds (SIM_SEEDS={seeds})");
    let status = Command::new("cargo")
        .args(["test", "--release", "-p", "plasma-tests", "--test", "simulation", "--", "--nocapture"])
        .env("SIM_SEEDS", &seeds)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("simulation failed; each failing seed printed its replay command".to_owned())
    }
}

pub(crate) fn ensure_rust_target(target: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    run("rustup", &["target", "add", target])
}

pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: {program} {}", args.join(" "));
    let status = Command::new(program).args(args).status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}

/// Where the planted bugs live: one `.patch` per bug, each with a
/// `Caught-by: <cargo arguments>` line before its diff.
const PLANTED_DIR: &str = "tests/planted";

/// Reverts a planted patch when dropped, so the tree is restored even if
/// running the test panics.
struct Applied<'a>(&'a str);

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        let reverted = Command::new("git").args(["apply", "-R", self.0]).status();
        if !reverted.is_ok_and(|s| s.success()) {
            eprintln!("xtask: could not revert {}: run `git apply -R {}` by hand", self.0, self.0);
        }
    }
}

/// Applies each planted bug (all, or those named) to the working tree, runs
/// the test named in its `Caught-by:` line, always reverts, and reports
/// whether the test failed (caught) or passed (missed).
fn planted(only: Vec<String>) -> Result<(), String> {
    let dirty = Command::new("git")
        .args(["diff", "--quiet", "--", "plasma-runtime"])
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !dirty.success() {
        return Err("plasma-runtime has uncommitted changes; commit or stash them first".to_owned());
    }
    let mut patches: Vec<String> = std::fs::read_dir(PLANTED_DIR)
        .map_err(|e| format!("cannot read {PLANTED_DIR}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .filter_map(|p| p.to_str().map(str::to_owned))
        .filter(|p| only.is_empty() || only.iter().any(|n| p.contains(n.as_str())))
        .collect();
    patches.sort();
    let logs = std::path::Path::new("target/planted");
    std::fs::create_dir_all(logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let mut report = Vec::new();
    for patch in &patches {
        let text = std::fs::read_to_string(patch).map_err(|e| format!("cannot read {patch}: {e}"))?;
        let Some(caught_by) = text.lines().find_map(|l| l.strip_prefix("Caught-by:")) else {
            return Err(format!("{patch} has no `Caught-by:` line"));
        };
        let mut words = caught_by.split_whitespace();
        let mut envs = Vec::new();
        let mut args = Vec::new();
        for w in words.by_ref() {
            match w.split_once('=') {
                Some((k, v)) if args.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                    envs.push((k.to_owned(), v.to_owned()))
                }
                _ => args.push(w.to_owned()),
            }
        }
        if !Command::new("git").args(["apply", patch.as_str()]).status().is_ok_and(|s| s.success()) {
            report.push(format!("{patch}: DOES NOT APPLY"));
            continue;
        }
        let applied = Applied(patch);
        eprintln!("xtask: {patch}: cargo {}", args.join(" "));
        let started = std::time::Instant::now();
        let output = Command::new("cargo")
            .args(&args)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        drop(applied);
        let log = logs.join(format!(
            "{}.log",
            std::path::Path::new(patch).file_stem().and_then(|s| s.to_str()).unwrap_or("patch")
        ));
        let mut all = output.stdout.clone();
        all.extend_from_slice(&output.stderr);
        std::fs::write(&log, &all).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        let out = String::from_utf8_lossy(&all);
        let verdict = if output.status.success() {
            "MISSED"
        } else if out.contains("test result: FAILED") || out.contains("panicked") {
            "caught"
        } else {
            "BROKEN (did not build?)"
        };
        let failed_seeds = out.lines().filter(|l| l.starts_with("seed ")).count();
        let seeds = if failed_seeds > 0 { format!(", {failed_seeds} seeds failed") } else { String::new() };
        report.push(format!("{patch}: {verdict} in {:.0?}{seeds} (log: {})", started.elapsed(), log.display()));
    }
    for line in &report {
        println!("{line}");
    }
    if report.iter().all(|l| l.contains(": caught")) {
        Ok(())
    } else {
        Err("some planted bugs were not caught".to_owned())
    }
}
