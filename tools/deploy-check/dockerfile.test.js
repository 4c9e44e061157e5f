// The Dockerfile checks pass on the repository's Dockerfile and catch drift;
// every test breaks one thing in a copy of its text.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");
const { checkDockerfile } = require("./check-dockerfile");
const { aptInstallPackages, parseDockerfile, simpleCommands } = require("./dockerfile");

const text = fs.readFileSync(path.join(__dirname, "..", "..", "Dockerfile"), "utf8");
// What ldd maps to on Debian 12 today, less ca-certificates (no library).
const runtime = parseDockerfile(text).at(-1);
const required = aptInstallPackages(runtime).packages.filter((p) => p !== "ca-certificates");

function assertOneProblem(dockerfile, packages, pattern) {
  const { problems } = checkDockerfile(dockerfile, packages);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], pattern);
}

test("the Dockerfile as it is passes", () => {
  assert.deepEqual(checkDockerfile(text, required).problems, []);
  assert.ok(required.includes("libgrpc++1.51") && required.includes("libcurl4"));
});

test("shell words keep quoted spaces and split at operators", () => {
  const commands = simpleCommands('A=1 TARGETS="x y" ./b.sh --f \'q r\' && c;d || e');
  assert.deepEqual(commands.map((c) => [...c]), [["./b.sh", "--f", "q r"], ["c"], ["d"], ["e"]]);
  assert.deepEqual(commands[0].env, { A: "1", TARGETS: "x y" });
});

test("a library package missing from the runtime stage is refused", () => {
  assertOneProblem(text, [...required, "libuv1"],
    /apt-get install lacks libuv1/);
});

test("a runtime package no library needs is refused", () => {
  assertOneProblem(text, required.filter((p) => p !== "libyaml-cpp0.7"),
    /libyaml-cpp0.7 is installed but owns no library/);
});

test("a build stage without setup.sh is refused", () => {
  assertOneProblem(text.replace("RUN ./scripts/setup.sh\n", ""), required,
    /setup.sh must run before .\/scripts\/build.sh/);
});

test("a build with tests or other targets is refused", () => {
  assertOneProblem(text.replace("-DWXTOKEN_BUILD_TESTS=OFF", "-DWXTOKEN_BUILD_TESTS=ON"), required,
    /CMAKE_ARGS="-DWXTOKEN_BUILD_TESTS=OFF"/);
});

test("running as root is refused", () => {
  assertOneProblem(text.replace("USER 65532:65532", "USER 0:0"), required,
    /USER must be a numeric non-root uid:gid/);
});

test("another entrypoint is refused", () => {
  assertOneProblem(text.replace('ENTRYPOINT ["/usr/local/bin/wxtokend"]', 'ENTRYPOINT ["/bin/sh"]'),
    required, /ENTRYPOINT must be/);
});
