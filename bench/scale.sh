#!/usr/bin/env bash
# Start at scale: N apps (default 1000) against wechat-sandbox on 127.0.0.1.
# Prints the time from starting wxtokend until every app is SERVING, the
# upstream fetches per app (exactly one is right), request timeouts in the
# log (none is right) and wxtokend's RSS; then restarts wxtokend on its
# state_dir and prints the same for the restart (no fetch is right).
#   bench/scale.sh BUILD_DIR [APPS]
set -euo pipefail
build=$(cd "$1" && pwd)
apps=${2:-1000}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# Waits until file $1 has a line matching $2 and prints the first group.
wait_for() {
  for _ in $(seq 1 600); do
    value=$(sed -nE "s/.*$2.*/\\1/p" "$1" | head -n 1)
    if [ -n "$value" ]; then echo "$value"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $2 in $1" >&2
  return 1
}

for i in $(seq 1 "$apps"); do printf 'wxscale%012d:bench-secret\n' "$i"; done \
  >"$work/apps.txt"
"$build/tests/sandbox/wechat-sandbox" --listen 127.0.0.1:0 \
  --apps_file "$work/apps.txt" --daily_quota 100000 >"$work/sandbox.out" 2>&1 &
pids+=($!)
sandbox_port=$(wait_for "$work/sandbox.out" 'listening 127\.0\.0\.1:([0-9]+)')

export WXTOKEN_BENCH_SECRET=bench-secret
{
  cat <<YAML
listen: "127.0.0.1:0"
metrics_listen: ""
state_dir: "$work/state"
upstream:
  base_urls: ["http://127.0.0.1:$sandbox_port"]
apps:
YAML
  for i in $(seq 1 "$apps"); do
    printf '  - app_id: "wxscale%012d"\n    secret_env: WXTOKEN_BENCH_SECRET\n' "$i"
  done
} >"$work/wxtokend.yaml"

token_calls() {
  curl -s "http://127.0.0.1:$sandbox_port/sandbox/stats" | /usr/bin/python3 -c '
import json, sys
apps = json.load(sys.stdin)["apps"]
print(sum(int(a["token_calls"]) for a in apps.values()))'
}

# Starts wxtokend, waits for every app to be SERVING, prints one line.
run() {
  local label=$1 log="$work/wxtokend.$1.log" before start pid port
  before=$(token_calls)
  start=$(now)
  "$build/server/wxtokend" --config "$work/wxtokend.yaml" --log_format text \
    2>"$log" &
  pid=$!
  pids+=("$pid")
  port=$(wait_for "$log" 'grpc_port=([0-9]+)')
  until "$build/client/wxtoken" --addr "127.0.0.1:$port" --timeout 10s \
    health wxtoken.v1.TokenController >/dev/null 2>&1; do
    sleep 0.05
  done
  local elapsed fetched timeouts
  elapsed=$(echo "$(now) - $start" | bc)
  fetched=$(($(token_calls) - before))
  timeouts=$(grep -c "timeout" "$log" || true)
  printf '%-8s %6d apps: all SERVING after %6.2f s, %d upstream fetches (%s per app), %d timeouts, RSS %s MiB\n' \
    "$label" "$apps" "$elapsed" "$fetched" \
    "$(echo "scale=2; $fetched / $apps" | bc)" "$timeouts" "$(rss_mib "$pid")"
  kill -TERM "$pid"
  wait "$pid" || true
}

run start
run restart
