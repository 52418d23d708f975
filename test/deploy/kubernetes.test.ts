import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { render, schemaProblems, selects, type K8sObject } from './kustomize.ts';
import { CREDENTIAL_NAME, ENTRY_POINTS, knownVariables, LOADERS, operatorSecrets, ROOT, SECRET_HOLDERS } from './service-contract.ts';

interface Probe { httpGet?: { path: string; port: number | string }; periodSeconds?: number; failureThreshold?: number; timeoutSeconds?: number }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: unknown } }
interface Container {
  name: string; image: string; command?: string[]; args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[]; envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe; livenessProbe?: Probe; startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[]; initContainers?: Container[]; terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  volumes?: { name: string; emptyDir?: unknown }[];
}
interface Workload extends K8sObject { spec: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } }

const SECRET = 'cheershare-secrets';
const EXAMPLE = readFileSync(join(ROOT, 'deploy/kubernetes/base/secrets.env.example'), 'utf8');
// The Secret's keys as secrets.env.example documents them: required ones filled in, optional ones commented out.
const REQUIRED_KEYS = [...EXAMPLE.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
const OPTIONAL_KEYS = [...EXAMPLE.matchAll(/^# ([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);

/** Renders once; without kubectl every test fails with the reason (a beforeAll would only skip them). */
function once<T>(make: () => T): () => T {
  let result: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!result) {
      try {
        result = { value: make() };
      } catch (error) {
        result = { error };
      }
    }
    if ('error' in result) throw result.error;
    return result.value;
  };
}
const base = once(() => render('deploy/kubernetes'));
const example = once(() => render('deploy/kubernetes/overlays/example'));
const of = (kind: string) => base().filter((o) => o.kind === kind);
const named = (kind: string, name: string) => of(kind).find((o) => o.metadata.name === name);
const workloads = () => [...of('Deployment'), ...of('Job')] as Workload[];
/** The service a workload runs, from its component label (api, mailer-worker, scheduler, migrate). */
const serviceOf = (w: Workload) => w.spec.template.metadata.labels['app.kubernetes.io/component']!;
const allContainers = (pod: PodSpec) => [...(pod.initContainers ?? []), ...pod.containers];

/** A container's environment as the kubelet builds it: envFrom first, env over it, the Secret filled by the operator. */
function environmentOf(container: Container, secret: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    expect(from.secretRef, `${container.name}: a whole Secret would hand every key to every pod; name each key`).toBeUndefined();
    const map = named('ConfigMap', from.configMapRef!.name) as { data?: Record<string, string> } | undefined;
    expect(map, `${container.name}: ConfigMap ${from.configMapRef?.name}`).toBeDefined();
    Object.assign(env, map!.data);
  }
  for (const v of container.env ?? []) {
    const ref = v.valueFrom?.secretKeyRef;
    if (v.value !== undefined) env[v.name] = v.value;
    else if (ref && secret[ref.key] !== undefined) env[v.name] = secret[ref.key]!;
  }
  return env;
}

const probeSeconds = (p: Probe) => (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3) + (p.timeoutSeconds ?? 1);

