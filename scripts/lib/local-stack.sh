# Sourced by demo.sh and bench.sh: runs wechat-sandbox and wxtokend on
# 127.0.0.1 from a build directory, in a temporary directory that is removed
# (with both processes) on exit.
#   local_stack_start BUILD_DIR APP_ID [EXTRA_REFRESH_YAML] [PLATFORM_ID]
#                     [WECOM_APP]
# With PLATFORM_ID, a third-party platform too: the sandbox has three
# accounts that authorized it (wxbench0000000001 to 3), wxtokend takes
# pushes on a free port, and the sandbox pushes it a verify ticket.
# With WECOM_APP ("CORPID/AGENT"), a WeCom app too, served by the sandbox's
# WeCom side.
# sets: work, sandbox_port, grpc_port, cli (an array: the wxtoken CLI
# pointed at wxtokend), wxtokend_pid. A caller may set the array
# wxtokend_wrapper (e.g. valgrind and its flags) after sourcing this and
# before local_stack_start, to run wxtokend under it.

work=$(mktemp -d)
stack_pids=()
wxtokend_wrapper=()
local_stack_cleanup() {
  for pid in "${stack_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap local_stack_cleanup EXIT

# Waits until file $1 has a line matching $2 and prints the first group.
wait_for() {
  local value
  for _ in $(seq 1 300); do
    if value=$(sed -nE "s/.*$2.*/\\1/p" "$1" | head -n 1) && [ -n "$value" ]; then
      echo "$value"
      return 0
    fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  cat "$1" >&2
  return 1
}

local_stack_start() {
  local build=$1 app=$2 refresh_yaml=${3:-} platform=${4:-} wecom=${5:-}
  local platform_flags=() platform_yaml="" wecom_flags=() wecom_yaml=""
  if [ -n "$wecom" ]; then
    wecom_flags=(--wecom_app "$wecom:local-wecom-secret")
    printf 'local-wecom-secret\n' >"$work/wecom_secret"
    chmod 600 "$work/wecom_secret"
  fi
  if [ -n "$platform" ]; then
    platform_flags=(--platform "$platform:local-component-secret"
      --platform_authorizers 3)
    printf 'local-component-secret\n' >"$work/component_secret"
    printf 'local-push-token\n' >"$work/push_token"
    printf 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n' >"$work/aes_key"
    head -c 32 /dev/urandom | base64 >"$work/vault_key"
    chmod 600 "$work/component_secret" "$work/push_token" "$work/aes_key" \
      "$work/vault_key"
    platform_yaml="push_listen: \"127.0.0.1:0\"
platforms:
  - component_app_id: \"$platform\"
    secret_file: \"$work/component_secret\"
    server_token_file: \"$work/push_token\"
    encoding_aes_key_file: \"$work/aes_key\"
    vault_key_file: \"$work/vault_key\""
  fi
  "$build/tests/sandbox/wechat-sandbox" --listen 127.0.0.1:0 \
    --app "$app:local-app-secret" "${platform_flags[@]}" "${wecom_flags[@]}" \
    >"$work/sandbox.out" 2>&1 &
  stack_pids+=($!)
  sandbox_port=$(wait_for "$work/sandbox.out" 'listening 127\.0\.0\.1:([0-9]+)')

  if [ -n "$wecom" ]; then
    wecom_yaml="wecom:
  base_urls: [\"http://127.0.0.1:$sandbox_port\"]
  corps:
    - corp_id: \"${wecom%%/*}\"
      agents:
        - agent: \"${wecom#*/}\"
          secret_file: \"$work/wecom_secret\""
  fi
  printf 'local-app-secret\n' >"$work/secret"
  printf 'local-server-token\n' >"$work/server_token"
  chmod 600 "$work/secret" "$work/server_token"
  cat >"$work/wxtokend.yaml" <<YAML
listen: "127.0.0.1:0"
metrics_listen: ""
state_dir: "$work/state"
upstream:
  base_urls: ["http://127.0.0.1:$sandbox_port"]
${refresh_yaml}
apps:
  - app_id: "$app"
    secret_file: "$work/secret"
    server_token_file: "$work/server_token"
${platform_yaml}
${wecom_yaml}
YAML
  "${wxtokend_wrapper[@]}" "$build/server/wxtokend" \
    --config "$work/wxtokend.yaml" --log_format text 2>"$work/wxtokend.log" &
  wxtokend_pid=$!
  stack_pids+=("$wxtokend_pid")
  grpc_port=$(wait_for "$work/wxtokend.log" 'grpc_port=([0-9]+)')
  cli=("$build/client/wxtoken" --addr "127.0.0.1:$grpc_port")
  if [ -n "$platform" ]; then
    # As WeChat's 授权事件接收URL would: the sandbox pushes to push_listen.
    local push_port sandbox="http://127.0.0.1:$sandbox_port"
    push_port=$(wait_for "$work/wxtokend.log" 'push_port=([0-9]+)')
    curl -sf -d "" "$sandbox/sandbox/platform/push_target?component_appid=$platform&url=http://127.0.0.1:$push_port/wechat/platform/$platform&server_token=local-push-token&encoding_aes_key=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" >/dev/null
    curl -sf -d "" "$sandbox/sandbox/platform/ticket?component_appid=$platform" >/dev/null
  fi
  for _ in $(seq 1 100); do
    "${cli[@]}" health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "wxtokend did not become SERVING" >&2
  cat "$work/wxtokend.log" >&2
  return 1
}

# Upstream token fetches the sandbox has seen for app $1.
sandbox_token_calls() {
  curl -s "http://127.0.0.1:$sandbox_port/sandbox/stats" |
    sed -nE "s/.*\"$1\":\{[^}]*\"token_calls\":([0-9]+).*/\\1/p"
}
