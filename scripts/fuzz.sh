#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in a build directory
# of their own and runs each one for a bounded time, starting from its seed
# corpus (tests/fuzz/corpus/<target>/). Fails on any finding: a crash, a
# sanitizer report, a violated property, a slow input or running out of
# memory; the input is kept under $BUILD_DIR/fuzz-artifacts/<target>/.
# Environment:
#   FUZZ_SECONDS  how long each target runs (default 60)
#   BUILD_DIR     build directory (default build-fuzz)
#   FUZZERS       targets to run (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."

# libFuzzer's runtime (libclang_rt.fuzzer*.a) is in libclang-rt-14-dev.
./scripts/setup.sh clang-14 libclang-rt-14-dev

build_dir="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
read -r -a fuzzers <<<"${FUZZERS:-decrypt_fuzzer envelope_fuzzer}"

# The fuzz targets live under tests/, so the tests stay on; only the fuzz
# targets are built.
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWXTOKEN_WERROR=ON \
  -DWXTOKEN_BUILD_TESTS=ON -DWXTOKEN_BUILD_FUZZERS=ON
cmake --build "$build_dir" -j "$(nproc)" --target "${fuzzers[@]}"

for fuzzer in "${fuzzers[@]}"; do
  # New inputs go to the first directory, kept between runs; the seeds in
  # the source tree are only read.
  corpus="$build_dir/fuzz-corpus/$fuzzer"
  artifacts="$build_dir/fuzz-artifacts/$fuzzer/"
  mkdir -p "$corpus" "$artifacts"
  echo "== $fuzzer for ${seconds}s"
  if ! "$build_dir/tests/fuzz/$fuzzer" -max_total_time="$seconds" \
    -timeout=5 -rss_limit_mb=2048 -use_value_profile=1 \
    -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$corpus" "tests/fuzz/corpus/$fuzzer"; then
    echo "fuzz: $fuzzer found a problem; the input is in $artifacts" >&2
    echo "fuzz: reproduce with $build_dir/tests/fuzz/$fuzzer <input file>" >&2
    exit 1
  fi
done
echo "fuzz: no findings in ${#fuzzers[@]} targets, ${seconds}s each"
