#!/usr/bin/env bash
# Server reflection, checked the way an operator uses it: buf curl (from
# tools/buf, installed by .ci/run) lists wxtokend's methods and calls
# GetToken without the .proto files.
set -euo pipefail
cd "$(dirname "$0")/.."
build="$PWD/${BUILD_DIR:-build}"
buf="$PWD/tools/buf/node_modules/.bin/buf"
source scripts/lib/local-stack.sh
app=wxreflection000001
local_stack_start "$build" "$app"
url="http://127.0.0.1:$grpc_port"
methods=$("$buf" curl --protocol grpc --http2-prior-knowledge --list-methods "$url")
for method in wxtoken.v1.TokenController/GetToken grpc.health.v1.Health/Check; do
  grep -qx "$method" <<<"$methods" || {
    echo "reflection: $method not listed" >&2
    exit 1
  }
done
"$buf" curl --protocol grpc --http2-prior-knowledge --data "{\"app_id\":\"$app\"}" \
  "$url/wxtoken.v1.TokenController/GetToken" | grep -q '"generation": "1"' || {
  echo "reflection: GetToken through buf curl failed" >&2
  exit 1
}
echo "reflection: $(wc -l <<<"$methods") methods listed; GetToken answered through buf curl"
