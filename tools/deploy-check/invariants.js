// The properties of the rendered manifests that wxtoken's correctness or
// security depends on, each with the reason it matters. The schemas only say
// the objects are well-formed Kubernetes; these say they are right for us.
"use strict";

const path = require("path");
const { durationMs, portOf, readConfig, secretFiles } = require("./wxtokend-config");

const kNameLabel = "app.kubernetes.io/name";
const kName = "wxtoken";
const kConfigKey = "config.yaml";
const kClientLabels = { "wxtoken.io/client": "true" };
const kPrometheusLabels = { [kNameLabel]: "prometheus" };
// SIGTERM handling takes drain_timeout, then stopping the worker and flushing
// the store (server/main.cc): leave it this much more before SIGKILL.
const kGraceBeyondDrainMs = 5000;

function sameLabels(a, b) {
  const keys = Object.keys(a || {});
  return keys.length === Object.keys(b || {}).length && keys.every((k) => a[k] === b[k]);
}

function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
}

class Checker {
  constructor(objects) {
    this.objects = objects;
    this.problems = [];
  }

  fail(message) {
    this.problems.push(message);
  }

  expect(condition, message) {
    if (!condition) this.fail(message);
    return condition;
  }

  // The one object of `kind`, or undefined (and a problem) when not exactly one.
  single(kind) {
    const found = this.objects.filter((o) => o.kind === kind);
    this.expect(found.length === 1, `want exactly one ${kind}, found ${found.length}`);
    return found.length === 1 ? found[0] : undefined;
  }
}

function checkObjects(c, { kustomized }) {
  for (const object of c.objects) {
    const name = `${object.kind}/${object.metadata && object.metadata.name}`;
    c.expect(!object.metadata || object.metadata.namespace === undefined,
      `${name}: has a namespace; the base stays namespace-less (kubectl -n or an overlay chooses)`);
    if (kustomized) {
      c.expect((object.metadata.labels || {})[kNameLabel] === kName,
        `${name}: lacks label ${kNameLabel}: ${kName} (kustomization.yaml labels)`);
    }
  }
  c.expect(!c.objects.some((o) => o.kind === "Secret"),
    "a Secret is among the applied objects: `kubectl apply -k` would overwrite the real one");
}

function checkDeploymentShape(c, deployment) {
  const spec = deployment.spec || {};
  c.expect(spec.replicas === 1,
    `Deployment: replicas must be 1 (one live token per app; per-pod store), got ${spec.replicas}`);
  c.expect(spec.strategy && spec.strategy.type === "Recreate" && !spec.strategy.rollingUpdate,
    "Deployment: strategy must be Recreate, so two pods never run at once");
  const pod = spec.template || {};
  c.expect(selects(spec.selector && spec.selector.matchLabels, pod.metadata && pod.metadata.labels),
    "Deployment: selector does not match the pod template's labels");
  const containers = (pod.spec && pod.spec.containers) || [];
  c.expect(containers.length === 1, `Deployment: want one container, got ${containers.length}`);
  return { pod, container: containers[0] || {} };
}

function checkProbes(c, container, grpcPort) {
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const p = container[probe];
    if (!c.expect(p && p.grpc, `${probe}: must be a native gRPC probe`)) continue;
    c.expect(!p.httpGet && !p.tcpSocket && !p.exec, `${probe}: only the grpc handler`);
    c.expect(p.grpc.port === grpcPort,
      `${probe}: grpc.port ${p.grpc.port} is not the config's listen port ${grpcPort}`);
    // Kubernetes defaults an absent service to "", but say it: "" is the
    // server-level status (DESIGN.md "Health").
    c.expect(p.grpc.service === "", `${probe}: grpc.service must be "" (the server as a whole)`);
  }
}

function checkSecurity(c, pod, container, docker) {
  const podContext = (pod.spec && pod.spec.securityContext) || {};
  const context = container.securityContext || {};
  const effective = (field) => (context[field] !== undefined ? context[field] : podContext[field]);
  c.expect(effective("runAsNonRoot") === true, "securityContext: runAsNonRoot must be true");
  c.expect(effective("runAsUser") === docker.uid,
    `securityContext: runAsUser ${effective("runAsUser")} is not the image's USER uid ${docker.uid}`);
  c.expect(effective("runAsGroup") === docker.gid,
    `securityContext: runAsGroup ${effective("runAsGroup")} is not the image's USER gid ${docker.gid}`);
  const seccomp = effective("seccompProfile");
  c.expect(seccomp && seccomp.type === "RuntimeDefault",
    "securityContext: seccompProfile.type must be RuntimeDefault");
  c.expect(context.readOnlyRootFilesystem === true, "securityContext: readOnlyRootFilesystem must be true");
  c.expect(context.allowPrivilegeEscalation === false,
    "securityContext: allowPrivilegeEscalation must be false");
  c.expect(context.privileged !== true, "securityContext: privileged must not be true");
  const capabilities = context.capabilities || {};
  c.expect((capabilities.drop || []).includes("ALL") && !(capabilities.add || []).length,
    "securityContext: capabilities must drop ALL and add none");
  const resources = container.resources || {};
  for (const [kind, keys] of [["requests", ["cpu", "memory"]], ["limits", ["memory"]]]) {
    for (const key of keys) {
      c.expect(resources[kind] && resources[kind][key] !== undefined, `resources.${kind}.${key} must be set`);
    }
  }
}

