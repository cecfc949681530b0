//! `e2e::run()`: the todo web app's end-to-end suite (`tests/e2e/todo.e2e.mjs`)
//! in real headless Chromium, against the real `todo` server.
//!
//! 1. `npm ci` in `tests/e2e`, only when `package-lock.json` differs from the
//!    one the last successful install recorded in `node_modules/`;
//! 2. builds the site (`cargo xtask todo --build-only`, into `TARGET/todo-web`)
//!    and the `todo` server binary;
//! 3. runs `node --test todo.e2e.mjs` with `TODO_BIN`, `TODO_WEB` and `E2E_OUT`
//!    (`TARGET/e2e`, where the screenshot goes). The suite owns its servers:
//!    it starts `todo --web TODO_WEB --db TMP/... --port 0` on 127.0.0.1, reads
//!    `listening on http://ADDR`, and restarts it on the same port and database
//!    for the offline scenario;
//! 4. whatever happened: kills the suite's whole process group (node, its
//!    servers, Chromium) and removes the temporary directory (`TMPDIR` of the
//!    suite: its databases and browser profiles).
//!
//! Every step has a deadline, so the run ends by itself.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `npm ci` (playwright-core only, no browser download).
const NPM_CI: Duration = Duration::from_secs(600);
/// Each cargo build.
const BUILD: Duration = Duration::from_secs(1800);
/// The whole node suite (it also has its own, shorter, deadline).
const SUITE: Duration = Duration::from_secs(420);
/// Where `npm ci` records the lock file it installed.
const STAMP: &str = "node_modules/.plasma-package-lock.json";

/// Runs the end-to-end suite (see the module docs).
pub fn run() -> Result<(), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask has no parent directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let target = if target.is_absolute() { target } else { workspace.join(target) };
    let suite_dir = workspace.join("tests").join("e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} missing; install Debian's chromium (apt-get install -y chromium)"));
    }

    npm_ci(&suite_dir)?;
    run_for(workspace, "cargo", &["xtask", "todo", "--build-only"], &[], BUILD)?;
    run_for(workspace, "cargo", &["build", "-p", "todo", "--bin", "todo"], &[], BUILD)?;
    let web = site(workspace, &target)?;
    let bin = target.join("debug").join("todo");
    let out = target.join("e2e");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let tmp = std::env::temp_dir().join(format!("plasma-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    eprintln!("xtask: e2e suite (headless Chromium, todo server {}, site {})", bin.display(), web.display());
    let env = [
        ("TODO_BIN", bin.as_os_str()),
        ("TODO_WEB", web.as_os_str()),
        ("E2E_OUT", out.as_os_str()),
        ("CHROMIUM", chromium.as_ref()),
        ("TMPDIR", tmp.as_os_str()),
    ];
    let result = run_for(&suite_dir, "node", &["--test", "--test-concurrency=1", "todo.e2e.mjs"], &env, SUITE);
    let _ = std::fs::remove_dir_all(&tmp);
    result.map_err(|e| format!("{e}; the screenshot (if taken) is in {}", out.display()))
}

/// Where `cargo xtask todo --build-only` put the site: `todo-web` under the
/// target directory in use or under the workspace's `target/`, whichever was
/// built last.
fn site(workspace: &Path, target: &Path) -> Result<PathBuf, String> {
    let candidates = [target.join("todo-web"), workspace.join("target").join("todo-web")];
    let modified = |dir: &Path| std::fs::metadata(dir.join("pkg")).and_then(|m| m.modified()).ok();
    candidates.iter().filter(|dir| dir.join("index.html").exists()).max_by_key(|dir| modified(dir)).cloned().ok_or_else(
        || format!("the site build left no index.html in {} or {}", candidates[0].display(), candidates[1].display()),
    )
}

/// `npm ci` unless `node_modules` already holds what this `package-lock.json` locks.
pub(crate) fn npm_ci(dir: &Path) -> Result<(), String> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("cannot read {}/package-lock.json: {e}", dir.display()))?;
    let stamp = dir.join(STAMP);
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    run_for(dir, "npm", &["ci", "--no-audit", "--no-fund"], &[], NPM_CI)?;
    std::fs::write(&stamp, &lock).map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}

/// Runs `program args` in `dir` in a process group of its own; past `limit`,
/// or once it exits, the whole group is killed (so nothing it started lingers).
pub(crate) fn run_for(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    limit: Duration,
) -> Result<(), String> {
    let what = format!("`{program} {}`", args.join(" "));
    eprintln!("xtask: {what} (in {}, limit {limit:?})", dir.display());
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    finish(&what, child, Instant::now() + limit)
}

fn finish(what: &str, mut child: Child, deadline: Instant) -> Result<(), String> {
    let group = child.id();
    let result = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break Ok(()),
            Ok(Some(status)) => break Err(format!("{what} failed ({status})")),
            Ok(None) if Instant::now() >= deadline => {
                // TERM first, so the suite can close Chromium and its servers.
                kill_group(group, "TERM");
                let grace = Instant::now() + Duration::from_secs(10);
                while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("{what} did not finish in time; stopped"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => break Err(format!("cannot wait for {what}: {e}")),
        }
    };
    // Whatever is left of the group (a server, a browser) goes too.
    kill_group(group, "KILL");
    result
}

pub(crate) fn kill_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{group}")])
        .stderr(std::process::Stdio::null())
        .status();
}
