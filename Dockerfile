# The wxtokend image (README "Deploying to Kubernetes"):
#   docker build -t REGISTRY/wxtokend:TAG .
# No docker engine runs in CI: scripts/check-deploy.sh checks this file
# offline instead (the scripts it runs, the runtime packages against `ldd` of
# the binaries built the same way, dockerfilelint, the user and ports against
# deploy/).

# Build with the very scripts README and CI use.
FROM debian:bookworm-slim AS build
WORKDIR /src
# setup.sh first and alone, so the package layer is cached across source edits.
COPY scripts/setup.sh scripts/setup.sh
RUN ./scripts/setup.sh
COPY . .
RUN BUILD_DIR=/build TARGETS="wxtokend wxtoken" \
      CMAKE_ARGS=-DWXTOKEN_BUILD_TESTS=OFF ./scripts/build.sh \
  && install -D -s -m 0755 /build/server/wxtokend /out/wxtokend \
  && install -D -s -m 0755 /build/client/wxtoken /out/wxtoken

# Runtime: Debian's shared libraries the two binaries load, and nothing else.
# The list is exactly the packages owning what `ldd` shows (check-deploy.sh
# fails when one is missing or no longer needed); ca-certificates is for
# libcurl's HTTPS to WeChat.
FROM debian:bookworm-slim
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    ca-certificates \
    libabsl20220623 \
    libbrotli1 \
    libc-ares2 \
    libc6 \
    libcivetweb1 \
    libcom-err2 \
    libcpp-httplib0.11 \
    libcurl4 \
    libffi8 \
    libgcc-s1 \
    libgmp10 \
    libgnutls30 \
    libgrpc++1.51 \
    libgrpc29 \
    libgssapi-krb5-2 \
    libhiredis0.14 \
    libhogweed6 \
    libidn2-0 \
    libk5crypto3 \
    libkeyutils1 \
    libkrb5-3 \
    libkrb5support0 \
    libldap-2.5-0 \
    libnettle8 \
    libnghttp2-14 \
    libp11-kit0 \
    libprometheus-cpp-core1.0 \
    libprometheus-cpp-pull1.0 \
    libprotobuf32 \
    libpsl5 \
    libre2-9 \
    librtmp1 \
    libsasl2-2 \
    libssh2-1 \
    libssl3 \
    libstdc++6 \
    libtasn1-6 \
    libunistring2 \
    libyaml-cpp0.7 \
    libzstd1 \
    zlib1g \
  && rm -rf /var/lib/apt/lists/* \
  && install -d -o 65532 -g 65532 -m 0700 /var/lib/wxtoken \
  && install -d -m 0755 /etc/wxtoken

COPY --from=build /out/wxtokend /out/wxtoken /usr/local/bin/

# A numeric user, so Kubernetes' runAsNonRoot can verify it without
# /etc/passwd; the same ids as deploy/base/deployment.yaml's securityContext.
USER 65532:65532
# gRPC (`listen`) and Prometheus /metrics (`metrics_listen`).
EXPOSE 50051 9464
VOLUME ["/var/lib/wxtoken"]
ENTRYPOINT ["/usr/local/bin/wxtokend"]
CMD ["--config", "/etc/wxtoken/config/config.yaml"]