// Volumes, config file and secrets line up with the config and the image.
function checkFiles(c, pod, container, config, configMap, docker) {
  const volumes = new Map(((pod.spec && pod.spec.volumes) || []).map((v) => [v.name, v]));
  const mounts = container.volumeMounts || [];
  c.expect(!container.command && !container.args,
    "container: no command/args, so the image's ENTRYPOINT and CMD (the config path) apply");
  const configPath = docker.cmd ? docker.cmd[1] : undefined;
  const configMount = mounts.find((m) => m.mountPath === configPath);
  const configVolume = configMount && volumes.get(configMount.name);
  c.expect(configVolume && configVolume.configMap &&
      configVolume.configMap.name === configMap.metadata.name && configMount.subPath === kConfigKey,
    `the image's config ${configPath} must be mounted from ConfigMap ${configMap.metadata.name} key ${kConfigKey}`);

  const stateMount = mounts.find((m) => m.mountPath === config.state_dir);
  c.expect(stateMount && !stateMount.readOnly,
    `state_dir ${config.state_dir} must be a writable volume mount (the root filesystem is read-only)`);
  c.expect(docker.volumes.includes(config.state_dir),
    `state_dir ${config.state_dir} is not the image's VOLUME ${docker.volumes}`);

  const files = secretFiles(config);
  c.expect(files.length > 0, "config: no app reads a secret file");
  const secretMounts = mounts.filter((m) => {
    const volume = volumes.get(m.name);
    return volume && volume.secret && !m.subPath;
  });
  for (const file of files) {
    const mount = secretMounts.find((m) => path.posix.dirname(file.path) === m.mountPath);
    c.expect(mount, `config: app ${file.appId} ${file.key} ${file.path} is not in a mounted Secret volume`);
    file.secretName = mount ? volumes.get(mount.name).secret.secretName : undefined;
  }
  return files;
}

function checkPorts(c, pod, container, service, config, docker) {
  const grpcPort = portOf(config.listen);
  const metricsPort = portOf(config.metrics_listen);
  const containerPorts = new Map((container.ports || []).map((p) => [p.name, p.containerPort]));
  c.expect(containerPorts.get("grpc") === grpcPort, `container port grpc must be listen's ${grpcPort}`);
  c.expect(containerPorts.get("metrics") === metricsPort,
    `container port metrics must be metrics_listen's ${metricsPort}`);
  const exposed = [...docker.exposedPorts].sort().join(",");
  c.expect(exposed === [grpcPort, metricsPort].sort().join(","),
    `the image EXPOSEs ${exposed}, the config listens on ${grpcPort} and ${metricsPort}`);

  const annotations = (pod.metadata && pod.metadata.annotations) || {};
  c.expect(annotations["prometheus.io/scrape"] === "true", 'annotation prometheus.io/scrape must be "true"');
  c.expect(annotations["prometheus.io/port"] === String(metricsPort),
    `annotation prometheus.io/port must be "${metricsPort}"`);
  c.expect(annotations["prometheus.io/path"] === "/metrics", "annotation prometheus.io/path must be /metrics");

  const spec = service.spec || {};
  c.expect(spec.type === "ClusterIP", "Service: type must be ClusterIP");
  c.expect(selects(spec.selector, pod.metadata && pod.metadata.labels),
    "Service: selector does not match the pod template's labels");
  const ports = new Map((spec.ports || []).map((p) => [p.name, p]));
  const grpc = ports.get("grpc") || {};
  c.expect(grpc.port === grpcPort && grpc.targetPort === "grpc" && grpc.appProtocol === "grpc",
    `Service: port grpc must be ${grpcPort} -> grpc with appProtocol grpc`);
  const metrics = ports.get("metrics") || {};
  c.expect(metrics.port === metricsPort && metrics.targetPort === "metrics",
    `Service: port metrics must be ${metricsPort} -> metrics`);
  return { grpcPort, metricsPort };
}

