/**
 * The deployment files, checked for structure where no cluster or registry is at hand: the Kubernetes
 * manifests under deploy/kubernetes/ (kinds and apiVersions, selectors that match, probes on /health, ports
 * that agree, non-root, read-only root filesystem with every written path on a volume), compose.yaml (and
 * `docker compose config` when a compose is installed), and the Dockerfile's contract. Every EDGELLM_*
 * variable they set must be a setting edgellm reads, so a renamed setting cannot leave them stale.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import type { Setting } from "../../src/config/setting.js";
import { SETTINGS } from "../../src/config/settings.js";

// Runs from dist/test/deploy/: the repository is three levels up.
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const KUBE = path.join(ROOT, "deploy", "kubernetes");

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML; each check names what it reads.
type Doc = Record<string, any>;
interface Manifest {
  file: string;
  doc: Doc;
}

/** The apiVersion each kind must have (the GA InferencePool API is inference.networking.k8s.io/v1). */
const API_VERSIONS: Record<string, string> = {
  Deployment: "apps/v1",
  Service: "v1",
  ConfigMap: "v1",
  ServiceAccount: "v1",
  PersistentVolumeClaim: "v1",
  Role: "rbac.authorization.k8s.io/v1",
  RoleBinding: "rbac.authorization.k8s.io/v1",
  NetworkPolicy: "networking.k8s.io/v1",
  HorizontalPodAutoscaler: "autoscaling/v2",
  InferencePool: "inference.networking.k8s.io/v1",
  Gateway: "gateway.networking.k8s.io/v1",
  HTTPRoute: "gateway.networking.k8s.io/v1",
  Kustomization: "kustomize.config.k8s.io/v1beta1",
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of yamlFiles(KUBE)) {
    for (const parsed of parseAllDocuments(readFileSync(file, "utf8"))) {
      assert.deepEqual(parsed.errors, [], `${file}: ${parsed.errors.join("; ")}`);
      const doc = parsed.toJS() as Doc | null;
      if (doc) out.push({ file: path.relative(ROOT, file), doc });
    }
  }
  return out;
}

const manifests = loadManifests();
const ofKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind);
const named = (kind: string, name: string) => ofKind(kind).find((m) => m.doc.metadata?.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const isEdgellm = (container: Doc) => String(container.image).startsWith("edgellm");
const edgellmDeployments = () =>
  ofKind("Deployment").filter((m) => m.doc.spec.template.spec.containers.some(isEdgellm));

/** Every EDGELLM_* variable edgellm reads: the settings table, plus the per-upstream family. */
const KNOWN_VARIABLES = new Set(
  (Object.values(SETTINGS) as Setting<unknown>[]).flatMap((s) => (s.env ? [s.env] : [])),
);
function assertKnownVariable(name: string, where: string): void {
  if (!name.startsWith("EDGELLM_")) return;
  const upstream = /^EDGELLM_UPSTREAM_[A-Z0-9_]+_(BASE_URL|API_KEY|MODEL)$/.test(name);
  assert.ok(KNOWN_VARIABLES.has(name) || upstream, `${where}: ${name} is no setting of edgellm`);
}

test("every manifest has a known kind with its apiVersion, and a kustomization lists each file", () => {
  assert.ok(manifests.length >= 10, "deploy/kubernetes/ holds the manifests");
  for (const { file, doc } of manifests) {
    assert.ok(doc.kind in API_VERSIONS, `${file}: unexpected kind ${doc.kind}`);
    assert.equal(doc.apiVersion, API_VERSIONS[doc.kind], `${file}: ${doc.kind}`);
    if (doc.kind !== "Kustomization") assert.ok(doc.metadata?.name, `${file}: ${doc.kind} without a name`);
  }
  for (const { file, doc } of ofKind("Kustomization")) {
    const dir = path.dirname(path.join(ROOT, file));
    const listed = (doc.resources as string[]).map((r) => path.join(dir, r));
    for (const r of listed) assert.ok(existsSync(r), `${file} lists ${r}, which does not exist`);
    const siblings = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) && f !== path.basename(file))
      .map((f) => path.join(dir, f));
    assert.deepEqual(listed.sort(), siblings.sort(), `${file} should list every manifest beside it`);
  }
});

test("Deployments: selectors match their pod labels, and Services select pods on a port they have", () => {
  for (const { file, doc } of ofKind("Deployment")) {
    const { selector, template } = doc.spec;
    assert.ok(matches(selector.matchLabels, template.metadata.labels), `${file}: selector vs pod labels`);
  }
  for (const { file, doc } of ofKind("Service")) {
    const target = ofKind("Deployment").find((d) =>
      matches(doc.spec.selector, d.doc.spec.template.metadata.labels),
    );
    assert.ok(target, `${file}: Service ${doc.metadata.name} selects no Deployment's pods`);
    const ports = target.doc.spec.template.spec.containers.flatMap((c: Doc) => c.ports ?? []);
    for (const port of doc.spec.ports) {
      const found = ports.some((p: Doc) => p.name === port.targetPort || p.containerPort === port.targetPort);
      assert.ok(
        found,
        `${file}: targetPort ${port.targetPort} is no container port of ${target.doc.metadata.name}`,
      );
    }
  }
});

