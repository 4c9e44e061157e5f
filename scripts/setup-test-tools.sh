#!/usr/bin/env bash
# Installs what the tests need beyond scripts/setup.sh: Redis (tests/redis,
# the replica end-to-end tests), the openssl command (tests/e2e/test_certs
# makes certificates at test time), Debian's gRPC for /usr/bin/python3, node
# and npm (only when missing: a newer node may already be installed), and
# the Node test's pinned npm packages. Idempotent: apt-get runs only when a package is
# missing, npm ci only when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server and redis-sentinel: the Redis tests start their own on free
# loopback ports (never the system service the package may start).
packages=(python3-grpcio python3-grpc-tools redis-server redis-sentinel openssl)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# setup.sh's installer, with these as its further packages.
./scripts/setup.sh "${packages[@]}"

# npm ci deletes node_modules first, so the stamp exists only after a
# complete install of exactly this package.json and package-lock.json.
node_dir=tests/interop/node
stamp="$node_dir/node_modules/.wxtoken-setup-stamp"
want="$(cd "$node_dir" && sha256sum package.json package-lock.json)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup-test-tools: npm ci in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
fi