// Only labelled clients reach gRPC, only Prometheus reaches /metrics, and
// nothing reaches anything else.
function checkNetworkPolicy(c, policy, pod, grpcPort, metricsPort) {
  const spec = policy.spec || {};
  c.expect(selects(spec.podSelector && spec.podSelector.matchLabels, pod.metadata && pod.metadata.labels) &&
      Object.keys((spec.podSelector && spec.podSelector.matchLabels) || {}).length > 0,
    "NetworkPolicy: podSelector must select wxtoken's pods (and only them)");
  c.expect((spec.policyTypes || []).includes("Ingress"), "NetworkPolicy: policyTypes must include Ingress");
  const allowed = { [grpcPort]: kClientLabels, [metricsPort]: kPrometheusLabels };
  const covered = new Set();
  for (const [i, rule] of (spec.ingress || []).entries()) {
    const ports = rule.ports || [];
    const from = rule.from || [];
    if (!c.expect(ports.length > 0 && from.length > 0,
      `NetworkPolicy: ingress[${i}] must name its ports and peers (an empty list allows all)`)) continue;
    for (const port of ports) {
      const want = allowed[port.port];
      if (!c.expect(want && (port.protocol || "TCP") === "TCP",
        `NetworkPolicy: ingress[${i}] opens port ${port.port}; only ${grpcPort} and ${metricsPort} may be open`)) continue;
      covered.add(port.port);
      for (const peer of from) {
        c.expect(!peer.ipBlock && peer.podSelector && sameLabels(peer.podSelector.matchLabels, want),
          `NetworkPolicy: ingress[${i}] port ${port.port} must admit only pods labelled ${JSON.stringify(want)}`);
      }
    }
  }
  c.expect(covered.has(grpcPort) && covered.has(metricsPort),
    `NetworkPolicy: must admit clients to ${grpcPort} and Prometheus to ${metricsPort}`);
}

function checkSecretExample(c, secret, files) {
  if (!c.expect(secret && secret.kind === "Secret", "the Secret example is missing")) return;
  c.expect(secret.data === undefined, "Secret example: use stringData placeholders, not data");
  const values = secret.stringData || {};
  for (const [key, value] of Object.entries(values)) {
    c.expect(typeof value === "string" && value.startsWith("REPLACE_ME"),
      `Secret example: ${key} must be a REPLACE_ME placeholder, never a real value`);
  }
  for (const file of files.filter((f) => f.secretName !== undefined)) {
    c.expect(file.secretName === secret.metadata.name,
      `config: ${file.path} comes from Secret ${file.secretName}, the example is ${secret.metadata.name}`);
    c.expect(Object.prototype.hasOwnProperty.call(values, path.posix.basename(file.path)),
      `Secret example: no key ${path.posix.basename(file.path)} for app ${file.appId} ${file.key}`);
  }
}

// objects: the rendered objects; secretExample: deploy/secret.example.yaml's
// object; docker: dockerfile.runtimeFacts(); kustomized: rendered by kustomize.
function checkInvariants(objects, { secretExample, docker, kustomized }) {
  const c = new Checker(objects);
  checkObjects(c, { kustomized });
  const deployment = c.single("Deployment");
  const service = c.single("Service");
  const configMap = c.single("ConfigMap");
  const policy = c.single("NetworkPolicy");
  const account = c.single("ServiceAccount");
  if (!deployment || !service || !configMap || !policy || !account) return c.problems;

  let config;
  try {
    config = readConfig(configMap, kConfigKey);
  } catch (error) {
    c.fail(`ConfigMap ${configMap.metadata.name}: ${error.message}`);
    return c.problems;
  }
  const { pod, container } = checkDeploymentShape(c, deployment);
  const { grpcPort, metricsPort } = checkPorts(c, pod, container, service, config, docker);
  checkProbes(c, container, grpcPort);
  checkSecurity(c, pod, container, docker);
  const files = checkFiles(c, pod, container, config, configMap, docker);
  checkNetworkPolicy(c, policy, pod, grpcPort, metricsPort);
  checkSecretExample(c, secretExample, files);

  const drainMs = durationMs(config.drain_timeout);
  const graceMs = 1000 * (pod.spec.terminationGracePeriodSeconds ?? 30);
  c.expect(drainMs + kGraceBeyondDrainMs <= graceMs,
    `terminationGracePeriodSeconds (${graceMs / 1000}s) must exceed drain_timeout ` +
    `(${config.drain_timeout}) by at least ${kGraceBeyondDrainMs / 1000}s`);

  c.expect(account.automountServiceAccountToken === false,
    "ServiceAccount: automountServiceAccountToken must be false (wxtokend never calls the API)");
  c.expect(pod.spec.serviceAccountName === account.metadata.name,
    `Deployment: serviceAccountName must be ${account.metadata.name}`);
  return c.problems;
}

module.exports = { checkInvariants };
