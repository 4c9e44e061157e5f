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
// server/config.h's default state_dir.
const kDefaultStateDir = "/var/lib/wxtoken";

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

// Replicas share Redis (store.redis), or the one pod keeps its own store.
function isReplicated(config) {
  return Boolean(config.store && config.store.redis);
}

function checkDeploymentShape(c, deployment, config) {
  const spec = deployment.spec || {};
  const pod = spec.template || {};
  if (isReplicated(config)) {
    c.expect(spec.replicas >= 2,
      `Deployment: with store.redis, run at least 2 replicas (high availability), got ${spec.replicas}`);
    const rolling = (spec.strategy && spec.strategy.rollingUpdate) || {};
    c.expect(spec.strategy && spec.strategy.type === "RollingUpdate" && rolling.maxUnavailable === 0,
      "Deployment: with store.redis, strategy must be RollingUpdate with maxUnavailable 0, " +
      "so a rollout never takes a serving replica away first");
    const spread = ((pod.spec && pod.spec.topologySpreadConstraints) || []).find(
      (t) => t.topologyKey === "kubernetes.io/hostname");
    c.expect(spread && spread.maxSkew === 1 &&
        selects(spread.labelSelector && spread.labelSelector.matchLabels, pod.metadata && pod.metadata.labels),
      "Deployment: replicas must spread over nodes (topologySpreadConstraints on kubernetes.io/hostname " +
      "selecting wxtoken's pods, maxSkew 1): one node failure must not take them all");
  } else {
    c.expect(spec.replicas === 1,
      `Deployment: replicas must be 1 (one live token per app; per-pod store), got ${spec.replicas}`);
    c.expect(spec.strategy && spec.strategy.type === "Recreate" && !spec.strategy.rollingUpdate,
      "Deployment: strategy must be Recreate, so two pods never run at once");
  }
  c.expect(selects(spec.selector && spec.selector.matchLabels, pod.metadata && pod.metadata.labels),
    "Deployment: selector does not match the pod template's labels");
  const containers = (pod.spec && pod.spec.containers) || [];
  c.expect(containers.length === 1, `Deployment: want one container, got ${containers.length}`);
  return { pod, container: containers[0] || {} };
}

