#!/usr/bin/env bash
# A ForceRefresh flood: SECONDS (default 60) of wxtoken-flood against
# wxtokend and wechat-sandbox on 127.0.0.1, with force_min_interval 5s.
# Prints the flood's answers, wxtokend's RSS before, at most and after, and
# the upstream fetches the flood caused (at most one per force_min_interval
# is right).
#   bench/flood.sh BUILD_DIR [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
seconds=${2:-60}
concurrency=${3:-2000}
source scripts/lib/local-stack.sh

app=wxflood0000000001
local_stack_start "$build" "$app" "refresh:
  force_min_interval: \"5s\""
pid=$wxtokend_pid
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }

before_rss=$(rss_kib)
before_fetches=$(sandbox_token_calls "$app")
max_rss=$before_rss
"$build/bench/wxtoken-flood" --addr "127.0.0.1:$grpc_port" --app_id "$app" \
  --duration "${seconds}s" --concurrency "$concurrency" &
flood=$!
while kill -0 "$flood" 2>/dev/null; do
  rss=$(rss_kib)
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  sleep 1
done
wait "$flood"
sleep 1
after_fetches=$(sandbox_token_calls "$app")
fetches=$((after_fetches - before_fetches))
echo "wxtokend RSS: before $((before_rss / 1024)) MiB, at most $((max_rss / 1024)) MiB, after $(($(rss_kib) / 1024)) MiB"
echo "upstream fetches during the flood: $fetches (force_min_interval 5s: at most $((seconds / 5 + 1)))"
