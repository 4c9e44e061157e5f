// Loads Kubernetes objects from YAML and validates each against Kubernetes'
// own OpenAPI schemas (the kubernetes-models package, offline).
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

// Kubernetes reads manifests as YAML 1.1 (so `defaultMode: 0440` is octal).
const kYamlOptions = { version: "1.1" };

// Every non-empty document of a multi-document YAML stream.
function parseObjects(text, source) {
  const objects = [];
  for (const document of YAML.parseAllDocuments(text, kYamlOptions)) {
    if (document.errors.length > 0) {
      throw new Error(`${source}: ${document.errors[0].message}`);
    }
    const object = document.toJS();
    if (object !== null && object !== undefined) objects.push({ object, source });
  }
  return objects;
}

function readObjects(file) {
  return parseObjects(fs.readFileSync(file, "utf8"), file);
}

// Kubernetes' merge keys of the lists our patches touch (strategic merge
// patch): a list without one is replaced whole, as kustomize does.
const kMergeKeys = {
  containers: "name",
  env: "name",
  ports: "containerPort",
  topologySpreadConstraints: "topologyKey",
  volumeMounts: "mountPath",
  volumes: "name",
};
// Fields whose patch replaces the object (patchStrategy retainKeys).
const kRetainKeys = new Set(["strategy"]);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// `patch` merged into `target` the way `kubectl kustomize` merges a
// strategic merge patch, for the shapes deploy/ uses.
function strategicMerge(target, patch) {
  const merged = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    // A Service's ports merge by port, a container's by containerPort.
    const servicePorts = key === "ports" && Array.isArray(value) &&
      value.some((item) => isObject(item) && "port" in item && !("containerPort" in item));
    const mergeKey = servicePorts ? "port" : kMergeKeys[key];
    if (Array.isArray(value) && mergeKey && Array.isArray(target[key])) {
      let list = [...target[key]];
      const added = [];
      for (const item of value) {
        const at = list.findIndex((t) => isObject(t) && t[mergeKey] === item[mergeKey]);
        if (item.$patch === "delete") {
          if (at >= 0) list.splice(at, 1);
        } else if (at >= 0) {
          list[at] = strategicMerge(list[at], item);
        } else {
          added.push(item);
        }
      }
      // kustomize puts the patch's new items first.
      list = [...added, ...list];
      merged[key] = list;
    } else if (isObject(value) && isObject(target[key]) && !kRetainKeys.has(key)) {
      merged[key] = strategicMerge(target[key], value);
    } else {
      merged[key] = value;
    }
  }
  return merged;
}

// Without kubectl: the objects a kustomization's resources hold (files, and
// directories with their own kustomization), with its `patches` applied;
// kustomize's labels and image edits are not.
function kustomizationResources(directory) {
  const file = path.join(directory, "kustomization.yaml");
  const kustomization = YAML.parse(fs.readFileSync(file, "utf8"), kYamlOptions);
  const resources = kustomization.resources || [];
  if (resources.length === 0) throw new Error(`${file}: no resources`);
  const entries = resources.flatMap((resource) => {
    const resourcePath = path.join(directory, resource);
    if (fs.existsSync(path.join(resourcePath, "kustomization.yaml"))) {
      return kustomizationResources(resourcePath);
    }
    if (!fs.existsSync(resourcePath) || !fs.statSync(resourcePath).isFile()) {
      throw new Error(`${file}: resource ${resource} is not a file or kustomization here`);
    }
    return readObjects(resourcePath);
  });
  for (const { path: patchFile } of kustomization.patches || []) {
    for (const { object: patch } of readObjects(path.join(directory, patchFile))) {
      const entry = entries.find((e) => e.object.kind === patch.kind &&
        e.object.metadata.name === patch.metadata.name);
      if (!entry) throw new Error(`${file}: patch ${patchFile} matches no resource`);
      entry.object = strategicMerge(entry.object, patch);
      entry.source = `${entry.source} + ${patchFile}`;
    }
  }
  return entries;
}

