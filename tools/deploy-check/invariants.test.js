// The manifest checks pass on deploy/ as it is and catch each kind of drift:
// every test breaks one thing in a copy of the real objects.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const fs = require("node:fs");
const test = require("node:test");
const { parseDockerfile, runtimeFacts } = require("./dockerfile");
const { checkInvariants } = require("./invariants");
const { kustomizationResources, readObjects, validateSchemas } = require("./manifests");

const root = path.join(__dirname, "..", "..");

// deploy/base, or with `ha` deploy/overlays/ha, or with "mtls" or
// "platform" that overlay (patched as kustomize would).
function fixture(ha = false) {
  const named = { mtls: "overlays/mtls", platform: "overlays/platform" };
  const overlay = named[ha] || (ha ? "overlays/ha" : "base");
  const dir = path.join(root, "deploy", overlay);
  const platform = ha === "platform";
  ha = ha === true;
  const objects = kustomizationResources(dir).map((e) => e.object);
  const find = (kind) => objects.find((o) => o.kind === kind);
  const examples = [path.join(root, "deploy", "base", "secret.example.yaml")];
  if (ha) examples.push(path.join(dir, "redis-secret.example.yaml"));
  if (platform) examples.push(path.join(dir, "platform-secret.example.yaml"));
  return {
    objects,
    deployment: find("Deployment"),
    configMap: find("ConfigMap"),
    policy: find("NetworkPolicy"),
    budget: find("PodDisruptionBudget"),
    container: find("Deployment").spec.template.spec.containers[0],
    secretExamples: examples.flatMap((file) => readObjects(file).map((e) => e.object)),
    docker: runtimeFacts(parseDockerfile(fs.readFileSync(path.join(root, "Dockerfile"), "utf8"))),
  };
}

function problems(f) {
  return checkInvariants(f.objects, {
    secretExamples: f.secretExamples,
    docker: f.docker,
    kustomized: false,
  });
}

function editConfig(f, from, to) {
  assert.ok(f.configMap.data["config.yaml"].includes(from), from);
  f.configMap.data["config.yaml"] = f.configMap.data["config.yaml"].replace(from, to);
}

// Exactly one problem, matching `pattern`.
function assertOneProblem(f, pattern) {
  const found = problems(f);
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], pattern);
}

test("deploy/base as it is passes", () => {
  const f = fixture();
  assert.deepEqual(problems(f), []);
  assert.deepEqual(validateSchemas(f.objects.map((object) => ({ object, source: "t" }))), []);
});

test("a subPath config mount, which never sees ConfigMap updates, is caught", () => {
  const f = fixture();
  const mount = f.container.volumeMounts.find((m) => m.name === "config");
  mount.mountPath = "/etc/wxtoken/config/config.yaml";
  mount.subPath = "config.yaml";
  assertOneProblem(f, /mounted as the directory \/etc\/wxtoken\/config without subPath/);
});

test("two replicas are refused", () => {
  const f = fixture();
  f.deployment.spec.replicas = 2;
  assertOneProblem(f, /replicas must be 1/);
});

test("a rolling update is refused", () => {
  const f = fixture();
  f.deployment.spec.strategy = { type: "RollingUpdate" };
  assertOneProblem(f, /strategy must be Recreate/);
});

test("a probe of another health service is refused", () => {
  const f = fixture();
  f.container.readinessProbe.grpc.service = "wxtoken.v1.TokenController";
  assertOneProblem(f, /readinessProbe: grpc.service must be ""/);
});

