#!/usr/bin/env bash
# Offline checks of the container image and the Kubernetes manifests, for CI
# and before a release; no docker engine and no cluster needed:
#   1. the Dockerfile's build stage runs scripts/setup.sh and scripts/build.sh;
#      the binaries built the same way load only libraries whose Debian
#      packages the runtime stage installs (ldd, dpkg -S), and it installs no
#      other; dockerfilelint finds nothing;
#   2. deploy/base and deploy/overlays/{ha,mtls,platform} rendered by
#      `kubectl kustomize` (or, without kubectl, the files their
#      kustomization.yaml lists, patched) match Kubernetes' schemas (a
#      Certificate: cert-manager's required fields) and wxtoken's invariants
#      (tools/deploy-check/invariants.js).
# Needs node and npm (the checkers are pinned in tools/deploy-check).
# Environment: IMAGE_BUILD_DIR (default build-image), where the binaries are
# built as the image builds them.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=tools/deploy-check
build_dir="${IMAGE_BUILD_DIR:-build-image}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "check-deploy: FAILED: $*" >&2
  exit 1
}

for tool in node npm dpkg ldd; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (node and npm: apt-get install nodejs npm)"
done

echo "== checkers: npm ci in $tools"
(cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) ||
  fail "npm ci in $tools"
node --test --test-reporter=tap "$tools"/*.test.js >"$work/node-test.log" 2>&1 ||
  { cat "$work/node-test.log"; fail "the checkers' own tests"; }
checker_tests=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$work/node-test.log")
echo "checkers' own tests: $checker_tests passed"

echo "== Dockerfile: build as its build stage does, map ldd to packages"
./scripts/setup.sh
# The same command as the Dockerfile's build stage (check-dockerfile.js
# checks that it is).
BUILD_DIR="$build_dir" TARGETS="wxtokend wxtoken" \
  CMAKE_ARGS=-DWXTOKEN_BUILD_TESTS=OFF ./scripts/build.sh >"$work/build.log" 2>&1 ||
  { tail -n 50 "$work/build.log"; fail "build with WXTOKEN_BUILD_TESTS=OFF"; }

# The Debian package owning shared library $1. Debian 12 merged /lib into
# /usr/lib, and dpkg knows each file under one of the two names.
owner() {
  local real out
  real=$(readlink -f "$1")
  for candidate in "$1" "$real" "${real/#\/usr\/lib\//\/lib\/}"; do
    if out=$(dpkg -S "$candidate" 2>/dev/null); then
      out=${out%%$'\n'*}
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

: >"$work/packages"
for binary in "$build_dir/server/wxtokend" "$build_dir/client/wxtoken"; do
  [ -x "$binary" ] || fail "$binary was not built"
  ldd "$binary" >"$work/ldd" || fail "ldd $binary"
  if grep -q "not found" "$work/ldd"; then
    grep "not found" "$work/ldd" >&2
    fail "$binary: unresolved shared libraries"
  fi
  # "name => /path (addr)", or "/path (addr)" for the dynamic loader.
  while read -r library; do
    owner "$library" >>"$work/packages" ||
      fail "$binary: no Debian package owns $library"
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$work/ldd")
done
sort -u -o "$work/packages" "$work/packages"
node "$tools/check-dockerfile.js" Dockerfile <"$work/packages" ||
  fail "Dockerfile (see above)"

echo "== Dockerfile: dockerfilelint"
"$tools/node_modules/.bin/dockerfilelint" Dockerfile >"$work/lint.log" 2>&1 ||
  { cat "$work/lint.log"; fail "dockerfilelint Dockerfile"; }
echo "dockerfilelint: clean"

# Each kustomization with its Secret examples: the one-replica base, the
# replicas on Redis, mTLS with cert-manager, and a third-party platform.
check_kustomization() {
  local dir=$1
  shift
  local manifest_args=(--dockerfile Dockerfile)
  for example in "$@"; do manifest_args+=(--secret-example "$example"); done
  echo "== $dir: schemas and invariants"
  if command -v kubectl >/dev/null; then
    kubectl kustomize "$dir" >"$work/rendered.yaml" || fail "kubectl kustomize $dir"
    echo "rendered with kubectl kustomize"
    node "$tools/check-manifests.js" --rendered "$work/rendered.yaml" "${manifest_args[@]}" ||
      fail "$dir (see above)"
  else
    echo "kubectl is not on PATH: checking the resources $dir/kustomization.yaml" \
      "lists with its patches, without kustomize's labels and image edits"
    node "$tools/check-manifests.js" --kustomization "$dir" "${manifest_args[@]}" ||
      fail "$dir (see above)"
  fi
}
check_kustomization deploy/base deploy/base/secret.example.yaml
check_kustomization deploy/overlays/ha deploy/base/secret.example.yaml \
  deploy/overlays/ha/redis-secret.example.yaml
check_kustomization deploy/overlays/mtls deploy/base/secret.example.yaml
check_kustomization deploy/overlays/platform deploy/base/secret.example.yaml \
  deploy/overlays/platform/platform-secret.example.yaml

# The checkers' own tests, plus the Dockerfile, dockerfilelint and the four
# kustomizations.
echo "check-deploy: $((checker_tests + 6)) passed, 0 failed"
