// What operators' tools (Bull Board, failure reasons) may show of job data: never a code, token,
// secret or email address.

const EMAIL = /[^\s<>()[\]\\,;:"'@]+@[^\s<>()[\]\\,;:"'@]+\.[^\s<>()[\]\\,;:"'@]+/g;
const SECRET_KEY = /code|token|secret|password|pass$|authorization|cookie|sealed/i;

/** `text` with every email address replaced by `[email]`. */
export function redactEmails(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/** A copy of `value` whose secret-looking keys are `[redacted]` and whose email addresses are `[email]`. */
export function redactForOperators(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactEmails(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactForOperators(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactForOperators(v, depth + 1)]));
}
