#!/usr/bin/env bash
# The demo: builds wxtoken, starts wechat-sandbox (a local WeChat emulator)
# and wxtokend on loopback, and fetches a token through the wxtoken CLI.
# Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
TARGETS="wxtokend wechat-sandbox wxtoken" ./scripts/build.sh
source scripts/lib/local-stack.sh

app=wxd0000000000de00
local_stack_start "$PWD/${BUILD_DIR:-build}" "$app"
echo "== wechat-sandbox on 127.0.0.1:$sandbox_port, wxtokend on 127.0.0.1:$grpc_port"
echo "== wxtoken health"
"${cli[@]}" health
echo "== wxtoken get $app"
"${cli[@]}" get "$app"
echo "== wxtoken --json get $app"
"${cli[@]}" --json get "$app"
echo "== wxtokend log"
cat "$work/wxtokend.log"
