#!/usr/bin/env bash
# What the empty call (grpc.health.v1 Health/Check) costs the server under
# each gRPC server setup (bench/server_setups.cc): the callback API as
# wxtokend uses it, with and without its ResourceQuota, and the async
# completion-queue API with 1, 2 and 4 polling threads; and the callback API
# behind an interceptor: empty, recording each call as wxtokend did
# (Family::Add per call) and as it does now (RpcSeries). All servers run at
# once, idle but for the one measured; ROUNDS (default 5) rounds of CALLS
# (default 100000) h2load calls (4 connections x 10 streams) go to each in
# turn, so drift of the machine spreads over all of them. Prints each
# setup's median throughput and server CPU per call (from /proc). Loopback
# only; every round is bounded by CALLS.
#   bench/server_setups.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
rounds=${ROUNDS:-5}
calls=${CALLS:-100000}
command -v h2load >/dev/null || ./scripts/setup.sh nghttp2-client
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

setups=("callback" "callback --quota" "async --threads=1" "async --threads=2"
  "async --threads=4" "callback --metrics=empty" "callback --metrics=family"
  "callback --metrics=series")
ports=()
for i in "${!setups[@]}"; do
  mkfifo "$work/in.$i"
  # shellcheck disable=SC2086
  "$build/bench/wxtoken-server-setups" --setup=${setups[$i]} \
    <"$work/in.$i" >"$work/out.$i" &
  pids+=($!)
  # Held open (the fd is never written): each server runs until it closes.
  # shellcheck disable=SC2034
  exec {fd}>"$work/in.$i"
  for _ in $(seq 1 100); do
    grep -q '^port ' "$work/out.$i" 2>/dev/null && break
    sleep 0.1
  done
  ports+=("$(sed -n 's/^port //p' "$work/out.$i")")
done

printf '\x00\x00\x00\x00\x00' >"$work/health.bin"
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# round I N: prints "req_per_s cpu_us_per_call" for setup I, N calls.
round() {
  local before after out rps ok
  before=$(cpu_ticks "${pids[$1]}")
  out=$(h2load -n "$2" -c 4 -m 10 -d "$work/health.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:${ports[$1]}/grpc.health.v1.Health/Check")
  after=$(cpu_ticks "${pids[$1]}")
  rps=$(sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' <<<"$out")
  ok=$(sed -nE 's/^status codes: ([0-9]+) 2xx.*/\1/p' <<<"$out")
  if [ "$ok" != "$2" ]; then
    echo "${setups[$1]}: only $ok of $2 calls answered 2xx" >&2
    exit 1
  fi
  echo "$rps $(echo "($after - $before) * 1000000 / $ticks / $2" | bc -l)"
}

for i in "${!setups[@]}"; do round "$i" 20000 >/dev/null; done  # warm-up
for _ in $(seq 1 "$rounds"); do
  for i in "${!setups[@]}"; do round "$i" "$calls" >>"$work/result.$i"; done
done
echo "server setup (Health/Check)   req/s (median)   server CPU per call (median)"
for i in "${!setups[@]}"; do
  printf '%-28s %15.0f   %8.1f us\n' "${setups[$i]}" \
    "$(cut -d' ' -f1 "$work/result.$i" | median)" \
    "$(cut -d' ' -f2 "$work/result.$i" | median)"
done