test("a probe port other than listen's is refused", () => {
  const f = fixture();
  f.configMap.data["config.yaml"] = f.configMap.data["config.yaml"].replace(
    '"0.0.0.0:50051"', '"0.0.0.0:50052"');
  const found = problems(f).join("\n");
  assert.match(found, /startupProbe: grpc.port 50051 is not the config's listen port 50052/);
  assert.match(found, /container port grpc must be listen's 50052/);
});

test("a drain_timeout too close to the grace period is refused", () => {
  const f = fixture();
  f.configMap.data["config.yaml"] = f.configMap.data["config.yaml"].replace(
    'drain_timeout: "10s"', 'drain_timeout: "28s"');
  assertOneProblem(f, /terminationGracePeriodSeconds \(30s\) must exceed shutdown_delay \(0s\) plus drain_timeout \(28s\)/);
});

test("a writable root filesystem is refused", () => {
  const f = fixture();
  f.container.securityContext.readOnlyRootFilesystem = false;
  assertOneProblem(f, /readOnlyRootFilesystem must be true/);
});

test("a uid other than the image's is refused", () => {
  const f = fixture();
  f.deployment.spec.template.spec.securityContext.runAsUser = 1000;
  assertOneProblem(f, /runAsUser 1000 is not the image's USER uid 65532/);
});

test("commonLabels leaking into the client selector is refused", () => {
  const f = fixture();
  f.policy.spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/name"] = "wxtoken";
  assertOneProblem(f, /port 50051 must admit only pods labelled/);
});

test("an ingress rule without peers is refused", () => {
  const f = fixture();
  f.policy.spec.ingress.push({ ports: [{ protocol: "TCP", port: 22 }] });
  assertOneProblem(f, /ingress\[2\] must name its ports and peers/);
});

test("a real value in the Secret example is refused", () => {
  const f = fixture();
  f.secretExamples[0].stringData["wx0123456789abcdef.secret"] = "0123456789abcdef0123456789abcdef";
  assertOneProblem(f, /must be a REPLACE_ME placeholder/);
});

test("a secret file outside the mounted Secret is refused", () => {
  const f = fixture();
  f.configMap.data["config.yaml"] = f.configMap.data["config.yaml"].replace(
    "/etc/wxtoken/secrets/wx0123456789abcdef.secret", "/etc/other/wx0123456789abcdef.secret");
  assertOneProblem(f, /secret_file \/etc\/other\/wx0123456789abcdef.secret is not in a mounted Secret volume/);
});

test("a Secret among the applied objects is refused", () => {
  const f = fixture();
  f.objects.push(f.secretExamples[0]);
  assertOneProblem(f, /a Secret is among the applied objects/);
});

test("a missing metrics annotation is refused", () => {
  const f = fixture();
  delete f.deployment.spec.template.metadata.annotations["prometheus.io/scrape"];
  assertOneProblem(f, /prometheus.io\/scrape/);
});

test("schemas refuse wrong types and unknown kinds", () => {
  const f = fixture();
  f.container.livenessProbe.grpc.port = "50051";
  const unknown = { apiVersion: "v1", kind: "Affinity", metadata: { name: "x" } };
  const found = validateSchemas([...f.objects, unknown].map((object) => ({ object, source: "t" })));
  assert.equal(found.length, 2, found.join("\n"));
  assert.match(found[0], /livenessProbe\/grpc\/port must be integer/);
  assert.match(found[1], /unknown apiVersion\/kind v1\/Affinity/);
});

test("deploy/overlays/ha as it is passes", () => {
  const f = fixture(true);
  assert.deepEqual(problems(f), []);
  assert.deepEqual(validateSchemas(f.objects.map((object) => ({ object, source: "t" }))), []);
  assert.equal(f.deployment.spec.replicas, 3);
});

test("replicas on Redis with a Recreate strategy are refused", () => {
  const f = fixture(true);
  f.deployment.spec.strategy = { type: "Recreate" };
  assertOneProblem(f, /RollingUpdate with maxUnavailable 0/);
});

test("replicas on Redis that may all land on one node are refused", () => {
  const f = fixture(true);
  delete f.deployment.spec.template.spec.topologySpreadConstraints;
  assertOneProblem(f, /must spread over nodes/);
});

test("replicas on Redis without a disruption budget are refused", () => {
  const f = fixture(true);
  f.objects = f.objects.filter((o) => o.kind !== "PodDisruptionBudget");
  assertOneProblem(f, /a PodDisruptionBudget must keep replicas serving/);
});

test("a disruption budget on the single replica is refused", () => {
  const f = fixture();
  f.objects.push(fixture(true).budget);
  assertOneProblem(f, /would block every node drain/);
});

test("an advertised address not from the pod IP is refused", () => {
  const f = fixture(true);
  f.container.env = f.container.env.filter((e) => e.name !== "POD_IP");
  assertOneProblem(f, /POD_IP must come from fieldRef status.podIP/);
  const g = fixture(true);
  g.container.env.reverse();
  assertOneProblem(g, /POD_IP must come before WXTOKEN_ADVERTISE_ADDRESS/);
});

test("replicas that cannot reach each other's gRPC port are refused", () => {
  const f = fixture(true);
  f.policy.spec.ingress.splice(1, 1);
  assertOneProblem(f, /wxtoken's own pods must reach port 50051/);
});

test("replicas on Redis without a shutdown_delay are refused", () => {
  const f = fixture(true);
  editConfig(f, 'shutdown_delay: "5s"', 'shutdown_delay: "0s"');
  assertOneProblem(f, /shutdown_delay must be above 0s/);
});

test("a Redis password file outside a mounted Secret is refused", () => {
  const f = fixture(true);
  editConfig(f, "/etc/wxtoken/redis/password", "/etc/other/password");
  assertOneProblem(f, /store.redis.password_file \/etc\/other\/password is not in a mounted Secret/);
});

test("a Redis password Secret without an example is refused", () => {
  const f = fixture(true);
  f.secretExamples.pop();
  assertOneProblem(f, /comes from Secret wxtoken-redis, and no example shows it/);
});

test("deploy/overlays/mtls as it is passes", () => {
  const f = fixture("mtls");
  assert.deepEqual(problems(f), []);
  assert.deepEqual(validateSchemas(f.objects.map((object) => ({ object, source: "t" }))), []);
});

test("mtls: probes on the TLS port are refused", () => {
  const f = fixture("mtls");
  f.container.readinessProbe.grpc.port = 50051;
  assertOneProblem(f, /readinessProbe: grpc.port 50051 is not the config's health_listen port 8081/);
});

test("mtls: a certificate file no Certificate keeps is refused", () => {
  const f = fixture("mtls");
  const volume = f.deployment.spec.template.spec.volumes.find((v) => v.name === "tls");
  volume.secret.secretName = "hand-made-tls";
  const found = problems(f);
  assert.ok(found.length >= 1 && found.every((p) => /must be in a mounted Secret that a Certificate keeps/.test(p)),
    found.join("\n"));
});

test("mtls: an example caller that callers does not grant is refused", () => {
  const f = fixture("mtls");
  editConfig(f, "spiffe://cluster.local/ns/shop/sa/orders", "spiffe://cluster.local/ns/shop/sa/other");
  assertOneProblem(f, /Certificate\/wxtoken-client-orders: its URI .* is no principal/);
});

test("mtls: tls without health_listen is refused", () => {
  const f = fixture("mtls");
  editConfig(f, 'health_listen: "0.0.0.0:8081"\n', "");
  const found = problems(f);
  assert.ok(found.some((p) => /with tls, set health_listen/.test(p)), found.join("\n"));
});

test("ha: a ServiceMonitor scraping no Service port fails its check", () => {
  const f = fixture(true);
  const entries = () => f.objects.map((object) => ({ object, source: "t" }));
  assert.deepEqual(validateSchemas(entries()), []);
  const monitor = f.objects.find((o) => o.kind === "ServiceMonitor");
  monitor.spec.endpoints[0].port = "metric";
  const found = validateSchemas(entries());
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], /port "metric" is no Service port name/);
});

test("a Certificate without a secretName fails its schema", () => {
  const f = fixture("mtls");
  const certificate = f.objects.find((o) => o.kind === "Certificate");
  delete certificate.spec.secretName;
  const found = validateSchemas(f.objects.map((object) => ({ object, source: "t" })));
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], /spec.secretName is required/);
});

test("deploy/overlays/platform as it is passes", () => {
  assert.deepEqual(problems(fixture("platform")), []);
});

test("platform: an Ingress path push_listen does not answer is refused", () => {
  const f = fixture("platform");
  const ingress = f.objects.find((o) => o.kind === "Ingress");
  ingress.spec.rules[0].http.paths[1].path = "/wecom/other/";
  assertOneProblem(f, /path \/wecom\/other\/ is not one of the push paths/);
});