function describe({ object, source }) {
  const name = object && object.metadata ? object.metadata.name : undefined;
  return `${source}: ${object && object.kind}/${name}`;
}

// The kubernetes-models class for apiVersion/kind, or undefined.
function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" ||
      !/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion)) {
    return undefined;
  }
  let group;
  try {
    group = require(`kubernetes-models/${apiVersion}`);
  } catch {
    return undefined;
  }
  const Model = Object.prototype.hasOwnProperty.call(group, kind) ? group[kind] : undefined;
  // Only top-level kinds carry apiVersion and kind; specs (Affinity...) don't.
  return Model && Model.apiVersion === apiVersion && Model.kind === kind ? Model : undefined;
}

// cert-manager's Certificate has no kubernetes-models schema: the fields
// deploy/overlays/mtls relies on, checked by hand.
const kCertificateUsages = new Set(["server auth", "client auth", "digital signature", "key encipherment"]);
function certificateProblems(object) {
  const spec = object.spec || {};
  const named = (value) => typeof value === "string" && value !== "";
  const problems = [];
  if (!named(object.metadata && object.metadata.name)) problems.push("metadata.name is required");
  if (!named(spec.secretName)) problems.push("spec.secretName is required");
  if (!spec.issuerRef || !named(spec.issuerRef.name)) problems.push("spec.issuerRef.name is required");
  const names = [...(spec.dnsNames || []), ...(spec.uris || [])];
  if (names.length === 0 || !names.every(named)) {
    problems.push("spec.dnsNames or spec.uris must name it (non-empty strings)");
  }
  for (const usage of spec.usages || []) {
    if (!kCertificateUsages.has(usage)) problems.push(`spec.usages: unknown usage ${JSON.stringify(usage)}`);
  }
  return problems;
}

// The Prometheus Operator's ServiceMonitor has none either: what
// deploy/overlays/ha relies on, checked by hand (a Service port by name).
function serviceMonitorProblems(object, entries) {
  const spec = object.spec || {};
  const problems = [];
  if (!(object.metadata && object.metadata.name)) problems.push("metadata.name is required");
  const labels = spec.selector && spec.selector.matchLabels;
  if (!labels || Object.keys(labels).length === 0) {
    problems.push("spec.selector.matchLabels is required (or it selects every Service)");
  }
  const ports = new Set();
  for (const { object: o } of entries) {
    if (o && o.kind === "Service") for (const p of (o.spec && o.spec.ports) || []) ports.add(p.name);
  }
  const endpoints = spec.endpoints || [];
  if (endpoints.length === 0) problems.push("spec.endpoints must list at least one");
  for (const endpoint of endpoints) {
    if (!ports.has(endpoint.port)) {
      problems.push(`spec.endpoints: port ${JSON.stringify(endpoint.port)} is no Service port name`);
    }
  }
  return problems;
}

// Problems (strings) of objects that fail their schema or have no schema.
function validateSchemas(entries) {
  const problems = [];
  for (const entry of entries) {
    const { apiVersion, kind } = entry.object || {};
    if (apiVersion === "cert-manager.io/v1" && kind === "Certificate") {
      problems.push(...certificateProblems(entry.object).map((p) => `${describe(entry)}: ${p}`));
      continue;
    }
    if (apiVersion === "monitoring.coreos.com/v1" && kind === "ServiceMonitor") {
      problems.push(...serviceMonitorProblems(entry.object, entries).map((p) => `${describe(entry)}: ${p}`));
      continue;
    }
    const Model = modelClass(apiVersion, kind);
    if (!Model) {
      problems.push(`${describe(entry)}: unknown apiVersion/kind ${apiVersion}/${kind}`);
      continue;
    }
    try {
      new Model(entry.object).validate();
    } catch (error) {
      problems.push(`${describe(entry)}: schema: ${error.message}`);
    }
  }
  return problems;
}

module.exports = {
  describe,
  kustomizationResources,
  parseObjects,
  readObjects,
  validateSchemas,
};