// `port`: listen's, or under TLS health_listen's (the kubelet's gRPC
// probes speak no TLS).
function checkProbes(c, container, port, portKey) {
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const p = container[probe];
    if (!c.expect(p && p.grpc, `${probe}: must be a native gRPC probe`)) continue;
    c.expect(!p.httpGet && !p.tcpSocket && !p.exec, `${probe}: only the grpc handler`);
    c.expect(p.grpc.port === port,
      `${probe}: grpc.port ${p.grpc.port} is not the config's ${portKey} port ${port}`);
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
  const configDir = configPath && path.posix.dirname(configPath);
  const configMount = mounts.find((m) => m.mountPath === configDir);
  const configVolume = configMount && volumes.get(configMount.name);
  // A directory mount, not a subPath one: only then does the kubelet deliver
  // ConfigMap updates, which wxtokend reloads without a restart.
  c.expect(configVolume && configVolume.configMap &&
      configVolume.configMap.name === configMap.metadata.name && !configMount.subPath &&
      path.posix.basename(configPath || "") === kConfigKey,
    `the image's config ${configPath} must be ConfigMap ${configMap.metadata.name} key ${kConfigKey}, ` +
    `mounted as the directory ${configDir} without subPath (so updates reach the pod)`);

  if (isReplicated(config)) {
    c.expect(config.state_dir === undefined,
      "config: state_dir must not be set with store.redis (wxtokend refuses both)");
    checkAdvertiseAddress(c, container, config);
  } else {
    const stateDir = config.state_dir ?? kDefaultStateDir;
    const stateMount = mounts.find((m) => m.mountPath === stateDir);
    c.expect(stateMount && !stateMount.readOnly,
      `state_dir ${stateDir} must be a writable volume mount (the root filesystem is read-only)`);
    c.expect(docker.volumes.includes(stateDir),
      `state_dir ${stateDir} is not the image's VOLUME ${docker.volumes}`);
  }

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

// Replicas forward ForceRefresh to the leader's advertised address: the
// pod's own IP (the downward API) and the gRPC port.
function checkAdvertiseAddress(c, container, config) {
  const variable = config.store.advertise_address_env;
  if (!c.expect(typeof variable === "string" && variable !== "",
    "config: with store.redis, set store.advertise_address_env (the pod IP), so followers can forward to the leader")) {
    return;
  }
  const env = new Map((container.env || []).map((e) => [e.name, e]));
  const advertised = env.get(variable);
  const grpcPort = portOf(config.listen);
  const ipVariable = advertised && /^\$\(([A-Z_][A-Z0-9_]*)\):(\d+)$/.exec(advertised.value || "");
  if (!c.expect(ipVariable && Number(ipVariable[2]) === grpcPort,
    `container env ${variable} must be "$(POD_IP):${grpcPort}" (advertise_address_env)`)) return;
  const ip = env.get(ipVariable[1]);
  const field = ip && ip.valueFrom && ip.valueFrom.fieldRef && ip.valueFrom.fieldRef.fieldPath;
  c.expect(field === "status.podIP",
    `container env ${ipVariable[1]} must come from fieldRef status.podIP (the downward API)`);
  const order = (container.env || []).map((e) => e.name);
  c.expect(order.indexOf(ipVariable[1]) < order.indexOf(variable),
    `container env ${ipVariable[1]} must come before ${variable}, or $(${ipVariable[1]}) is not expanded`);
}

// Replicas: a drain or an eviction takes one at a time.
function checkDisruptionBudget(c, budget, deployment) {
  const pod = deployment.spec.template;
  if (!c.expect(budget, "with store.redis, a PodDisruptionBudget must keep replicas serving during drains")) return;
  const spec = budget.spec || {};
  c.expect(selects(spec.selector && spec.selector.matchLabels, pod.metadata && pod.metadata.labels) &&
      Object.keys((spec.selector && spec.selector.matchLabels) || {}).length > 0,
    "PodDisruptionBudget: selector must select wxtoken's pods");
  const replicas = deployment.spec.replicas;
  c.expect(spec.minAvailable === replicas - 1 || spec.maxUnavailable === 1,
    `PodDisruptionBudget: must allow exactly one disruption (minAvailable ${replicas - 1} or maxUnavailable 1)`);
}

function checkPorts(c, pod, container, service, config, docker) {
  const grpcPort = portOf(config.listen);
  const metricsPort = portOf(config.metrics_listen);
  const containerPorts = new Map((container.ports || []).map((p) => [p.name, p.containerPort]));
  c.expect(containerPorts.get("grpc") === grpcPort, `container port grpc must be listen's ${grpcPort}`);
  c.expect(containerPorts.get("metrics") === metricsPort,
    `container port metrics must be metrics_listen's ${metricsPort}`);
  if (config.health_listen) {
    c.expect(containerPorts.get("health") === portOf(config.health_listen),
      `container port health must be health_listen's ${portOf(config.health_listen)}`);
  }
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
  // push_listen: WeChat's pushes, through an Ingress to the Service.
  const pushPort = config.push_listen ? portOf(config.push_listen) : undefined;
  if (pushPort !== undefined) {
    c.expect(containerPorts.get("push") === pushPort, `container port push must be push_listen's ${pushPort}`);
    const push = ports.get("push") || {};
    c.expect(push.port === pushPort && push.targetPort === "push",
      `Service: port push must be ${pushPort} -> push`);
  } else {
    c.expect(!containerPorts.has("push") && !ports.has("push"), "a push port without push_listen in the config");
  }
  return { grpcPort, metricsPort, pushPort };
}

// What push_listen answers: WeChat platforms' pushes and WeCom suites'.
const kPushPathPrefixes = ["/wechat/platform/", "/wecom/suite/"];

// With push_listen, an Ingress routes the push paths, and only them, to the
// Service's push port.
function checkPushIngress(c, ingresses, service, pushPort) {
  if (pushPort === undefined) {
    c.expect(ingresses.length === 0, "an Ingress without push_listen in the config: nothing would answer it");
    return;
  }
  const paths = ingresses.flatMap((ingress) =>
    ((ingress.spec && ingress.spec.rules) || []).flatMap((rule) => (rule.http && rule.http.paths) || []));
  c.expect(paths.length > 0, "push_listen: an Ingress must route WeChat's pushes to it");
  for (const path of paths) {
    const backend = (path.backend && path.backend.service) || {};
    c.expect(typeof path.path === "string" && kPushPathPrefixes.some((p) => path.path.startsWith(p)),
      `Ingress: path ${path.path} is not one of the push paths (${kPushPathPrefixes.join(", ")})`);
    c.expect(backend.name === (service.metadata && service.metadata.name) &&
        backend.port && (backend.port.name === "push" || backend.port.number === pushPort),
      `Ingress: path ${path.path} must go to the Service's push port`);
  }
}

// Only labelled clients reach gRPC, only Prometheus reaches /metrics, and
// nothing reaches anything else.
function checkNetworkPolicy(c, policy, pod, grpcPort, metricsPort, replicated, pushPort) {
  const spec = policy.spec || {};
  c.expect(selects(spec.podSelector && spec.podSelector.matchLabels, pod.metadata && pod.metadata.labels) &&
      Object.keys((spec.podSelector && spec.podSelector.matchLabels) || {}).length > 0,
    "NetworkPolicy: podSelector must select wxtoken's pods (and only them)");
  c.expect((spec.policyTypes || []).includes("Ingress"), "NetworkPolicy: policyTypes must include Ingress");
  // Replicas reach each other's gRPC port: a follower forwards ForceRefresh.
  const ownLabels = { [kNameLabel]: kName };
  const allowed = {
    [grpcPort]: replicated ? [kClientLabels, ownLabels] : [kClientLabels],
    [metricsPort]: [kPrometheusLabels],
  };
  const admitted = new Set();
  const covered = new Set();
  for (const [i, rule] of (spec.ingress || []).entries()) {
    const ports = rule.ports || [];
    const from = rule.from || [];
    if (!c.expect(ports.length > 0 && from.length > 0,
      `NetworkPolicy: ingress[${i}] must name its ports and peers (an empty list allows all)`)) continue;
    for (const port of ports) {
      if (pushPort !== undefined && port.port === pushPort) {
        // The ingress controller's namespace, named by its labels.
        covered.add(port.port);
        for (const peer of from) {
          const names = peer.namespaceSelector && peer.namespaceSelector.matchLabels;
          c.expect(!peer.ipBlock && names && Object.keys(names).length > 0,
            `NetworkPolicy: ingress[${i}] port ${port.port} must admit only the ingress controller's ` +
            "namespace (a namespaceSelector with labels)");
        }
        continue;
      }
      const want = allowed[port.port];
      if (!c.expect(want && (port.protocol || "TCP") === "TCP",
        `NetworkPolicy: ingress[${i}] opens port ${port.port}; only ${grpcPort} and ${metricsPort} may be open`)) continue;
      covered.add(port.port);
      for (const peer of from) {
        const labels = peer.podSelector && want.find((w) => sameLabels(peer.podSelector.matchLabels, w));
        c.expect(!peer.ipBlock && labels,
          `NetworkPolicy: ingress[${i}] port ${port.port} must admit only pods labelled ` +
          want.map((w) => JSON.stringify(w)).join(" or "));
        if (labels) admitted.add(`${port.port} ${JSON.stringify(labels)}`);
      }
    }
  }
  c.expect(covered.has(grpcPort) && covered.has(metricsPort),
    `NetworkPolicy: must admit clients to ${grpcPort} and Prometheus to ${metricsPort}`);
  if (replicated) {
    c.expect(admitted.has(`${grpcPort} ${JSON.stringify(ownLabels)}`),
      `NetworkPolicy: with store.redis, wxtoken's own pods must reach port ${grpcPort} (ForceRefresh forwarding)`);
  }
}

// Under TLS: the certificate files come from a Secret cert-manager keeps
// (a Certificate's secretName), by the names it writes; an example caller's
// Certificate names a principal `callers` grants.
const kCertManagerKeys = new Set(["tls.crt", "tls.key", "ca.crt"]);
function checkTls(c, pod, container, config, certificates) {
  if (!config.tls) {
    c.expect(certificates.length === 0, "Certificates without tls in the config: nothing would use them");
    return;
  }
  c.expect(typeof config.health_listen === "string" && config.health_listen !== "",
    "config: with tls, set health_listen: the kubelet's gRPC probes speak no TLS");
  const volumes = new Map(((pod.spec && pod.spec.volumes) || []).map((v) => [v.name, v]));
  const mounts = container.volumeMounts || [];
  for (const key of ["cert_file", "key_file", "client_ca_file"]) {
    const file = config.tls[key];
    if (file === undefined) continue;
    const mount = mounts.find((m) => path.posix.dirname(file) === m.mountPath && !m.subPath);
    const volume = mount && volumes.get(mount.name);
    const certificate = volume && volume.secret &&
      certificates.find((cert) => cert.spec.secretName === volume.secret.secretName);
    if (!c.expect(certificate,
      `config: tls.${key} ${file} must be in a mounted Secret that a Certificate keeps (renewed, re-read)`)) continue;
    c.expect(kCertManagerKeys.has(path.posix.basename(file)),
      `config: tls.${key} ${file}: cert-manager writes only ${[...kCertManagerKeys].join(", ")}`);
  }
  const granted = new Set((config.callers || []).map((caller) => caller.principal));
  const callers = certificates.filter((cert) => !(cert.spec.usages || []).includes("server auth"));
  for (const certificate of callers) {
    const uri = (certificate.spec.uris || [])[0];
    c.expect(uri && granted.has(uri),
      `Certificate/${certificate.metadata.name}: its URI ${uri} is no principal in the config's callers`);
  }
}

function checkSecretExamples(c, secrets, files) {
  if (!c.expect(secrets.length > 0 && secrets.every((s) => s && s.kind === "Secret"),
    "the Secret example is missing")) return;
  for (const secret of secrets) {
    c.expect(secret.data === undefined, "Secret example: use stringData placeholders, not data");
    for (const [key, value] of Object.entries(secret.stringData || {})) {
      c.expect(typeof value === "string" && value.startsWith("REPLACE_ME"),
        `Secret example: ${key} must be a REPLACE_ME placeholder, never a real value`);
    }
  }
  for (const file of files.filter((f) => f.secretName !== undefined)) {
    const secret = secrets.find((s) => s.metadata.name === file.secretName);
    if (!c.expect(secret,
      `config: ${file.path} comes from Secret ${file.secretName}, and no example shows it ` +
      `(examples: ${secrets.map((s) => s.metadata.name).join(", ")})`)) continue;
    c.expect(Object.prototype.hasOwnProperty.call(secret.stringData || {}, path.posix.basename(file.path)),
      `Secret example: no key ${path.posix.basename(file.path)} for ${file.appId ? `app ${file.appId}` : "the store"} ${file.key}`);
  }
}

// objects: the rendered objects; secretExamples: the objects of the Secret
// examples (deploy/base/secret.example.yaml, and an overlay's); docker:
// dockerfile.runtimeFacts(); kustomized: rendered by kustomize.
function checkInvariants(objects, { secretExamples, docker, kustomized }) {
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
  const replicated = isReplicated(config);
  const { pod, container } = checkDeploymentShape(c, deployment, config);
  const { grpcPort, metricsPort, pushPort } = checkPorts(c, pod, container, service, config, docker);
  checkPushIngress(c, objects.filter((o) => o.kind === "Ingress"), service, pushPort);
  if (config.tls && config.health_listen) {
    checkProbes(c, container, portOf(config.health_listen), "health_listen");
  } else {
    checkProbes(c, container, grpcPort, "listen");
  }
  checkTls(c, pod, container, config, objects.filter((o) => o.kind === "Certificate"));
  checkSecurity(c, pod, container, docker);
  const files = checkFiles(c, pod, container, config, configMap, docker);
  checkNetworkPolicy(c, policy, pod, grpcPort, metricsPort, replicated, pushPort);
  checkSecretExamples(c, secretExamples || [], files);
  const budgets = objects.filter((o) => o.kind === "PodDisruptionBudget");
  if (replicated) {
    checkDisruptionBudget(c, budgets[0], deployment);
    c.expect(durationMs(config.shutdown_delay) > 0,
      "config: with store.redis, shutdown_delay must be above 0s, so endpoints move callers to the " +
      "other replicas before the listener closes");
  } else {
    c.expect(budgets.length === 0,
      "a PodDisruptionBudget on one replica would block every node drain");
  }

  // SIGTERM: shutdown_delay, then the drain, then in-flight upstream
  // requests (upstream.timeout) and the store flush.
  const drainMs = durationMs(config.drain_timeout);
  const delayMs = durationMs(config.shutdown_delay);
  const graceMs = 1000 * (pod.spec.terminationGracePeriodSeconds ?? 30);
  c.expect(delayMs + drainMs + kGraceBeyondDrainMs <= graceMs,
    `terminationGracePeriodSeconds (${graceMs / 1000}s) must exceed shutdown_delay ` +
    `(${config.shutdown_delay}) plus drain_timeout (${config.drain_timeout}) by at least ` +
    `${kGraceBeyondDrainMs / 1000}s`);

  c.expect(account.automountServiceAccountToken === false,
    "ServiceAccount: automountServiceAccountToken must be false (wxtokend never calls the API)");
  c.expect(pod.spec.serviceAccountName === account.metadata.name,
    `Deployment: serviceAccountName must be ${account.metadata.name}`);
  return c.problems;
}

module.exports = { checkInvariants };