describe('deploy/kubernetes, rendered with kubectl kustomize and checked without a cluster', () => {
  it('is valid against the Kubernetes API schemas, with no unknown field', () => {
    for (const object of base()) expect(schemaProblems(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
  });

  it('runs api, mailer-worker and scheduler as Deployments, and migrate as a Job, each its own entry point', () => {
    expect(workloads().map((w) => `${w.kind} ${serviceOf(w)}`).sort()).toEqual(['Deployment api', 'Deployment mailer-worker', 'Deployment scheduler', 'Job migrate']);
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node"\]$/m);
    for (const w of workloads()) {
      for (const c of allContainers(w.spec.template.spec)) {
        const service = w.spec.template.spec.containers.includes(c) ? serviceOf(w) : 'migrate';
        expect(c.command, `${c.name}: the image's entrypoint runs node`).toBeUndefined();
        expect(c.args, `${w.metadata.name}/${c.name}`).toEqual([ENTRY_POINTS[service]]);
        expect(existsSync(join(ROOT, c.args![0]!))).toBe(true);
        expect(c.image, `${c.name}: a tag, never latest`).toMatch(/:(?!latest$)[^:/]+$/);
      }
    }
  });

  it('gives every service what production requires, from the ConfigMap and the Secret the operator fills', () => {
    const secret = { ...operatorSecrets(), PGPASSWORD: 'any #?@: characters', SMTP_URL: 'smtps://user:pass@smtp.example.com:465' };
    for (const w of workloads()) {
      for (const c of allContainers(w.spec.template.spec)) {
        const service = w.spec.template.spec.containers.includes(c) ? serviceOf(w) : 'migrate';
        const env = environmentOf(c, secret);
        expect(env.NODE_ENV, c.name).toBe('production');
        expect(() => LOADERS[service]!(env), `${w.metadata.name}/${c.name}`).not.toThrow();
        if (service === 'migrate') continue;
        expect(['0.0.0.0', '::'], `${c.name}: the kubelet's probes and Prometheus reach METRICS_HOST`).toContain(env.METRICS_HOST);
        // Several hosts: files in the shared object store, never on one pod's disk.
        if (service === 'api' || service === 'scheduler') expect(env.STORAGE, c.name).toBe('s3');
        if (service === 'api') expect(env.TRUST_PROXY ?? 'false', 'behind the ingress').not.toBe('false');
      }
    }
  });

  it('sets only variables the services read', () => {
    const known = knownVariables();
    const names = workloads().flatMap((w) => allContainers(w.spec.template.spec).flatMap((c) => Object.keys(environmentOf(c, {})).concat((c.env ?? []).map((v) => v.name))));
    expect([...new Set(names)].filter((n) => !known.has(n))).toEqual([]);
  });

  it('takes every credential from the Secret, never as a value, each only where it is used', () => {
    for (const map of of('ConfigMap') as (K8sObject & { data?: Record<string, string> })[]) {
      for (const [name, value] of Object.entries(map.data ?? {})) {
        expect(name, `ConfigMap ${map.metadata.name}`).not.toMatch(CREDENTIAL_NAME);
        if (/^[a-z+]+:\/\//.test(value)) expect(new URL(value).password, `${name} holds a password`).toBe('');
      }
    }
    expect(of('Secret'), 'the operator creates the Secret; none is committed').toEqual([]);
    const holders: Record<string, string[]> = {};
    for (const w of workloads()) {
      for (const c of allContainers(w.spec.template.spec)) {
        for (const v of c.env ?? []) {
          const ref = v.valueFrom?.secretKeyRef;
          if (CREDENTIAL_NAME.test(v.name) || v.name === 'SMTP_URL') expect(ref, `${c.name}: ${v.name} from the Secret`).toBeDefined();
          if (!ref) continue;
          expect([ref.name, ref.key], `${c.name}: ${v.name}`).toEqual([SECRET, v.name]);
          // Documented as secrets.env.example says: required keys must be there, optional ones may be left out.
          expect(ref.optional ? OPTIONAL_KEYS : REQUIRED_KEYS, `${v.name} in secrets.env.example`).toContain(ref.key);
          if (c === w.spec.template.spec.containers[0]) (holders[v.name] ??= []).push(serviceOf(w));
        }
      }
    }
    for (const [name, services] of Object.entries(SECRET_HOLDERS)) expect(holders[name]?.sort(), name).toEqual(services);
    expect([...REQUIRED_KEYS, ...OPTIONAL_KEYS].filter((key) => !holders[key]), 'keys no pod reads').toEqual([]);
  });

  it('probes each service on its operator port: readiness /readyz, liveness and startup /healthz', () => {
    for (const w of of('Deployment') as Workload[]) {
      const [c] = w.spec.template.spec.containers;
      const metricsPort = Number(environmentOf(c!, {}).METRICS_PORT);
      const port = (p: Probe) => c!.ports?.find((x) => x.name === p.httpGet?.port || x.containerPort === p.httpGet?.port)?.containerPort;
      expect([c!.readinessProbe?.httpGet?.path, c!.livenessProbe?.httpGet?.path, c!.startupProbe?.httpGet?.path], c!.name).toEqual(['/readyz', '/healthz', '/healthz']);
      for (const p of [c!.readinessProbe!, c!.livenessProbe!, c!.startupProbe!]) expect(port(p), `${c!.name} probes METRICS_PORT`).toBe(metricsPort);
    }
  });

  it('lets every pod drain: the kill comes after SHUTDOWN_GRACE_MS, and the API leaves the endpoints within SHUTDOWN_DELAY_MS', () => {
    for (const w of of('Deployment') as Workload[]) {
      const env = environmentOf(w.spec.template.spec.containers[0]!, {});
      expect(w.spec.template.spec.terminationGracePeriodSeconds, w.metadata.name).toBeGreaterThan(Number(env.SHUTDOWN_GRACE_MS ?? 20_000) / 1000);
    }
    const api = (named('Deployment', 'cheershare-api') as Workload).spec.template.spec.containers[0]!;
    const delaySeconds = Number(environmentOf(api, {}).SHUTDOWN_DELAY_MS) / 1000;
    // Half the delay at most: the rest is for kube-proxy and the ingress to act on the change.
    expect(probeSeconds(api.readinessProbe!)).toBeLessThanOrEqual(delaySeconds / 2);
  });

  it('runs unprivileged: non-root by number, no privilege escalation, no capabilities, read-only root with an emptyDir /tmp', () => {
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(pod.securityContext?.runAsUser, `${w.metadata.name}: a numeric non-root user the kubelet can check`).toBeGreaterThan(0);
      expect(pod.securityContext?.seccompProfile?.type, w.metadata.name).toBe('RuntimeDefault');
      for (const c of allContainers(pod)) {
        expect(c.securityContext, c.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.securityContext?.capabilities?.add, c.name).toBeUndefined();
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${w.metadata.name}/${c.name}: /tmp is writable`).toBeDefined();
        expect(Object.keys(c.resources?.requests ?? {}).sort(), `${c.name}: requests`).toEqual(['cpu', 'memory']);
        expect(c.resources?.limits?.memory, `${c.name}: a memory limit`).toBeDefined();
      }
    }
  });

  it('selects its own pods: each workload, Service and budget exactly one workload\'s, on ports they have', () => {
    for (const w of workloads()) {
      const labels = w.spec.template.metadata.labels;
      if (w.kind === 'Deployment') expect(selects(w.spec.selector?.matchLabels, labels), `${w.metadata.name} selects its template`).toBe(true);
      for (const other of workloads().filter((o) => o !== w && o.kind === 'Deployment')) expect(selects(other.spec.selector?.matchLabels, labels), `${other.metadata.name} selects ${w.metadata.name}'s pods`).toBe(false);
    }
    const selected = (selector?: Record<string, string>) => workloads().filter((w) => selects(selector, w.spec.template.metadata.labels)).map((w) => w.metadata.name);
    for (const s of of('Service') as (K8sObject & { spec: { selector?: Record<string, string>; ports: { targetPort: string | number }[] } })[]) {
      const [target, ...more] = selected(s.spec.selector);
      expect([target, ...more], `Service ${s.metadata.name}`).toHaveLength(1);
      const ports = (named('Deployment', target!) as Workload).spec.template.spec.containers.flatMap((c) => c.ports ?? []);
      for (const { targetPort } of s.spec.ports) expect(ports.some((p) => p.name === targetPort || p.containerPort === targetPort), `${s.metadata.name} → ${targetPort}`).toBe(true);
    }
    const budgets = of('PodDisruptionBudget') as (K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number } })[];
    for (const b of budgets) expect(selected(b.spec.selector.matchLabels), b.metadata.name).toHaveLength(1);
    expect(budgets.flatMap((b) => selected(b.spec.selector.matchLabels))).toContain('cheershare-api');
  });

  it('autoscales the api Deployment (autoscaling/v2, on its CPU request) from 2 replicas, owning their count', () => {
    const [hpa, ...more] = of('HorizontalPodAutoscaler') as (K8sObject & { spec: { scaleTargetRef: { apiVersion: string; kind: string; name: string }; minReplicas: number; maxReplicas: number } })[];
    expect(more).toEqual([]);
    expect(hpa!.apiVersion).toBe('autoscaling/v2');
    expect(hpa!.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'cheershare-api' });
    const api = named('Deployment', 'cheershare-api') as Workload;
    // The autoscaler owns the count: a `replicas` in the manifest would be reapplied over it.
    expect(api.spec.replicas).toBeUndefined();
    expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa!.spec.maxReplicas).toBeGreaterThan(hpa!.spec.minReplicas);
    expect(api.spec.template.spec.containers[0]!.resources?.requests?.cpu).toBeDefined();
  });
});

