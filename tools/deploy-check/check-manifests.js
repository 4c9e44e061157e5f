// Validates the deploy/ manifests offline: every object against Kubernetes'
// schemas, then wxtoken's invariants (invariants.js).
//   node check-manifests.js (--rendered FILE | --kustomization DIR)
//        --secret-example FILE [--secret-example FILE...] --dockerfile FILE
// --rendered: `kubectl kustomize` output; --kustomization: the listed
// resource files as they are (when kubectl is missing). Prints the problems
// and exits 1, or prints a summary.
"use strict";

const fs = require("fs");
const { parseDockerfile, runtimeFacts } = require("./dockerfile");
const { checkInvariants } = require("./invariants");
const { describe, kustomizationResources, readObjects, validateSchemas } = require("./manifests");

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = /^--([a-z-]+)$/.exec(argv[i]);
    if (!name || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    if (name[1] === "secret-example") {
      args[name[1]] = [...(args[name[1]] || []), argv[i + 1]];
    } else {
      args[name[1]] = argv[i + 1];
    }
  }
  const missing = ["secret-example", "dockerfile"].filter((name) => !args[name]);
  if (missing.length > 0 || !args.rendered === !args.kustomization) {
    throw new Error("usage: (--rendered FILE | --kustomization DIR) --secret-example FILE... --dockerfile FILE");
  }
  return args;
}

function main() {
  let args;
  let entries;
  let secretEntries;
  let docker;
  try {
    args = parseArgs(process.argv.slice(2));
    entries = args.rendered ? readObjects(args.rendered) : kustomizationResources(args.kustomization);
    secretEntries = args["secret-example"].flatMap((file) => readObjects(file));
    docker = runtimeFacts(parseDockerfile(fs.readFileSync(args.dockerfile, "utf8")));
  } catch (error) {
    console.error(`check-manifests: ${error.message}`);
    process.exit(64);
  }
  const problems = validateSchemas([...entries, ...secretEntries]);
  try {
    problems.push(...checkInvariants(entries.map((e) => e.object), {
      secretExamples: secretEntries.map((e) => e.object),
      docker,
      kustomized: Boolean(args.rendered),
    }));
  } catch (error) {
    // An object too malformed to inspect; the schema problems say why.
    problems.push(`cannot check the invariants: ${error.message}`);
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(`deploy: ${problem}`);
    process.exit(1);
  }
  console.log(`deploy: ${entries.length} objects (${entries.map((e) => describe(e).split(": ")[1]).join(", ")}) ` +
    "and the Secret examples match Kubernetes' schemas and wxtoken's invariants");
}

main();
