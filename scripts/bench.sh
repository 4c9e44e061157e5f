#!/usr/bin/env bash
# The benchmarks, in one command: builds the shipped configuration
# (RelWithDebInfo, as the Dockerfile does), starts
# wechat-sandbox and wxtokend on 127.0.0.1, and prints
#   1. GetToken vs grpc.health.v1 Health/Check (the empty-RPC baseline),
#      side by side with the same settings, and their throughput ratio;
#   2. a ForceRefresh storm: N concurrent callers -> upstream fetches;
#   3. the C++ client library's cached GetToken, ns per call (1 to 8
#      threads; both forms, and a plain copy for comparison);
#   4. a ForceRefresh flood (FLOOD_SECONDS, default 60): answers, wxtokend's
#      RSS and the upstream fetches it caused (bench/flood.sh);
#   5. start at scale (SCALE_APPS, default "1000 10000"): time to all
#      SERVING, fetches per app, timeouts, RSS, and the same for a restart on
#      the stored tokens (bench/scale.sh);
#   6. WatchToken fan-out to WATCHERS (default 10000) streams: time from a
#      rotation to the last stream, RSS, GetToken throughput meanwhile
#      (bench/watch.sh);
#   7. GetToken vs Health/Check with h2load, the standard HTTP/2 load tool:
#      throughput and wxtokend's CPU per call, alternating rounds, medians
#      (bench/h2load.sh), then Health/Check against itself (AA=1), which
#      shows how far the method moves between identical calls;
#   8. the empty call under each gRPC server setup (callback API with and
#      without the ResourceQuota, async completion queues with 1, 2 and 4
#      polling threads, the callback API behind an empty interceptor and
#      behind the metrics as recorded before and now): throughput and
#      server CPU per call
#      (bench/server_setups.sh);
#   9. the config tick with 100 and 10,000 apps: reading and parsing the
#      config against stat() of its files (bench/config_tick_benchmark);
#  10. user-space instructions per call under callgrind, which the
#      machine's load does not move: wxtokend's Health/Check and GetToken,
#      the callback setup with and without the metrics interceptor, and
#      the client library's cache hit (bench/call_instructions.sh);
#  11. a third-party platform with PLATFORM_AUTHORIZERS (default 100000)
#      authorizers taken over through the list pass: time, RSS, GetToken on
#      an authorizer's key against an own app's, a restart on the stored
#      state (bench/platform_scale.sh).
# Every load is bounded in time and count and stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh curl bc
export BUILD_DIR=${BUILD_DIR:-build-bench}
TARGETS="wxtokend wechat-sandbox wxtoken wxtoken-load wxtoken-flood wxtoken-watch-fanout wxtoken-server-setups client_cache_benchmark config_tick_benchmark" \
  ./scripts/build.sh >/dev/null
build="$PWD/$BUILD_DIR"
source scripts/lib/local-stack.sh

app=wxbench00000000001
# A short force_min_interval so the storm is not spent waiting.
local_stack_start "$build" "$app" "refresh:
  force_min_interval: \"1s\""

echo "machine: $(nproc) cores, $(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo
echo "## GetToken vs Health/Check (${CONCURRENCY:-64} in flight over 4 channels)"
"$build/bench/wxtoken-load" --addr "127.0.0.1:$grpc_port" --app_id "$app" \
  --mode compare --concurrency "${CONCURRENCY:-64}" --channels 4 \
  --round "${ROUND:-2s}" --rounds "${ROUNDS:-3}"

echo
echo "## ForceRefresh storm"
sleep 1.1  # past force_min_interval since the first fetch
before=$(sandbox_token_calls "$app")
"$build/bench/wxtoken-load" --addr "127.0.0.1:$grpc_port" --app_id "$app" \
  --mode storm --storm_callers "${STORM_CALLERS:-100}"
after=$(sandbox_token_calls "$app")
echo "upstream fetches caused by the storm: $((after - before))"

if [ -x "$build/bench/client_cache_benchmark" ]; then
  echo
  echo "## wxtoken::client cached GetToken"
  "$build/bench/client_cache_benchmark" --benchmark_min_time=0.5 \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
fi

echo
echo "## ForceRefresh flood (${FLOOD_SECONDS:-60} s)"
bench/flood.sh "$build" "${FLOOD_SECONDS:-60}"

echo
echo "## Start at scale"
for apps in ${SCALE_APPS:-1000 10000}; do
  bench/scale.sh "$build" "$apps"
done

echo
echo "## WatchToken fan-out"
bench/watch.sh "$build" "${WATCHERS:-10000}"

echo
echo "## GetToken vs Health/Check with h2load"
bench/h2load.sh "$build"

echo
echo "## Health/Check against itself with h2load (A/A: the method's own spread)"
AA=1 bench/h2load.sh "$build"

echo
echo "## The empty call under each gRPC server setup (h2load)"
bench/server_setups.sh "$build"

echo
echo "## The 2 s config tick with many apps: read and parse vs stat()"
"$build/bench/config_tick_benchmark"

echo
echo "## Instructions per call (callgrind)"
bench/call_instructions.sh "$build"

echo
echo "## A platform's authorizers at scale"
bench/platform_scale.sh "$build" "${PLATFORM_AUTHORIZERS:-100000}"
