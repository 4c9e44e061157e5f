#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds wxtoken and runs every test:
# unit tests (fake clock, fake upstream) and end-to-end tests (the real
# wxtokend, the real wechat-sandbox on loopback, real gRPC).
# Environment: BUILD_DIR, CMAKE_ARGS as for build.sh. Arguments go to ctest
# (e.g. -E to leave tests out).
#
# Three tests per core: the end-to-end tests mostly wait on real timers (the
# whole e2e label costs about 25 s of CPU for 550 s of waiting), and they
# pick free ports, so they share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/setup-test-tools.sh
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure \
  -j "$(($(nproc) * 3))" --timeout 300 "$@"
