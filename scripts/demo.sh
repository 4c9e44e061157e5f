#!/usr/bin/env bash
# The demo: builds wxtoken, starts wechat-sandbox (a local WeChat emulator)
# and wxtokend on loopback, and fetches a token through the wxtoken CLI.
# Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh curl  # curl: the sandbox push set-up
TARGETS="wxtokend wechat-sandbox wxtoken" ./scripts/build.sh
source scripts/lib/local-stack.sh

app=wxd0000000000de00
platform=wxcomponentdemo001
wecom=wwdemo000000000001/1000002
local_stack_start "$PWD/${BUILD_DIR:-build}" "$app" "" "$platform" "$wecom"
echo "== wechat-sandbox on 127.0.0.1:$sandbox_port, wxtokend on 127.0.0.1:$grpc_port"
echo "== wxtoken health"
"${cli[@]}" health
echo "== wxtoken get $app"
"${cli[@]}" get "$app"
echo "== wxtoken --json get $app"
"${cli[@]}" --json get "$app"
echo "== a third-party platform: its component token (fetched with the verify ticket the sandbox pushed)"
"${cli[@]}" get "$platform"
echo "== its authorizers, taken over through the authorizer list pass; each one's first GetToken waits for its fetch"
for authorizer in wxbench0000000001 wxbench0000000002 wxbench0000000003; do
  echo "-- wxtoken get $platform/$authorizer"
  "${cli[@]}" get "$platform/$authorizer"
done
echo "== a WeCom (企业微信) app: corp/agent, its token from gettoken with its own secret"
"${cli[@]}" get "$wecom"
echo "== wxtokend log"
cat "$work/wxtokend.log"