test("edgellm pods: probes on /health at the serving port, non-root, read-only root, writes on volumes", () => {
  const deployments = edgellmDeployments();
  assert.ok(deployments.length >= 2, "the single-pod Deployment and the pool");
  for (const { file, doc } of deployments) {
    const pod = doc.spec.template.spec;
    assert.equal(pod.securityContext?.runAsNonRoot, true, `${file}: runAsNonRoot`);
    assert.ok(pod.securityContext?.runAsUser > 0, `${file}: a non-root uid`);
    const volumes = new Set((pod.volumes ?? []).map((v: Doc) => v.name));
    for (const container of [...(pod.initContainers ?? []), ...pod.containers].filter(isEdgellm)) {
      const where = `${file}: container ${container.name}`;
      assert.equal(
        container.securityContext?.readOnlyRootFilesystem,
        true,
        `${where}: readOnlyRootFilesystem`,
      );
      assert.equal(container.securityContext?.allowPrivilegeEscalation, false, `${where}: no escalation`);
      const env = Object.fromEntries((container.env ?? []).map((e: Doc) => [e.name, e.value]));
      for (const name of Object.keys(env)) assertKnownVariable(name, where);
      // With the root read-only, everything edgellm writes must be on a volume: its home and the temp dir.
      const mounts = (container.volumeMounts ?? []) as Doc[];
      for (const dir of [env.EDGELLM_HOME, "/tmp"]) {
        assert.ok(dir, `${where}: EDGELLM_HOME is set`);
        const mount = mounts.find((m) => m.mountPath === dir);
        assert.ok(
          mount && volumes.has(mount.name) && !mount.readOnly,
          `${where}: ${dir} on a writable volume`,
        );
      }
      if (pod.initContainers?.includes(container)) continue;
      const port = (container.ports as Doc[]).find((p) => p.name === "http");
      assert.ok(port, `${where}: an http port`);
      assert.equal(
        String(port.containerPort),
        env.EDGELLM_PORT,
        `${where}: EDGELLM_PORT is the container port`,
      );
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const get = container[probe]?.httpGet;
        assert.equal(get?.path, "/health", `${where}: ${probe} on /health`);
        assert.ok(get.port === port.name || get.port === port.containerPort, `${where}: ${probe} port`);
      }
      assert.ok(
        container.resources?.requests?.cpu && container.resources?.limits?.memory,
        `${where}: resources`,
      );
    }
  }
});

test("Inference Extension: the pool selects the edgellm pods on their port, and the picker reads vllm:* gauges", () => {
  const [pool] = ofKind("InferencePool");
  assert.ok(pool, "an InferencePool");
  const { selector, targetPorts, endpointPickerRef } = pool.doc.spec;
  const pods = edgellmDeployments().filter((d) =>
    matches(selector.matchLabels, d.doc.spec.template.metadata.labels),
  );
  assert.equal(pods.length, 1, "the pool selects exactly the edgellm pool Deployment");
  const container = pods[0].doc.spec.template.spec.containers.find(isEdgellm);
  const ports = container.ports.map((p: Doc) => p.containerPort);
  for (const { number } of targetPorts) assert.ok(ports.includes(number), `targetPort ${number}`);

  const eppService = named("Service", endpointPickerRef.name);
  assert.ok(eppService, `the picker's Service ${endpointPickerRef.name}`);
  assert.ok(
    eppService.doc.spec.ports.some((p: Doc) => p.port === endpointPickerRef.port.number),
    "the pool reaches the picker on a port its Service has",
  );
  const epp = ofKind("Deployment").find((d) =>
    matches(eppService.doc.spec.selector, d.doc.spec.template.metadata.labels),
  );
  assert.ok(epp, "the picker's Deployment");
  const args: string[] = epp.doc.spec.template.spec.containers[0].args;
  const flag = (name: string) => args[args.indexOf(name) + 1];
  assert.equal(flag("--pool-name"), pool.doc.metadata.name);
  assert.equal(flag("--total-queued-requests-metric"), "vllm:num_requests_waiting");
  assert.equal(flag("--total-running-requests-metric"), "vllm:num_requests_running");
  assert.equal(flag("--kv-cache-usage-percentage-metric"), "vllm:kv_cache_usage_perc");
  const config = named("ConfigMap", epp.doc.spec.template.spec.volumes[0].configMap.name);
  assert.ok(config, "the picker's plugin ConfigMap");
  const file = path.basename(flag("--config-file"));
  assert.equal(parseYaml(config.doc.data[file]).kind, "EndpointPickerConfig", `${file} in the ConfigMap`);
  const role = named("Role", epp.doc.spec.template.spec.serviceAccountName);
  assert.ok(
    role?.doc.rules.some((r: Doc) => r.resources.includes("inferencepools")),
    "may read pools",
  );
});

