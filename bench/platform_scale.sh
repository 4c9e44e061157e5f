#!/usr/bin/env bash
# A third-party platform at scale (DESIGN.md "Third-party platforms"): the
# sandbox starts with AUTHORIZERS accounts (default 100000) that authorized
# the platform before wxtokend knew it; wxtokend is configured with the
# platform and takes them over through its list pass. Prints
#   - the time from wxtokend's start until the pass listed them all, and RSS;
#   - GetToken throughput on an authorizer's key against an own app's
#     (wxtoken-load, GetToken vs Health/Check, same settings);
#   - a restart on the stored state: time until SERVING and the first
#     authorizer GetToken answered, fetches during it (none is right), RSS.
# Everything stays on 127.0.0.1 and every load is bounded.
#   bench/platform_scale.sh BUILD_DIR [AUTHORIZERS]
set -euo pipefail
build=$(cd "$1" && pwd)
authorizers=${2:-100000}
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
# Waits (up to $3 tenths of a second, default 600) until file $1 has a line
# matching $2 and prints the first group.
wait_for() {
  for _ in $(seq 1 "${3:-600}"); do
    value=$(sed -nE "s/.*$2.*/\\1/p" "$1" | head -n 1)
    if [ -n "$value" ]; then echo "$value"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $2 in $1" >&2
  return 1
}

platform=wxcomponentbench01
app=wxbenchownapp00001
"$build/tests/sandbox/wechat-sandbox" --listen 127.0.0.1:0 \
  --app "$app:bench-secret" --platform "$platform:bench-component-secret" \
  --platform_authorizers "$authorizers" --daily_quota 100000 \
  >"$work/sandbox.out" 2>&1 &
pids+=($!)
sandbox_port=$(wait_for "$work/sandbox.out" 'listening 127\.0\.0\.1:([0-9]+)' 3000)
sandbox="http://127.0.0.1:$sandbox_port"

printf 'bench-component-secret\n' >"$work/component.secret"
printf 'benchtoken\n' >"$work/server.token"
aes_key=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
printf '%s\n' "$aes_key" >"$work/aes.key"
head -c 32 /dev/urandom | base64 >"$work/vault.key"
export WXTOKEN_BENCH_SECRET=bench-secret
cat >"$work/wxtokend.yaml" <<YAML
listen: "127.0.0.1:0"
metrics_listen: ""
push_listen: "127.0.0.1:0"
state_dir: "$work/state"
upstream:
  base_urls: ["$sandbox"]
apps:
  - app_id: "$app"
    secret_env: WXTOKEN_BENCH_SECRET
platforms:
  - component_app_id: "$platform"
    secret_file: "$work/component.secret"
    server_token_file: "$work/server.token"
    encoding_aes_key_file: "$work/aes.key"
    vault_key_file: "$work/vault.key"
YAML

stat_of() {
  curl -s "$sandbox/sandbox/stats" | /usr/bin/python3 -c "
import json, sys
print(int(json.load(sys.stdin)['platforms']['$platform']['$1']))"
}
start_wxtokend() {  # $1: label; sets pid, port
  local log="$work/wxtokend.$1.log"
  "$build/server/wxtokend" --config "$work/wxtokend.yaml" --log_format text \
    2>"$log" &
  pid=$!
  pids+=("$pid")
  port=$(wait_for "$log" 'grpc_port=([0-9]+)')
  push_port=$(wait_for "$log" 'push_port=([0-9]+)')
}
authorizer_token() {  # GetToken on the first authorizer, until answered
  until "$build/client/wxtoken" --addr "127.0.0.1:$port" --timeout 10s \
    get "$platform/wxbench0000000001" >/dev/null 2>&1; do
    sleep 0.05
  done
}

echo "platform_scale: $authorizers authorizers"
start=$(now)
start_wxtokend start
curl -s -d "" "$sandbox/sandbox/platform/push_target?component_appid=$platform&url=http://127.0.0.1:$push_port/wechat/platform/$platform&server_token=benchtoken&encoding_aes_key=$aes_key" >/dev/null
curl -s -d "" "$sandbox/sandbox/platform/ticket?component_appid=$platform" >/dev/null
listed=$(wait_for "$work/wxtokend.start.log" 'authorizer list pass complete.* listed=([0-9]+)' 3000)
printf 'takeover: %s listed in %.2f s (list pages: %s, authorizer fetches: %s), RSS %s MiB\n' \
  "$listed" "$(echo "$(now) - $start" | bc)" "$(stat_of list_calls)" \
  "$(stat_of authorizer_token_calls)" "$(rss_mib "$pid")"

authorizer_token
for key in "$platform/wxbench0000000001" "$app"; do
  echo "GetToken on $key:"
  "$build/bench/wxtoken-load" --addr "127.0.0.1:$port" --app_id "$key" \
    --mode compare --round 2s --rounds 3 --max_requests 2000000 |
    grep -E '^\| (GetToken|Health)|throughput'
done

# Operations at this scale: every owner paged through ListOwners (1,000 a
# page), and the ones needing attention found by state.
start=$(now)
owners=$("$build/client/wxtoken" --addr "127.0.0.1:$port" --timeout 30s \
  status | tail -n +2 | wc -l) || true
printf 'wxtoken status: %s lines (every owner and kind) in %.2f s\n' \
  "$owners" "$(echo "$(now) - $start" | bc)"
start=$(now)
idle=$("$build/client/wxtoken" --addr "127.0.0.1:$port" --timeout 30s \
  status --prefix "$platform/" --state idle | tail -n +2 | wc -l) || true
printf 'wxtoken status --state idle: %s authorizers in %.2f s\n' \
  "$idle" "$(echo "$(now) - $start" | bc)"

kill -TERM "$pid"
wait "$pid" || true
fetches=$(stat_of authorizer_token_calls)
start=$(now)
start_wxtokend restart
until "$build/client/wxtoken" --addr "127.0.0.1:$port" --timeout 10s \
  health wxtoken.v1.TokenController >/dev/null 2>&1; do
  sleep 0.05
done
serving=$(echo "$(now) - $start" | bc)
authorizer_token
printf 'restart: SERVING after %.2f s, first authorizer GetToken after %.2f s, %d authorizer fetches, RSS %s MiB\n' \
  "$serving" "$(echo "$(now) - $start" | bc)" \
  "$(($(stat_of authorizer_token_calls) - fetches))" "$(rss_mib "$pid")"
