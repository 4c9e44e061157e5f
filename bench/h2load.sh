#!/usr/bin/env bash
# GetToken against grpc.health.v1 Health/Check (the empty call) on one
# wxtokend, measured with h2load (Debian's nghttp2-client), the standard
# HTTP/2 load tool: ROUNDS (default 9) alternating rounds of CALLS (default
# 100000) calls each over 4 connections x 10 streams. For every round it
# reads wxtokend's CPU time from /proc before and after, so it prints
# throughput and server CPU per call for both, their medians, and the
# ratios: of the medians, and the median of each round's own ratio (steadier
# on a machine whose speed drifts). Loopback only; every round is bounded by
# CALLS.
#
# AA=1 measures Health/Check against itself instead of GetToken: an A/A run,
# whose ratios show how far this method moves on the machine between two
# identical calls.
#   bench/h2load.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
rounds=${ROUNDS:-9}
calls=${CALLS:-100000}
command -v h2load >/dev/null || ./scripts/setup.sh nghttp2-client
source scripts/lib/local-stack.sh

app=wxh2load000000001
local_stack_start "$build" "$app"
pid=$wxtokend_pid
ticks=$(getconf CLK_TCK)

# gRPC frames: a 0 byte (not compressed), the length (4 bytes, big endian),
# the protobuf message. GetTokenRequest{app_id}: field 1, length-delimited.
hex() { printf '\\x%02x' "$1"; }
printf "\\x00\\x00\\x00\\x00$(hex $((${#app} + 2)))\\x0a$(hex ${#app})%s" "$app" \
  >"$work/get_token.bin"
# HealthCheckRequest{}: the empty message.
printf '\x00\x00\x00\x00\x00' >"$work/health.bin"
compared=(get /wxtoken.v1.TokenController/GetToken "$work/get_token.bin")
name=GetToken
if [ "${AA:-0}" = 1 ]; then
  compared=(health-again /grpc.health.v1.Health/Check "$work/health.bin")
  name="Health/Check again"
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# run NAME PATH BODY: one round; prints "req_per_s cpu_us_per_call".
run() {
  local before after out rps ok
  before=$(cpu_ticks)
  out=$(h2load -n "$calls" -c 4 -m 10 -d "$3" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$grpc_port$2")
  after=$(cpu_ticks)
  rps=$(sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' <<<"$out")
  ok=$(sed -nE 's/^status codes: ([0-9]+) 2xx.*/\1/p' <<<"$out")
  if [ "$ok" != "$calls" ]; then
    echo "$1: only $ok of $calls calls answered 2xx" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$rps $(echo "($after - $before) * 1000000 / $ticks / $calls" | bc -l)"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm-up: connections, caches, the token itself.
run health /grpc.health.v1.Health/Check "$work/health.bin" >/dev/null
run "${compared[@]}" >/dev/null

: >"$work/health.txt"
: >"$work/get.txt"
: >"$work/ratios.txt"
printf 'round  Health/Check req/s  CPU us/call   %s req/s  CPU us/call   ratios\n' "$name"
for round in $(seq 1 "$rounds"); do
  # Odd rounds start with Health/Check, even ones with the other, so neither
  # always runs on the machine the other warmed or left busy.
  if [ $((round % 2)) -eq 1 ]; then
    h=$(run health /grpc.health.v1.Health/Check "$work/health.bin")
    g=$(run "${compared[@]}")
  else
    g=$(run "${compared[@]}")
    h=$(run health /grpc.health.v1.Health/Check "$work/health.bin")
  fi
  echo "$h" >>"$work/health.txt"
  echo "$g" >>"$work/get.txt"
  read -r hr hc <<<"$h"
  read -r gr gc <<<"$g"
  tr=$(echo "$gr / $hr" | bc -l)
  cr=$(echo "$gc / $hc" | bc -l)
  echo "$tr $cr" >>"$work/ratios.txt"
  printf '%5d  %18.0f  %11.1f   %*.0f  %11.1f   %.3f %.3f\n' \
    "$round" "$hr" "$hc" "$((${#name} + 6))" "$gr" "$gc" "$tr" "$cr"
done
hr=$(cut -d' ' -f1 "$work/health.txt" | median)
hc=$(cut -d' ' -f2 "$work/health.txt" | median)
gr=$(cut -d' ' -f1 "$work/get.txt" | median)
gc=$(cut -d' ' -f2 "$work/get.txt" | median)
printf 'median Health/Check: %.0f req/s, %.1f us CPU/call\n' "$hr" "$hc"
printf 'median %s: %.0f req/s, %.1f us CPU/call\n' "$name" "$gr" "$gc"
printf '%s / Health/Check: throughput %.3f, CPU per call %.3f (ratio of medians)\n' \
  "$name" "$(echo "$gr / $hr" | bc -l)" "$(echo "$gc / $hc" | bc -l)"
# The two calls of a round ran seconds apart, on the same machine state:
# their ratio is steadier than the medians' when the machine drifts.
printf '%s / Health/Check: throughput %.3f, CPU per call %.3f (median of the rounds'"'"' ratios)\n' \
  "$name" "$(cut -d' ' -f1 "$work/ratios.txt" | median)" \
  "$(cut -d' ' -f2 "$work/ratios.txt" | median)"
