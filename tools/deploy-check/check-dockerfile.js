// Checks the Dockerfile without a docker engine.
//   node check-dockerfile.js DOCKERFILE < packages
// stdin: the Debian packages that own the shared libraries of the locally
// built binaries, one a line (scripts/check-deploy.sh finds them with ldd and
// dpkg -S). Prints the problems and exits 1, or prints a summary.
"use strict";

const fs = require("fs");
const {
  aptInstallPackages,
  instructions,
  parseDockerfile,
  runtimeFacts,
  simpleCommands,
} = require("./dockerfile");

// Runtime packages that no library maps to but the binaries still need.
const kNonLibraryPackages = new Map([
  ["ca-certificates", "libcurl's HTTPS to WeChat verifies against its CA bundle"],
]);
const kBinaries = ["wxtokend", "wxtoken"];
const kInstallDir = "/usr/local/bin";

// The build.sh environment check-deploy.sh builds with too, so the libraries
// it checks are those of the image's binaries.
const kBuildEnv = { TARGETS: "wxtokend wxtoken", CMAKE_ARGS: "-DWXTOKEN_BUILD_TESTS=OFF" };

function runCommands(stage) {
  return instructions(stage, "RUN").flatMap((run) => simpleCommands(run.args));
}

// Index of the first RUN simple command of `stage` that runs `script`, or -1.
function runIndex(stage, script) {
  return runCommands(stage).findIndex((words) => words[0] === `./${script}` || words[0] === script);
}

function checkBuildStages(stages, problems) {
  const build = stages.slice(0, -1);
  if (build.length === 0) {
    problems.push("no build stage: the Dockerfile must be multi-stage");
    return;
  }
  for (const stage of stages) {
    if (stage.from !== "debian:bookworm-slim") {
      problems.push(`stage ${stage.name || "(final)"} is FROM ${stage.from}, want debian:bookworm-slim`);
    }
  }
  const stage = build.find((s) => runIndex(s, "scripts/build.sh") >= 0);
  if (!stage) {
    problems.push("no build stage runs ./scripts/build.sh (README's build script)");
    return;
  }
  const setup = runIndex(stage, "scripts/setup.sh");
  if (setup < 0 || setup > runIndex(stage, "scripts/build.sh")) {
    problems.push(`build stage ${stage.name}: ./scripts/setup.sh must run before ./scripts/build.sh`);
  }
  const { env } = runCommands(stage)[runIndex(stage, "scripts/build.sh")];
  for (const [name, value] of Object.entries(kBuildEnv)) {
    if (env[name] !== value) {
      problems.push(`build stage ${stage.name}: build.sh must run with ${name}="${value}" (as check-deploy.sh builds)`);
    }
  }
}

function checkRuntimeStage(stages, requiredPackages, problems) {
  const facts = runtimeFacts(stages);
  const { installs, packages } = aptInstallPackages(facts.stage);
  if (installs !== 1) {
    problems.push(`runtime stage: want exactly one apt-get install, found ${installs}`);
  }
  const listed = new Set(packages);
  for (const pkg of requiredPackages) {
    if (!listed.has(pkg)) {
      problems.push(`runtime stage: apt-get install lacks ${pkg}, which owns a library the binaries load`);
    }
  }
  const required = new Set(requiredPackages);
  for (const pkg of listed) {
    if (!required.has(pkg) && !kNonLibraryPackages.has(pkg)) {
      problems.push(`runtime stage: ${pkg} is installed but owns no library the binaries load`);
    }
  }

  if (facts.uid === undefined || facts.uid === 0 || facts.gid === 0) {
    problems.push(`runtime stage: USER must be a numeric non-root uid:gid, got ${facts.user}`);
  }
  const entrypoint = JSON.stringify(facts.entrypoint);
  if (entrypoint !== JSON.stringify([`${kInstallDir}/wxtokend`])) {
    problems.push(`runtime stage: ENTRYPOINT must be ["${kInstallDir}/wxtokend"], got ${entrypoint}`);
  }
  if (!facts.cmd || facts.cmd.length !== 2 || facts.cmd[0] !== "--config") {
    problems.push(`runtime stage: CMD must be ["--config", FILE], got ${JSON.stringify(facts.cmd)}`);
  }
  const copies = instructions(facts.stage, "COPY").filter((c) => c.args.startsWith("--from="));
  for (const binary of kBinaries) {
    const copied = copies.some((c) => {
      const words = c.args.split(" ");
      const destination = words[words.length - 1];
      return (destination === `${kInstallDir}/` || destination === `${kInstallDir}/${binary}`) &&
        words.slice(1, -1).some((source) => source.endsWith(`/${binary}`));
    });
    if (!copied) problems.push(`runtime stage: ${binary} is not copied into ${kInstallDir}`);
  }
  if (facts.volumes.length !== 1) {
    problems.push(`runtime stage: want one VOLUME (the state_dir), got ${facts.volumes.length}`);
  } else if (facts.uid > 0 && facts.gid > 0) {
    const owned = instructions(facts.stage, "RUN").some((run) =>
      run.args.includes(facts.volumes[0]) &&
      (run.args.includes(`-o ${facts.uid} -g ${facts.gid}`) ||
        run.args.includes(`chown ${facts.uid}:${facts.gid}`)));
    if (!owned) {
      problems.push(`runtime stage: ${facts.volumes[0]} must be created owned by ${facts.uid}:${facts.gid}`);
    }
  }
  return { facts, packages };
}

function checkDockerfile(text, requiredPackages) {
  const problems = [];
  try {
    const stages = parseDockerfile(text);
    if (stages.length === 0) return { problems: ["no FROM"] };
    checkBuildStages(stages, problems);
    return { problems, ...checkRuntimeStage(stages, requiredPackages, problems) };
  } catch (error) {
    return { problems: [...problems, `cannot read: ${error.message}`] };
  }
}

function main() {
  const path = process.argv[2];
  if (!path) {
    console.error("usage: node check-dockerfile.js DOCKERFILE < packages");
    process.exit(64);
  }
  const required = fs.readFileSync(0, "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
  if (required.length === 0) {
    console.error("check-dockerfile: no required packages on stdin");
    process.exit(64);
  }
  const { problems, packages } = checkDockerfile(fs.readFileSync(path, "utf8"), required);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`${path}: ${problem}`);
    process.exit(1);
  }
  console.log(`${path}: the build stage runs setup.sh and build.sh; the runtime stage installs ` +
    `the ${required.length} packages owning the binaries' libraries (${packages.length} packages in all)`);
}

if (require.main === module) main();

module.exports = { checkDockerfile };
