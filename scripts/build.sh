#!/usr/bin/env bash
# Configures and builds wxtoken. Environment:
#   BUILD_DIR   build directory (default: build)
#   CMAKE_ARGS  extra cmake arguments (e.g. -DWXTOKEN_SANITIZE=ON)
#   TARGETS     targets to build (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWXTOKEN_WERROR=ON ${CMAKE_ARGS:-}
# shellcheck disable=SC2086
cmake --build "$build_dir" -j "$(nproc)" ${TARGETS:+--target $TARGETS}
