//! Project automation: `cargo xtask test` installs what the tests need (only
//! what is missing) and runs every test; CI runs exactly this.

use std::process::{Command, ExitCode};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "bench" => bench(),
        "sim" => simulate(std::env::args().nth(2).unwrap_or_else(|| "10000".to_owned())),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|bench>\n  test   install missing tools, run every test\n  bench  run the benchmarks and print their figures\n  sim N  run the deterministic sync simulation for N seeds (default 10000)"
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
    // The core must keep building for the browser without SQLite.
    run("cargo", &["check", "-p", "plasma", "--no-default-features", "--target", WASM_TARGET])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    Ok(())
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

fn ensure_rust_target(target: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    run("rustup", &["target", "add", target])
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: {program} {}", args.join(" "));
    let status = Command::new(program).args(args).status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}
