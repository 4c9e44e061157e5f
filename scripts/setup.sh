#!/usr/bin/env bash
# Installs what building and testing wxtoken needs on Debian 12 (bookworm).
# Idempotent: apt-get runs only when a package is missing. The Dockerfile's
# build stage runs this same script. Arguments name further packages a
# caller needs (scripts/fuzz.sh: clang and libFuzzer's runtime).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcurl4-openssl-dev libssl-dev libabsl-dev
  libgtest-dev libgmock-dev libyaml-cpp-dev prometheus-cpp-dev
  libcpp-httplib-dev libhiredis-dev libbenchmark-dev
  "$@"
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
