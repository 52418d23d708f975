// From raw rounds to what the report shows: medians across rounds, each scenario's ratios to the
// baselines of the same round (median of the per-round ratios), budgets and sanity checks.
import { BASELINES, type BaselineKey } from './baselines.ts';
import { BUDGET_BACKENDS, BUDGETS, RATIOS, SANITY, within, type Check } from './budgets.ts';
import type { Backend, Scenario } from './options.ts';
import { median, medians, type Figures } from './stats.ts';

export type BaselineRound = Partial<Record<BaselineKey, Figures>>;
export type BackendRound = Partial<Record<Scenario, Figures>>;

export interface CheckResult {
  label: string;
  value: number;
  min?: number;
  max?: number;
  pass: boolean;
}

export interface ScenarioSummary {
  /** The rounds (1-based) that ran it, and their figures. */
  ranInRounds: number[];
  rounds: Figures[];
  median: Figures;
  ratios: Record<string, { label: string; rounds: number[]; median: number }>;
  budget: { enforced: boolean; pass: boolean; checks: CheckResult[] };
  /** Sanity problems: the scenario is broken when there is any. */
  problems: string[];
}

export interface Summary {
  baselines: Partial<Record<BaselineKey, { name: string; rounds: Figures[]; median: Figures }>>;
  backends: Partial<Record<Backend, Partial<Record<Scenario, ScenarioSummary>>>>;
  /** "backend scenario: problem", for every broken scenario. */
  broken: string[];
  /** "backend scenario: budget", for every failed budget on an enforced backend. */
  budgetFailures: string[];
}

function ratio(a: number | undefined, b: number | undefined, floor = 0): number {
  if (a === undefined || b === undefined) return Number.NaN;
  return Math.max(a, floor) / Math.max(b, floor);
}

function judge(check: Check, figures: Figures, ratios: Record<string, number>): CheckResult {
  const value = 'figure' in check ? figures[check.figure] : ratios[check.ratio];
  return { label: check.label, value: value ?? Number.NaN, ...(check.min !== undefined && { min: check.min }), ...(check.max !== undefined && { max: check.max }), pass: within(check, value) };
}

export function summarize(baselineRounds: BaselineRound[], backendRounds: Partial<Record<Backend, BackendRound[]>>): Summary {
  const summary: Summary = { baselines: {}, backends: {}, broken: [], budgetFailures: [] };
  for (const key of Object.keys(BASELINES) as BaselineKey[]) {
    const rounds = baselineRounds.map((r) => r[key]).filter((f): f is Figures => !!f);
    if (rounds.length) summary.baselines[key] = { name: BASELINES[key], rounds, median: medians(rounds) };
  }
  for (const [backend, rounds] of Object.entries(backendRounds) as [Backend, BackendRound[]][]) {
    const scenarios: Partial<Record<Scenario, ScenarioSummary>> = {};
    for (const scenario of Object.keys(RATIOS) as Scenario[]) {
      // Rounds that ran this scenario (end to end runs in the last one only), by round index.
      const ran = rounds.flatMap((r, i) => (r[scenario] ? [{ f: r[scenario], i }] : []));
      if (ran.length === 0) continue;
      const figures = ran.map(({ f }) => f);
      const problems: string[] = [];
      for (const { f, i } of ran) {
        for (const check of SANITY[scenario]) {
          const result = judge(check, f, {});
          if (!result.pass) problems.push(`round ${i + 1}: ${'figure' in check ? check.figure : check.ratio} = ${result.value} (${check.label})`);
        }
      }
      const ratios: ScenarioSummary['ratios'] = {};
      for (const def of RATIOS[scenario]) {
        const values = ran.map(({ f, i }) => ratio(f[def.figure], baselineRounds[i]?.[def.baseline]?.[def.baselineFigure], def.floor));
        const m = median(values);
        ratios[def.key] = { label: def.label, rounds: values, median: m };
        if (!(Number.isFinite(m) && m > 0)) problems.push(`ratio ${def.key} is ${m}`);
      }
      const med = medians(figures);
      const enforced = BUDGET_BACKENDS.includes(backend);
      const medianRatios = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v.median]));
      const checks = BUDGETS[scenario].map((c) => judge(c, med, medianRatios));
      const pass = checks.every((c) => c.pass);
      scenarios[scenario] = { ranInRounds: ran.map(({ i }) => i + 1), rounds: figures, median: med, ratios, budget: { enforced, pass, checks }, problems };
      for (const p of problems) summary.broken.push(`${backend} ${scenario}: ${p}`);
      if (enforced) for (const c of checks.filter((c) => !c.pass)) summary.budgetFailures.push(`${backend} ${scenario}: ${c.label} (got ${c.value.toFixed(2)})`);
    }
    summary.backends[backend] = scenarios;
  }
  return summary;
}