describe('deploy/kubernetes/overlays/example, an operator\'s overlay', () => {
  it('is valid, puts everything in its namespace, and takes the image from a registry', () => {
    for (const object of example()) expect(schemaProblems(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
    expect(new Set(example().map((o) => o.metadata.namespace))).toEqual(new Set(['cheershare']));
    const images = example().flatMap((o) => (o as Workload).spec?.template?.spec ? allContainers((o as Workload).spec.template.spec).map((c) => c.image) : []);
    expect(new Set(images)).toEqual(new Set(['registry.example.com/cheershare:1.0.0']));
  });

  it('routes its ingress to the api Service\'s public port, with room for an upload', () => {
    const [ingress] = example().filter((o) => o.kind === 'Ingress') as (K8sObject & { metadata: { annotations: Record<string, string> }; spec: { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] } })[];
    const backends = ingress!.spec.rules.flatMap((r) => r.http.paths.map((p) => p.backend.service));
    expect(backends).toEqual([{ name: 'cheershare-api', port: { name: 'http' } }]);
    const service = example().find((o) => o.kind === 'Service' && o.metadata.name === 'cheershare-api') as K8sObject & { spec: { ports: { name: string; targetPort: string }[] } };
    expect(service.spec.ports.find((p) => p.name === 'http')?.targetPort).toBe('http');
    // ingress-nginx refuses bodies over 1 MiB unless told; uploads go up to UPLOAD_MAX_BYTES (10 MiB).
    expect(Number.parseInt(ingress!.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size']!, 10)).toBeGreaterThan(10);
  });
});
