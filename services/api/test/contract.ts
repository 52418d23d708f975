// The contract: every response the test suite receives from the API must be one the OpenAPI
// document describes (status, media type, and body against its schema, checked with Ajv's
// JSON Schema 2020-12 validator, the dialect OpenAPI 3.1 uses). Harnesses call it on each reply,
// so code and reference cannot drift.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { buildOpenApiDocument } from '../src/openapi.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const document = buildOpenApiDocument('contract') as unknown as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema({ ...document, $id: 'openapi' });

const templates = Object.keys(document.paths).map((template) => ({
  template,
  pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));
const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
const validators = new Map<string, ValidateFunction>();
function validatorFor(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) validators.set(ref, (v = ajv.compile({ $ref: ref })));
  return v;
}
const errorRef = 'openapi#/components/schemas/Error';

export class ContractError extends Error {
  override name = 'ContractError';
}

/** Throws a ContractError when this reply is not one the document describes. */
export function checkContract(reply: { method: string; url: string; status: number; contentType: string | null; body: unknown }): void {
  const path = new URL(reply.url, 'http://x').pathname;
  // Operator surfaces and the reference's own page are not part of the client API.
  if (path.startsWith('/admin/') || path === '/docs' || path.startsWith('/docs/')) return;
  const where = `${reply.method} ${path} → ${reply.status}`;
  const fail = (why: string) => new ContractError(`${where}: ${why}\nbody: ${JSON.stringify(reply.body)?.slice(0, 500)}`);
  const validate = (ref: string) => {
    const v = validatorFor(ref);
    if (!v(reply.body)) throw fail(`body does not match ${ref}: ${ajv.errorsText(v.errors)}`);
  };
  const method = reply.method.toLowerCase();
  const match = templates.find((t) => t.pattern.test(path));
  const operation = match ? document.paths[match.template]![method === 'head' ? 'get' : method] : undefined;
  if (!match || !operation) {
    // Anything the API does not serve is the one 404 (unknown route or method).
    if (reply.status !== 404) throw fail('an undocumented route or method must answer 404');
    validate(errorRef);
    return;
  }
  const response = operation.responses[String(reply.status)];
  if (!response) throw fail(`status ${reply.status} is not documented for ${reply.method} ${match.template}`);
  const media = Object.keys(response.content ?? {});
  if (media.length === 0 || method === 'head') {
    if (reply.body !== undefined && reply.body !== '' && method !== 'head') throw fail('a documented empty response has a body');
    return;
  }
  const type = reply.contentType?.split(';')[0]?.trim() ?? '';
  const declared = media.find((m) => m === type || (m.endsWith('/*') && type.startsWith(m.slice(0, -1))));
  if (!declared) throw fail(`media type "${type}" is not one of ${media.join(', ')}`);
  if (declared === 'application/json') {
    validate(`openapi#/${pointer('paths', match.template, method, 'responses', String(reply.status), 'content', declared, 'schema')}`);
  }
}
