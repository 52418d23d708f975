// Renders deploy/kubernetes with `kubectl kustomize` and checks each object against the Kubernetes
// API schemas (kubernetes-models), as `kubectl apply --validate=strict` would without a cluster.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ROOT } from './service-contract.ts';

/** A rendered object, as plain data. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

// What the manifests may contain; anything else is refused rather than left unchecked.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1 Job': Job,
  'networking.k8s.io/v1 Ingress': Ingress,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 Namespace': Namespace,
  'v1 Secret': Secret,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
};

/** `kubectl kustomize <dir>` (dir relative to the repository), parsed. Throws, never skips, without kubectl. */
export function render(dir: string): K8sObject[] {
  const run = spawnSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8', timeout: 60_000 });
  if ((run.error as { code?: string } | undefined)?.code === 'ENOENT') {
    throw new Error('kubectl is not installed, so deploy/kubernetes cannot be rendered: install kubectl 1.32 or later (kustomize 5.5 is built in) and run the test again');
  }
  if (run.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${run.stderr}`);
  return parseAllDocuments(run.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${doc.errors[0]!.message}`);
    return doc.toJS() as K8sObject;
  });
}

/**
 * Fields the schema never looks at: a validator reads every property its schema defines, so a key
 * it did not read is one Kubernetes does not know (a typo such as `readinesProbe`), which the
 * schema alone (no additionalProperties: false) lets through.
 */
function unknownFields(model: { validate(): void }, data: unknown): string[] {
  const read = new WeakMap<object, Set<PropertyKey>>();
  const seen: { path: string; target: object }[] = [];
  const watch = (value: unknown, path: string): unknown => {
    if (!value || typeof value !== 'object') return value;
    if (!Array.isArray(value)) {
      read.set(value, new Set());
      seen.push({ path, target: value });
    }
    return new Proxy(value, {
      get(target, key, receiver) {
        read.get(target)?.add(key);
        const v: unknown = Reflect.get(target, key, receiver);
        return typeof key === 'string' ? watch(v, `${path}/${key}`) : v;
      },
    });
  };
  model.validate.call(watch(structuredClone(data), ''));
  return seen.flatMap(({ path, target }) => Object.keys(target).filter((key) => !read.get(target)!.has(key)).map((key) => `${path}/${key}: unknown field`));
}

/** What is wrong with an object by the Kubernetes API's schema: an empty list when nothing. */
export function schemaProblems(object: K8sObject): string[] {
  const Model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (!Model) return [`${object.apiVersion} ${object.kind}: not a kind these manifests are expected to hold`];
  const model = new Model(object as never);
  try {
    model.validate();
  } catch (err) {
    return [(err as Error).message];
  }
  return unknownFields(model, object);
}

/** Whether a label selector's matchLabels select pods with these labels. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
