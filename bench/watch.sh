#!/usr/bin/env bash
# WatchToken fan-out: WATCHERS (default 10000) streams on one wxtokend, a
# token rotated ROUNDS (default 5) times with ForceRefresh, against
# wechat-sandbox on 127.0.0.1. Prints the time from each ForceRefresh answer
# to the first, median and last stream holding the new value, wxtokend's RSS
# without and with the watchers, and GetToken throughput without watchers
# and during the fan-out (bench/watch_fanout.cc).
#   bench/watch.sh BUILD_DIR [WATCHERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
watchers=${2:-10000}
rounds=${3:-5}
source scripts/lib/local-stack.sh

app=wxwatch0000000001
local_stack_start "$build" "$app" "refresh:
  force_min_interval: \"1s\""
pid=$wxtokend_pid
"$build/bench/wxtoken-watch-fanout" --addr "127.0.0.1:$grpc_port" \
  --app_id "$app" --watchers "$watchers" --rounds "$rounds" --server_pid "$pid"
