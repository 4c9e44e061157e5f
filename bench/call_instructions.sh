#!/usr/bin/env bash
# User-space instructions a call costs the server, counted by valgrind's
# callgrind: unlike CPU time, the count does not move with the machine's
# load, so small changes show on a noisy VM. Kernel time (syscalls, wakeups)
# is not counted: h2load.sh and server_setups.sh measure the whole CPU.
# After a warm-up, CALLS (default 10000) h2load calls (4 connections x 10
# streams) of each of:
#   wxtokend: grpc.health.v1 Health/Check and GetToken
#   each bench/server_setups.cc setup that differs in user-space work:
#     Health/Check on the bare callback API, and behind an interceptor that
#     is empty, records as wxtokend did (Family::Add) and as it does
#     (RpcSeries)
# and then the client library's cache hit (bench/client_cache_benchmark's
# GetToken into a kept Token, one thread, against its in-process fake
# controller): the instructions of the calls from the benchmark's loop into
# the client, divided by their number (the loop's own are not counted).
# Loopback only; every load is bounded by CALLS.
#   bench/call_instructions.sh BUILD_DIR
set -euo pipefail
# per_call runs in $(...): let a failure there stop the script too.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
calls=${CALLS:-10000}
./scripts/setup.sh valgrind nghttp2-client bc
source scripts/lib/local-stack.sh

app=wxcallgrind000001
hex() { printf '\\x%02x' "$1"; }
printf "\\x00\\x00\\x00\\x00$(hex $((${#app} + 2)))\\x0a$(hex ${#app})%s" "$app" \
  >"$work/get_token.bin"
printf '\x00\x00\x00\x00\x00' >"$work/health.bin"
health=(/grpc.health.v1.Health/Check "$work/health.bin")
get_token=(/wxtoken.v1.TokenController/GetToken "$work/get_token.bin")

# load PORT N PATH BODY
load() {
  local out
  out=$(h2load -n "$2" -c 4 -m 10 -d "$4" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1$3")
  if ! grep -q "^status codes: $2 2xx" <<<"$out"; then
    echo "$3: not every call answered 2xx" >&2
    echo "$out" >&2
    exit 1
  fi
}

# per_call PID PORT PATH BODY: instructions per call of CALLS calls, from
# callgrind's counters zeroed before and dumped after.
per_call() {
  local before dump=""
  callgrind_control -z "$1" >/dev/null 2>&1
  before=$(find "$work" -name 'callgrind.*' | wc -l)
  load "$2" "$calls" "$3" "$4"
  callgrind_control -d "$1" >/dev/null 2>&1
  for _ in $(seq 1 100); do
    if [ "$(find "$work" -name 'callgrind.*' | wc -l)" -gt "$before" ]; then
      # shellcheck disable=SC2012
      dump=$(ls -t "$work"/callgrind.* | head -n 1)
      break
    fi
    sleep 0.1
  done
  if [ -z "$dump" ]; then
    echo "callgrind wrote no dump for $3" >&2
    exit 1
  fi
  sleep 0.5 # the dump is written in one go; let it finish
  local total
  total=$(awk '/^summary:/ { print $2 }' "$dump")
  [ -n "$total" ] || { echo "$dump: no summary line" >&2; exit 1; }
  echo $((total / calls))
}

callgrind=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p")

wxtokend_wrapper=("${callgrind[@]}")
local_stack_start "$build" "$app"
load "$grpc_port" 2000 "${health[@]}"
load "$grpc_port" 2000 "${get_token[@]}"
h=$(per_call "$wxtokend_pid" "$grpc_port" "${health[@]}")
g=$(per_call "$wxtokend_pid" "$grpc_port" "${get_token[@]}")
echo "wxtokend                       instructions per call"
printf '  %-28s %8d\n' "Health/Check" "$h" "GetToken" "$g"
printf '  GetToken/Health: %.3f\n' "$(echo "$g / $h" | bc -l)"

echo "server setup (Health/Check)    instructions per call"
for setup in "" "--metrics=empty" "--metrics=family" "--metrics=series"; do
  mkfifo "$work/in"
  # shellcheck disable=SC2086
  "${callgrind[@]}" "$build/bench/wxtoken-server-setups" --setup=callback \
    $setup <"$work/in" >"$work/out" 2>/dev/null &
  pid=$!
  exec {fd}>"$work/in"
  port=$(wait_for "$work/out" '^port ([0-9]+)')
  load "$port" 2000 "${health[@]}"
  count=$(per_call "$pid" "$port" "${health[@]}")
  printf '  %-28s %8d\n' "callback ${setup}" "$count"
  exec {fd}>&-
  wait "$pid" || true
  rm -f "$work/in"
done

echo "client                         instructions per call"
valgrind --tool=callgrind --callgrind-out-file="$work/client.callgrind" \
  --toggle-collect='*BM_CachedGetTokenInto*' \
  "$build/bench/client_cache_benchmark" \
  --benchmark_filter='^BM_CachedGetTokenInto/threads:1$' \
  --benchmark_min_time=0.05 >"$work/client.log" 2>&1 ||
  { cat "$work/client.log" >&2; exit 1; }
# The caller tree names each function's callers with the instructions spent
# in it on their behalf and the number of calls: "I (P%)  < CALLER (Nx)",
# then "I (P%)  *  FUNCTION". The benchmark's calls into the client are
# the line before ClientImpl::DoGetTokenInto's. awk reads to the end (no
# exit), so that callgrind_annotate never dies of a closed pipe.
hit=$(callgrind_annotate --tree=caller --inclusive=yes \
  "$work/client.callgrind" | awk '
  /^ *[0-9,]+ .*< .*BM_CachedGetTokenInto\(/ {
    instructions = $1; next_is_callee = 1
    # The call count, "(N,NNNx)"; an object name may follow it.
    calls = match($0, /\([0-9,]+x\)/) ? substr($0, RSTART + 1, RLENGTH - 3) : 0
    next
  }
  next_is_callee && !found && /\*  .*ClientImpl::DoGetTokenInto/ {
    gsub(",", "", instructions); gsub(",", "", calls)
    if (calls > 0) found = sprintf("%d", instructions / calls)
  }
  { next_is_callee = 0 }
  END { if (found) print found }')
[ -n "$hit" ] || { echo "client hit: no calls in the callgrind tree" >&2; exit 1; }
printf '  %-28s %8d\n' "cache hit, GetToken into" "$hit"
