#!/usr/bin/env bash
# One-shot benchmark: install (idempotent), bundle, serve on 127.0.0.1, run headless
# Chromium via playwright-core, write results/, stop the server. Always bounded in time.
#
# Env: RUNS (15) WARMUPS (2) SUITES (idb,replicache,plasma) CASES (comma list of case ids, optional)
#      TOTAL_TIMEOUT seconds for the measuring step (900) CHROMIUM (/usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")"

TOTAL_TIMEOUT="${TOTAL_TIMEOUT:-900}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  echo "run.sh: $CHROMIUM not found; install Debian's build: apt-get update && apt-get install -y chromium chromium-driver" >&2
  exit 2
fi

# 1. install: only when package-lock.json changed since the last successful install
stamp=node_modules/.anchor-bench-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  timeout 600 npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# 2. bundle the in-page suites (ESM, one file per suite: src/<suite>.js -> dist/<suite>.js)
export SUITES="${SUITES:-idb,replicache,plasma}"
entries=()
for s in ${SUITES//,/ }; do
  [ -f "src/$s.js" ] || { echo "run.sh: no src/$s.js for suite '$s'" >&2; exit 2; }
  entries+=("src/$s.js")
done
rm -rf dist
timeout 120 node_modules/.bin/esbuild "${entries[@]}" \
  --bundle --format=esm --target=es2022 --sourcemap --outdir=dist --log-level=warning \
  --external:../pkg/*

# 3. static server on 127.0.0.1, free port (and plasma's sync server)
tmp="$(mktemp -d /tmp/anchor-bench-run.XXXXXX)"
SERVER_PID=""
KV_PID=""
cleanup() {
  for pid in $SERVER_PID $KV_PID; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [[ ",$SUITES," == *",plasma,"* ]]; then
  # plasma's suite: the wasm client (release), its JS glue in pkg/, and the
  # native server initial syncs pull from, seeded with 100,000 x 1 KB.
  root="$(cd ../.. && pwd)"
  target="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && cargo build --release --target wasm32-unknown-unknown -p plasma-browser-bench --lib)
  (cd "$root" && cargo build --release -p plasma-browser-bench --bin kv-server)
  rm -rf pkg
  wasm-bindgen --target web --out-dir pkg "$target/wasm32-unknown-unknown/release/plasma_browser_bench.wasm"
  echo "plasma wasm: $(stat -c %s pkg/plasma_browser_bench_bg.wasm) bytes raw, $(gzip -9c pkg/plasma_browser_bench_bg.wasm | wc -c) gzipped"
  urls=()
  for rows in 10000 100000; do
    "$target/release/kv-server" --db "$tmp/kv$rows.db" --rows "$rows" > "$tmp/kv$rows.log" 2>&1 &
    KV_PID="$KV_PID $!"
    for _ in $(seq 1 600); do
      grep -q '^listening on ' "$tmp/kv$rows.log" && break
      sleep 0.1
    done
    grep -q '^listening on ' "$tmp/kv$rows.log" || { echo "run.sh: kv-server did not start" >&2; cat "$tmp/kv$rows.log" >&2; exit 3; }
    urls+=("$(sed -n 's/^listening on //p' "$tmp/kv$rows.log" | head -1)")
  done
  export PLASMA_SYNC_URL="${urls[0]},${urls[1]}"
  echo "kv-servers (10k, 100k rows) at $PLASMA_SYNC_URL"
fi
PORT=0 PORT_FILE="$tmp/port" node serve.mjs . > "$tmp/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.1
done
[ -s "$tmp/port" ] || { echo "run.sh: static server did not start" >&2; cat "$tmp/server.log" >&2; exit 3; }
BASE="http://127.0.0.1:$(cat "$tmp/port")"
echo "server pid $SERVER_PID at $BASE"

# 4. measure (hard time limit; SIGTERM lets the driver close Chromium, SIGKILL 15 s later)
mkdir -p results
status=0
timeout --kill-after=15 "$TOTAL_TIMEOUT" node driver.mjs --base "$BASE" --out results || status=$?
if [ "$status" -eq 124 ]; then echo "run.sh: measuring step hit TOTAL_TIMEOUT=${TOTAL_TIMEOUT}s" >&2; fi
exit "$status"
