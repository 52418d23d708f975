// Every number the bench judges by, in one place: what each scenario is compared with, the
// budgets it must meet (issue 8), and the checks without which a run measured nothing.
import type { BaselineKey } from './baselines.ts';
import type { Backend, Scenario } from './options.ts';

export interface RatioDef {
  key: string;
  figure: string;
  baseline: BaselineKey;
  baselineFigure: string;
  label: string;
  /** Both sides count as at least this much: below it the figure is measurement noise. */
  floor?: number;
}

const vsHttp = (method: 'GET' | 'POST'): RatioDef[] => {
  const [express, http]: [BaselineKey, BaselineKey] = method === 'GET' ? ['expressGet', 'httpGet'] : ['expressPost', 'httpPost'];
  return [
    { key: 'rpsVsExpress', figure: 'rps', baseline: express, baselineFigure: 'rps', label: `× Express ${method} req/s` },
    { key: 'rpsVsNodeHttp', figure: 'rps', baseline: http, baselineFigure: 'rps', label: `× node:http ${method} req/s` },
    { key: 'p99VsExpress', figure: 'p99', baseline: express, baselineFigure: 'p99', label: `× Express ${method} p99` },
  ];
};

/** Each scenario's figures as ratios to the baselines measured in the same round. */
export const RATIOS: Record<Scenario, RatioDef[]> = {
  'code-request': vsHttp('POST'),
  'verify': vsHttp('POST'),
  'me': vsHttp('GET'),
  'e2e': [
    { key: 'p50VsExpress', figure: 'p50', baseline: 'expressOpenLoop', baselineFigure: 'p50', label: '× Express open-loop p50' },
    { key: 'p99VsExpress', figure: 'p99', baseline: 'expressOpenLoop', baselineFigure: 'p99', label: '× Express open-loop p99' },
  ],
  'drain': [{ key: 'vsNodemailer', figure: 'messagesPerSecond', baseline: 'nodemailer', baselineFigure: 'messagesPerSecond', label: '× nodemailer loop msg/s' }],
  'upload': [
    // RSS moves in pages and the allocator's arenas: growth under 1 MiB is noise, not a ratio.
    { key: 'rssVsNodeHttp', figure: 'rssGrowthMib', baseline: 'httpUpload', baselineFigure: 'rssGrowthMib', label: '× node:http RSS growth', floor: 1 },
    { key: 'throughputVsNodeHttp', figure: 'uploadsPerSecond', baseline: 'httpUpload', baselineFigure: 'uploadsPerSecond', label: '× node:http uploads/s' },
  ],
  'sigterm': [],
};

/** A bound on a figure (`figure`) or on a ratio (`ratio`, a RATIOS key). */
export type Check = { label: string; min?: number; max?: number } & ({ figure: string } | { ratio: string });

/** The budgets, judged on medians across rounds. */
export const BUDGETS: Record<Scenario, Check[]> = {
  'code-request': [{ ratio: 'rpsVsExpress', min: 0.35, label: 'req/s ≥ 0.35× Express POST' }, { figure: 'p99', max: 15, label: 'p99 ≤ 15 ms' }],
  'verify': [{ ratio: 'rpsVsExpress', min: 0.15, label: 'req/s ≥ 0.15× Express POST' }, { figure: 'p99', max: 25, label: 'p99 ≤ 25 ms' }],
  'me': [{ ratio: 'rpsVsExpress', min: 0.4, label: 'req/s ≥ 0.4× Express GET' }, { figure: 'p99', max: 10, label: 'p99 ≤ 10 ms' }],
  'e2e': [
    { figure: 'p50', max: 25, label: 'p50 ≤ 25 ms' }, { figure: 'p99', max: 100, label: 'p99 ≤ 100 ms' },
    { figure: 'lost', max: 0, label: 'none lost' }, { figure: 'failed', max: 0, label: 'every request accepted' },
  ],
  'drain': [{ ratio: 'vsNodemailer', min: 0.8, label: 'msg/s ≥ 0.8× nodemailer loop' }],
  'upload': [{ ratio: 'rssVsNodeHttp', max: 1.2, label: 'RSS growth ≤ 1.2× node:http' }],
  'sigterm': [],
};

/** Budgets fail the full run on these backends only; the others print their figures. */
export const BUDGET_BACKENDS: readonly Backend[] = ['redis'];

const answered: Check[] = [{ figure: 'requests', min: 1, label: 'requests answered' }, { figure: 'failed', max: 0, label: 'no failed requests' }];
const exitedCleanly = (figure: string): Check => ({ figure, min: 0, max: 0, label: `${figure} 0` });

/**
 * Not budgets: a round that breaks one of these measured nothing meaningful (lost mail, a code
 * refused, a dirty exit). Judged on every round, in quick runs too.
 */
export const SANITY: Record<Scenario, Check[]> = {
  'code-request': answered,
  'verify': answered,
  'me': answered,
  // A request refused at the fixed rate is a result (the budget says so); a lost one is not.
  'e2e': [{ figure: 'requests', min: 1, label: 'requests sent' }, { figure: 'lost', max: 0, label: 'none lost' }, { figure: 'duplicated', max: 0, label: 'none twice' }, exitedCleanly('mailerExitCode')],
  'drain': [{ figure: 'messagesPerSecond', min: Number.MIN_VALUE, label: 'messages delivered' }, { figure: 'lost', max: 0, label: 'none lost' }, { figure: 'duplicated', max: 0, label: 'none twice' }, exitedCleanly('mailerExitCode')],
  'upload': [{ figure: 'uploads', min: 1, label: 'uploads accepted' }, { figure: 'failed', max: 0, label: 'no failed uploads' }],
  'sigterm': [exitedCleanly('exitCode'), { figure: 'lost', max: 0, label: 'none lost' }, { figure: 'duplicated', max: 0, label: 'none twice' }, exitedCleanly('secondMailerExitCode')],
};

/** True when `value` is a number within the check's bounds (NaN never is). */
export function within(check: Pick<Check, 'min' | 'max'>, value: number | undefined): boolean {
  if (value === undefined || Number.isNaN(value)) return false;
  return (check.min === undefined || value >= check.min) && (check.max === undefined || value <= check.max);
}
