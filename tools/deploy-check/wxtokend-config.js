// The few wxtokend config rules the manifests depend on (server/config.h has
// the real parser; tests/e2e/probe_e2e_test.cc runs it on the ConfigMap).
"use strict";

const YAML = require("yaml");

// Defaults of server/config.h for the keys read here.
const kDefaults = {
  listen: "0.0.0.0:50051",
  metrics_listen: "0.0.0.0:9464",
  drain_timeout: "5s",
  shutdown_delay: "0s",
};

const kUnitMs = { ms: 1, s: 1000, m: 60 * 1000, h: 60 * 60 * 1000 };

// "500ms", "30s", "5m", "1h", "1m30s" -> milliseconds; NaN when malformed.
function durationMs(text) {
  if (typeof text !== "string" || !/^(\d+(ms|s|m|h))+$/.test(text)) return NaN;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * kUnitMs[unit];
  }
  return total;
}

// "host:port" -> port number; NaN when malformed.
function portOf(address) {
  const match = typeof address === "string" ? /:(\d+)$/.exec(address) : null;
  return match ? Number(match[1]) : NaN;
}

// The config file held in `configMap` under `key`, with defaults applied.
function readConfig(configMap, key) {
  const text = configMap && configMap.data ? configMap.data[key] : undefined;
  if (typeof text !== "string") throw new Error(`no data key ${key}`);
  const config = YAML.parse(text) || {};
  return { ...kDefaults, ...config };
}

// Every *_file path the config reads a secret from: the apps', and the
// Redis password.
function secretFiles(config) {
  const files = [];
  for (const app of config.apps || []) {
    for (const [key, value] of Object.entries(app)) {
      if (key.endsWith("_file")) files.push({ appId: app.app_id, key, path: value });
    }
  }
  for (const platform of config.platforms || []) {
    for (const [key, value] of Object.entries(platform)) {
      if (key.endsWith("_file")) files.push({ appId: platform.component_app_id, key, path: value });
    }
  }
  const redis = config.store && config.store.redis;
  if (redis && redis.password_file) {
    files.push({ appId: undefined, key: "store.redis.password_file", path: redis.password_file });
  }
  return files;
}

module.exports = { durationMs, portOf, readConfig, secretFiles };
