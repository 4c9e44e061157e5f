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

// Without kubectl: the files a kustomization lists, as they are.
function kustomizationResources(directory) {
  const file = path.join(directory, "kustomization.yaml");
  const kustomization = YAML.parse(fs.readFileSync(file, "utf8"), kYamlOptions);
  const resources = kustomization.resources || [];
  if (resources.length === 0) throw new Error(`${file}: no resources`);
  return resources.flatMap((resource) => {
    const resourcePath = path.join(directory, resource);
    if (!fs.existsSync(resourcePath) || !fs.statSync(resourcePath).isFile()) {
      throw new Error(`${file}: resource ${resource} is not a file here`);
    }
    return readObjects(resourcePath);
  });
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

// Problems (strings) of objects that fail their schema or have no schema.
function validateSchemas(entries) {
  const problems = [];
  for (const entry of entries) {
    const { apiVersion, kind } = entry.object || {};
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
