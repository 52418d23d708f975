// The printed tables. Every service figure sits beside its ratio to the same round's baselines.
import { BUDGETS } from './budgets.ts';
import { SCENARIOS, type Scenario } from './options.ts';
import type { Figures } from './stats.ts';
import type { ScenarioSummary, Summary } from './summary.ts';

const num = (n: number | undefined, digits = 1) =>
  n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const int = (n: number | undefined) => num(n, 0);
const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n < 10 ? num(n, 2) : num(n, 1));

const LABELS: Record<Scenario, string> = {
  'code-request': 'code request',
  'verify': 'verify',
  'me': 'GET /v1/me',
  'e2e': 'end to end',
  'drain': 'mailer drain',
  'upload': 'uploads',
  'sigterm': 'SIGTERM',
};

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function headline(scenario: Scenario, m: Figures, opts: { e2eRate: number; e2eSeconds: number }): string {
  switch (scenario) {
    case 'code-request':
    case 'verify':
    case 'me':
      return `${int(m.rps)} req/s`;
    case 'e2e':
      return `${int(opts.e2eRate)}/s for ${num(opts.e2eSeconds, 0)} s, ${int(m.lost)} lost`;
    case 'drain':
      return `${int(m.messagesPerSecond)} msg/s (${int(m.count)})`;
    case 'upload':
      return `RSS +${num(m.rssGrowthMib)} MiB`;
    case 'sigterm':
      return `exit ${int(m.exitCode)} in ${int(m.exitMs)} ms`;
  }
}

function detail(scenario: Scenario, s: ScenarioSummary): string {
  const ratios = Object.values(s.ratios).map((r) => `${num(r.median, 2)}${r.label}`);
  if (scenario === 'sigterm') {
    const m = s.median;
    return `${int(m.jobs)} jobs: ${int(m.activeJobs)} active, ${int(m.smtpInFlight)} mid-SMTP at SIGTERM; delivered ${int(m.deliveredBeforeExit)} + ${int(m.deliveredAfterRestart)} after restart; lost ${int(m.lost)}, twice ${int(m.duplicated)}`;
  }
  return ratios.join(', ');
}

function verdict(s: ScenarioSummary): string {
  if (s.problems.length) return 'BROKEN';
  if (s.budget.checks.length === 0) return s.budget.enforced ? 'ok' : '-';
  const failed = s.budget.checks.filter((c) => !c.pass).map((c) => c.label);
  if (!s.budget.enforced) return failed.length ? `(not enforced; misses ${failed.join('; ')})` : '(not enforced; meets all)';
  return failed.length ? `FAIL: ${failed.join('; ')}` : 'pass';
}

export function renderReport(summary: Summary, opts: { e2eRate: number; e2eSeconds: number; rounds: number }): string {
  const out: string[] = [];
  const baselineRows = Object.values(summary.baselines).map(({ name, median: m }) => {
    const result = m.rps !== undefined ? `${int(m.rps)} req/s` : m.messagesPerSecond !== undefined ? `${int(m.messagesPerSecond)} msg/s` : m.rssGrowthMib !== undefined ? `RSS +${num(m.rssGrowthMib)} MiB` : `${int(opts.e2eRate)}/s`;
    return [name, result, ms(m.p50), ms(m.p99), ms(m.max)];
  });
  out.push(`Baselines (median of ${opts.rounds} round${opts.rounds === 1 ? '' : 's'}; latencies in ms)`);
  out.push(table(['baseline', 'result', 'p50', 'p99', 'max'], baselineRows));
  for (const [backend, scenarios] of Object.entries(summary.backends)) {
    if (!SCENARIOS.some((s) => scenarios[s])) continue;
    const rows = SCENARIOS.filter((s) => scenarios[s]).map((s) => {
      const sc = scenarios[s]!;
      const m = sc.median;
      const latency = s === 'drain' || s === 'sigterm' ? ['', '', ''] : [ms(m.p50), ms(m.p99), ms(m.max)];
      return [LABELS[s], headline(s, m, opts), ...latency, detail(s, sc), verdict(sc)];
    });
    out.push('', `Queue backend: ${backend}`);
    out.push(table(['scenario', 'result', 'p50', 'p99', 'max', 'vs baselines (same round)', 'budget'], rows));
  }
  const budgets = SCENARIOS.filter((s) => BUDGETS[s].length).map((s) => `${LABELS[s]}: ${BUDGETS[s].map((c) => c.label).join(', ')}`);
  out.push('', `Budgets (Redis backend; medians): ${budgets.join(' | ')}`);
  if (summary.broken.length) out.push('', 'Broken:', ...summary.broken.map((b) => `  ${b}`));
  return out.join('\n');
}
