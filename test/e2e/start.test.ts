import { execFileSync, spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isProcessAlive } from '@cheershare/shared';
import { startService, uniqueEmail, waitUntil, type ServiceProcess } from '@cheershare/shared/testing';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START = join(ROOT, 'scripts/start.ts');
const MIGRATE = join(ROOT, 'packages/shared/src/db/migrate-cli.ts');


/** `npm start` as a newcomer runs it: nothing configured, only a state folder of the test's own. */
interface Runner {
  proc: ServiceProcess;
  api: string;
  inbox: string;
  servicePids: number[];
  postgresPid: number;
}

const folders: string[] = [];
const runners: Runner[] = [];
function stateFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-start-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as the "postgres" user and must reach it
  folders.push(dir);
  return dir;
}
afterAll(async () => {
  // A failed test must not leave a stack behind: killing a runner makes it all drain and stop.
  await Promise.all(runners.map((r) => r.proc.stop('SIGKILL')));
  const pids = runners.flatMap((r) => [...r.servicePids, r.postgresPid]);
  await waitUntil(() => !pids.some(isProcessAlive), 'every runner\'s processes to end', 30_000).catch(() => {});
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** A GET with the Host header of our choosing (fetch does not let a caller set it). */
function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

function runnerEnv(stateDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHEERSHARE_STATE_DIR: stateDir, UPLOAD_DIR: join(stateDir, 'uploads'),
    PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1', DEV_INBOX_PORT: '0', DEV_INBOX_SMTP_PORT: '0', SHUTDOWN_GRACE_MS: '10000', LOG_LEVEL: 'info', OTP_RESEND_SECONDS: '0',
    ...extra,
  };
}

async function startRunner(stateDir: string, extra: Record<string, string> = {}): Promise<Runner> {
  const proc = startService(START, runnerEnv(stateDir, extra));
  await proc.waitForLog((l) => l.msg?.startsWith('[start] Ctrl-C stops everything') === true, 60_000);
  const line = (re: RegExp) => {
    const found = proc.output.map((o) => re.exec(o)).find(Boolean);
    if (!found?.[1]) throw new Error(`no line matching ${String(re)} in:\n${proc.output.join('\n')}`);
    return found[1];
  };
  const servicePids = proc.output.map((o) => /^\[start\] started \S+ \(pid (\d+)\)/.exec(o)?.[1]).filter(Boolean).map(Number);
  const postgresPid = Number(readFileSync(join(stateDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const runner = { proc, api: line(/API\s+(http:\S+)/), inbox: line(/development inbox (http:\S+)/), servicePids, postgresPid };
  runners.push(runner);
  return runner;
}

async function signIn(r: Runner, email: string): Promise<{ id: string; created_at: string }> {
  const asked = await fetch(`${r.api}/v1/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) });
  expect(asked.status).toBe(202);
  const { challenge_id: challengeId } = (await asked.json()) as { challenge_id: string };
  let code: string | undefined;
  await expect.poll(async () => {
    const mails = (await (await fetch(`${r.inbox}messages.json`)).json()) as { to: string; subject: string; text: string; received_at: string }[];
    code = /code is (\d{6})/.exec(mails.find((m) => m.to === email)?.text ?? '')?.[1];
    return code;
  }, { timeout: 15_000 }).toBeDefined();
  const verified = await fetch(`${r.api}/v1/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge_id: challengeId, code }) });
  expect(verified.status).toBe(200);
  return ((await verified.json()) as { user: { id: string; created_at: string } }).user;
}

async function allGone(pids: number[]) {
  await expect.poll(() => pids.filter(isProcessAlive), { timeout: 30_000, interval: 100 }).toEqual([]);
}

describe('npm start on a machine with nothing configured', () => {
  it('runs the stack on embedded PostgreSQL with PostgreSQL queues and the dev inbox; Ctrl-C stops it all, database last; data survives a restart', async () => {
    const stateDir = stateFolder();
    const first = await startRunner(stateDir);
    expect(first.proc.output.join('\n')).toMatch(/database\s+embedded PostgreSQL \d+ on 127\.0\.0\.1:(?!5432\b)\d+/);
    expect(first.proc.output.join('\n')).toMatch(/queues\s+PostgreSQL .*BullMQ PostgreSQL backend/);
    expect(first.servicePids).toHaveLength(3);

    const email = uniqueEmail('newcomer');
    const user = await signIn(first, email);
    const page = await (await fetch(first.inbox)).text();
    expect(page).toContain('Your cheershare sign-in code');
    expect(page).toContain(email);
    // The page answers only to this machine's own names.
    expect(await statusWithHost(first.inbox, 'attacker.example')).toBe(403);

    // Operators' commands run beside it reach its embedded database, not a default one.
    const task = spawnSync(process.execPath, [join(ROOT, 'scripts/task.ts'), 'daily-digest', '2001-01-01'], { env: { PATH: process.env.PATH, CHEERSHARE_STATE_DIR: stateDir }, encoding: 'utf8', timeout: 60_000 });
    expect(task.stdout).toMatch(/using the embedded database of the running npm start \(pid \d+\)/);
    expect(task.stdout).toMatch(/done: \{"day":"2001-01-01","owners":0\}/);
    expect(task.status).toBe(0);
    const migrate = spawnSync(process.execPath, [MIGRATE], { env: { PATH: process.env.PATH, CHEERSHARE_STATE_DIR: stateDir }, encoding: 'utf8', timeout: 60_000 });
    expect(migrate.stdout).toMatch(/migrating the embedded database of the running npm start/);
    expect(migrate.status).toBe(0);

    // A second start on the same data says so and changes nothing.
    const second = startService(START, runnerEnv(stateDir));
    expect(await second.exited).toBe(1);
    expect(second.output.join('\n')).toMatch(/already running .*pid \d+/);
    expect((await fetch(`${first.api}/healthz`)).status).toBe(200);

    expect(await first.proc.stop('SIGINT', 30_000)).toBe(0);
    await allGone([...first.servicePids, first.postgresPid]);
    const out = first.proc.output;
    const drained = out.filter((l) => l.includes('"msg":"stopped cleanly"'));
    expect(drained).toHaveLength(3);
    // The database stops only after every service has drained.
    const lastDrain = Math.max(...drained.map((l) => out.indexOf(l)));
    expect(out.findIndex((l) => l.includes('stopping the embedded database'))).toBeGreaterThan(lastDrain);
    expect(existsSync(join(stateDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(existsSync(join(stateDir, 'stack.json'))).toBe(false);

    const again = await startRunner(stateDir);
    expect((await signIn(again, email)).id).toBe(user.id);
    expect(await again.proc.stop('SIGTERM', 30_000)).toBe(0);
    await allGone([...again.servicePids, again.postgresPid]);
  }, 120_000);

  it('leaves nothing running when the runner is killed outright, and starts again afterwards', async () => {
    const stateDir = stateFolder();
    const killed = await startRunner(stateDir);
    await signIn(killed, uniqueEmail());
    killed.proc.child.kill('SIGKILL');
    // The services drain on their own (their IPC channel closed), then the database stops.
    await allGone([...killed.servicePids, killed.postgresPid]);
    await expect.poll(() => killed.proc.output.filter((l) => l.includes('"msg":"stopped cleanly"')).length, { timeout: 10_000 }).toBe(3);
    expect(killed.proc.output.filter((l) => l.includes('"reason":"runner exited"')).length).toBeGreaterThanOrEqual(3);

    const next = await startRunner(stateDir);
    await signIn(next, uniqueEmail());
    expect(await next.proc.stop('SIGHUP', 30_000)).toBe(0);
    await allGone([...next.servicePids, next.postgresPid]);
  }, 120_000);

  it('as root, runs PostgreSQL as the postgres system user (PostgreSQL refuses root); one METRICS_PORT serves three services', async () => {
    const stateDir = stateFolder();
    // Also: one METRICS_PORT spreads over the three services.
    const base = await freePort();
    const runner = await startRunner(stateDir, { METRICS_PORT: String(base) });
    expect(runner.proc.output.join('\n')).toContain(`api :${base}, mailer-worker :${base + 1}, scheduler :${base + 2}`);
    const owner = statSync(join(stateDir, 'postgres', 'postmaster.pid')).uid;
    if (userInfo().uid === 0) expect(owner).toBe(Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })));
    else expect(owner).toBe(userInfo().uid);
    expect(await runner.proc.stop('SIGTERM', 30_000)).toBe(0);
  }, 60_000);

  it('leaves nothing running when stopped while the database is still starting, or killed while services start', async () => {
    // Processes whose command line names this state folder: the supervisor and PostgreSQL.
    const leftovers = (dir: string) => spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);

    // Ctrl-C, then kill -9, while the database is being created: the runner waits for it to stop
    // it; a killed runner leaves the supervisor to stop it once it is up.
    const supervisorOf = (runner: number) => Number(spawnSync('pgrep', ['-P', String(runner), '-f', 'postgres-supervisor'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] || 0);
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const early = stateFolder();
      const starting = startService(START, runnerEnv(early));
      let supervisor = 0;
      await expect.poll(() => (supervisor = supervisorOf(starting.child.pid!)), { timeout: 20_000, interval: 20 }).toBeGreaterThan(0);
      await expect.poll(() => existsSync(join(early, 'postgres')), { timeout: 20_000, interval: 20 }).toBe(true);
      starting.child.kill(signal);
      await starting.exited;
      // The supervisor has ended (so it is not merely between initdb and the server), and nothing of the folder's runs.
      await expect.poll(() => isProcessAlive(supervisor), { timeout: 30_000, interval: 100 }).toBe(false);
      expect(leftovers(early)).toEqual([]);
    }

    const midway = stateFolder();
    const killed = startService(START, runnerEnv(midway));
    await killed.waitForLog((l) => /^\[start\] started scheduler \(pid \d+\)/.test(l.msg ?? ''), 60_000);
    const supervisor = supervisorOf(killed.child.pid!);
    expect(supervisor).toBeGreaterThan(0);
    killed.child.kill('SIGKILL');
    const services = killed.output.map((o) => /^\[start\] started \S+ \(pid (\d+)\)/.exec(o)?.[1]).filter(Boolean).map(Number);
    expect(services).toHaveLength(3);
    await expect.poll(() => [...leftovers(midway), ...services, supervisor].filter(isProcessAlive), { timeout: 30_000, interval: 200 }).toEqual([]);
  }, 120_000);

  it.each([
    ['of another PostgreSQL major', (dir: string) => {
      mkdirSync(dir);
      writeFileSync(join(dir, 'PG_VERSION'), '15\n');
    }, /holds data of PostgreSQL 15, but the embedded server is PostgreSQL \d+: .*move the folder away/],
    ['that holds something else', (dir: string) => {
      mkdirSync(dir);
      writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    }, /could not create its data folder: .*exists but is not empty.* holds something that is not a PostgreSQL data folder: move it away/],
    ['that is a file', (dir: string) => writeFileSync(dir, 'not a folder\n'), /could not create its data folder: .* is not a folder: move it away/],
  ])('refuses a data folder %s in one clear line, and starts nothing', async (_label, prepare, message) => {
    const stateDir = stateFolder();
    prepare(join(stateDir, 'postgres'));
    const runner = startService(START, runnerEnv(stateDir));
    expect(await runner.exited).toBe(1);
    const said = runner.output.filter((l) => l.startsWith('[start]'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(message);
    expect(runner.output.join('\n')).not.toMatch(/started (api|mailer-worker|scheduler)/);
    expect(existsSync(join(stateDir, 'start.pid'))).toBe(false);
  }, 60_000);

  // As root the server runs as the postgres user: a folder that user cannot reach is "no permission".
  it.runIf(userInfo().uid === 0)('says in one line when the postgres user may not reach the data folder, and starts nothing', async () => {
    const parent = stateFolder();
    chmodSync(parent, 0o700);
    const runner = startService(START, runnerEnv(join(parent, 'state')));
    expect(await runner.exited).toBe(1);
    const said = runner.output.filter((l) => l.startsWith('[start]'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/could not create its data folder: .*Permission denied\. The server runs as the "postgres" system user, which must be able to reach and write .* \(every parent folder needs o\+x\)/);
    expect(existsSync(join(parent, 'state', 'start.pid'))).toBe(false);
  }, 60_000);

  it('prints the services\' one-line config error for a malformed variable, from npm start and npm run migrate alike', async () => {
    const stateDir = stateFolder();
    const runner = startService(START, runnerEnv(stateDir, { DATABASE_URL: 'mysql://db/app' }));
    expect(await runner.exited).toBe(1);
    expect(runner.output.join('\n')).toMatch(/^invalid environment:\n {2}DATABASE_URL: /);
    expect(runner.output.join('\n')).not.toMatch(/at .*\.ts:\d+|is PostgreSQL running/);

    const migrate = spawnSync(process.execPath, [MIGRATE], { env: { PATH: process.env.PATH, DATABASE_URL: 'mysql://db/app' }, encoding: 'utf8' });
    expect(migrate.status).toBe(1);
    expect(migrate.stderr).toBe(runner.output.join('\n') + '\n');
    expect(existsSync(join(stateDir, 'postgres'))).toBe(false);
  });
});