test("Inference Extension: the route sends to the pool through the Gateway; the HPA scales the pool on queue length", () => {
  const [route] = ofKind("HTTPRoute");
  for (const parent of route.doc.spec.parentRefs) assert.ok(named("Gateway", parent.name), parent.name);
  const backends = route.doc.spec.rules.flatMap((r: Doc) => r.backendRefs);
  assert.ok(backends.length > 0);
  for (const ref of backends) {
    assert.equal(ref.kind, "InferencePool");
    assert.equal(ref.group, "inference.networking.k8s.io");
    assert.ok(named("InferencePool", ref.name), ref.name);
  }
  const [hpa] = ofKind("HorizontalPodAutoscaler");
  const target = named("Deployment", hpa.doc.spec.scaleTargetRef.name);
  assert.ok(target, "the HPA scales a Deployment of these manifests");
  assert.ok(target.doc.spec.template.spec.containers.some(isEdgellm), "the HPA scales edgellm pods");
  const podLabels = target.doc.spec.template.metadata.labels;
  assert.match(hpa.doc.spec.metrics[0].pods.metric.name, /^vllm.num_requests_waiting$/);
  const [policy] = ofKind("NetworkPolicy");
  assert.ok(matches(policy.doc.spec.podSelector.matchLabels, podLabels), "the NetworkPolicy guards the pool");
});

test("compose.yaml: edgellm with its /data volume, port 8080, restart policy and a /health check", () => {
  const compose = parseYaml(readFileSync(path.join(ROOT, "compose.yaml"), "utf8"));
  const service = compose.services.edgellm;
  assert.ok(
    service.volumes.some((v: string) => v.endsWith(":/data")),
    "a volume at /data",
  );
  assert.ok(compose.volumes && Object.keys(compose.volumes).length > 0, "a named volume");
  assert.ok(
    service.ports.some((p: string) => p.endsWith(":8080")),
    "port 8080",
  );
  assert.match(service.restart, /^(always|unless-stopped|on-failure)/);
  assert.match(service.healthcheck.test.join(" "), /\/health/);
  const cloud = parseYaml(readFileSync(path.join(ROOT, "compose.cloud.yaml"), "utf8"));
  for (const file of [compose, cloud])
    for (const name of Object.keys(file.services.edgellm.environment)) assertKnownVariable(name, "compose");
  assert.ok("EDGELLM_UPSTREAM_QWEN_BASE_URL" in cloud.services.edgellm.environment);
});

test("compose files pass `docker compose config` where a compose is installed", (t) => {
  const compose = [["docker", "compose"], ["docker-compose"]].find(
    ([cmd, ...sub]) => spawnSync(cmd, [...sub, "version"], { stdio: "ignore" }).status === 0,
  );
  if (!compose) {
    t.skip("no docker compose here: the YAML checks above stand in for it");
    return;
  }
  const [cmd, ...sub] = compose;
  const check = (files: string[]) =>
    spawnSync(cmd, [...sub, ...files.flatMap((f) => ["-f", f]), "config", "--quiet"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, DASHSCOPE_API_KEY: "sk-test" },
    });
  for (const files of [["compose.yaml"], ["compose.yaml", "compose.cloud.yaml"]]) {
    const result = check(files);
    assert.equal(result.status, 0, `${files.join(" + ")}: ${result.stderr}`);
  }
});

test("Dockerfile: BASE_IMAGE for every stage, non-root, /data volume, port 8080, HEALTHCHECK on /health", () => {
  const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  assert.match(dockerfile, /^ARG BASE_IMAGE=node:24-bookworm-slim$/m);
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  const stages = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)/gm)].map((m) => m[1]));
  assert.ok(froms.length >= 3);
  const base = "$" + "{BASE_IMAGE}";
  for (const from of froms) assert.ok(from === base || stages.has(from), `FROM ${from}`);
  assert.match(dockerfile, /^USER 10001:10001$/m);
  assert.match(dockerfile, /^VOLUME \["\/data"\]$/m);
  assert.match(dockerfile, /^EXPOSE 8080$/m);
  assert.match(dockerfile, /^HEALTHCHECK [\s\S]*?127\.0\.0\.1:8080\/health/m);
  // The engine must not live under the volume, which would hide it.
  assert.match(dockerfile, /EDGELLM_HOME=\/data/);
  assert.match(dockerfile, /EDGELLM_LLAMA_SERVER=\/opt\//);
  for (const [, name] of dockerfile.matchAll(/\b(EDGELLM_[A-Z0-9_]+)=/g))
    assertKnownVariable(name, "Dockerfile");
  // package.json and the lock file are copied before the sources, so a source change reuses `npm ci`.
  assert.ok(dockerfile.indexOf("COPY package.json package-lock.json") < dockerfile.indexOf("COPY src"));
});
