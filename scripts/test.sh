#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds wxtoken and runs every test:
# unit tests (fake clock, fake upstream) and end-to-end tests (the real
# wxtokend, the real wechat-sandbox on loopback, real gRPC).
# Environment: BUILD_DIR, CMAKE_ARGS as for build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/setup-test-tools.sh
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" \
  --timeout 300
