#!/usr/bin/env bash
# The demo: builds wxtoken, starts wechat-sandbox (a local WeChat emulator)
# and wxtokend on loopback, and fetches a token through the wxtoken CLI.
# Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
TARGETS="wxtokend wechat-sandbox wxtoken" CMAKE_ARGS="-DWXTOKEN_BUILD_TESTS=ON" \
  ./scripts/build.sh
build="$PWD/${BUILD_DIR:-build}"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until file $1 has a line matching $2 and prints the first group.
wait_for() {
  for _ in $(seq 1 300); do
    if value=$(sed -nE "s/.*$2.*/\\1/p" "$1" | head -n 1) && [ -n "$value" ]; then
      echo "$value"
      return 0
    fi
    sleep 0.1
  done
  echo "demo: timed out waiting for $1" >&2
  cat "$1" >&2
  return 1
}

app=wxd0000000000de00
"$build/tests/sandbox/wechat-sandbox" --listen 127.0.0.1:0 \
  --app "$app:demo-app-secret" >"$work/sandbox.out" 2>&1 &
pids+=($!)
sandbox_port=$(wait_for "$work/sandbox.out" 'listening 127\.0\.0\.1:([0-9]+)')

printf 'demo-app-secret\n' >"$work/secret"
printf 'demo-server-token\n' >"$work/server_token"
chmod 600 "$work/secret" "$work/server_token"
cat >"$work/wxtokend.yaml" <<YAML
listen: "127.0.0.1:0"
metrics_listen: ""
state_dir: "$work/state"
upstream:
  base_urls: ["http://127.0.0.1:$sandbox_port"]
apps:
  - app_id: "$app"
    secret_file: "$work/secret"
    server_token_file: "$work/server_token"
YAML
"$build/server/wxtokend" --config "$work/wxtokend.yaml" --log_format text \
  2>"$work/wxtokend.log" &
pids+=($!)
port=$(wait_for "$work/wxtokend.log" 'grpc_port=([0-9]+)')
cli=("$build/client/wxtoken" --addr "127.0.0.1:$port")

for _ in $(seq 1 100); do
  "${cli[@]}" health >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== wechat-sandbox on 127.0.0.1:$sandbox_port, wxtokend on 127.0.0.1:$port"
echo "== wxtoken health"
"${cli[@]}" health
echo "== wxtoken get $app"
"${cli[@]}" get "$app"
echo "== wxtoken --json get $app"
"${cli[@]}" --json get "$app"
echo "== wxtoken log"
cat "$work/wxtokend.log"
