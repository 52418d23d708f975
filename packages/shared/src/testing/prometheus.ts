/** One sample line of the Prometheus text exposition format (0.0.4). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** `# TYPE` of each family. */
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the one sample with this name whose labels include `labels`; throws when there is none or several. */
  value(name: string, labels?: Record<string, string>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/;

function unescape(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * A strict parser of the text format Prometheus scrapes: every line must be a comment, a HELP or
 * TYPE line, or a sample; anything else throws, naming the line. (The npm parser we tried merges
 * labelled histogram series into one, which would hide exactly what these tests look for.)
 */
export function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, i) => {
    const fail = (why: string) => new Error(`metrics line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    if (line === '') return;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (meta?.[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(meta[3]!)) throw fail('unknown type');
        types.set(meta[2]!, meta[3]!);
      }
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw fail('no metric name');
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const label = LABEL.exec(rest);
        if (!label) throw fail('malformed label');
        labels[label[1]!] = unescape(label[2]!);
        rest = rest.slice(label[0].length);
        if (!label[3] && !rest.startsWith('}')) throw fail('labels not separated by commas');
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw fail('expected " value [timestamp]"');
    // As Prometheus (Go's ParseFloat) reads them: Inf and NaN in any case.
    const raw = parts[0]!.toLowerCase();
    const value = /^[+-]?inf$/.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : raw === 'nan' ? NaN : Number(parts[0]);
    if (Number.isNaN(value) && raw !== 'nan') throw fail('value is not a number');
    samples.push({ name, labels, value });
  });
  return {
    types,
    samples,
    value(name, want = {}) {
      const found = samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
      if (found.length !== 1) throw new Error(`${name} ${JSON.stringify(want)} matches ${found.length} samples`);
      return found[0]!.value;
    },
  };
}
