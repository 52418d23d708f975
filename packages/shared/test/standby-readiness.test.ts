// Readiness means writable on PostgreSQL too: a standby answers queries and refuses every write,
// so it is not ready, for the app's database and for the PostgreSQL queue backend alike. The
// standby is a real server: Debian's PostgreSQL binaries, a data folder made by the test as a
// primary (migrated queue schema included), then restarted with standby.signal.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, createQueueClient, databaseWritable, freePort, prepareQueueStore, type QueueSettings } from '../src/index.ts';

const BIN = (existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql', { withFileTypes: true }) : []).filter((d) => d.isDirectory()).map((d) => `/usr/lib/postgresql/${d.name}/bin`)
  .filter((dir) => existsSync(`${dir}/initdb`)).sort().at(-1);
const root = userInfo().uid === 0;
// PostgreSQL refuses to run as root: as root the server runs as the postgres system user (set on
// the child itself, so a signal reaches postgres and no wrapper sits between).
const serverUser = root ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : {};

async function run(data: string, port: number, ready: RegExp): Promise<ChildProcess> {
  const args = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${data}`];
  const child = spawn(`${BIN}/postgres`, args, { stdio: ['ignore', 'ignore', 'pipe'], ...serverUser });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`postgres did not start:\n${log}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      log += c.toString();
      if (ready.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`postgres exited ${String(code)}:\n${log}`)));
  });
  return child;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  await exited;
}

describe('readiness on a PostgreSQL standby', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-standby-'));
  const data = join(dir, 'data');
  let server: ChildProcess | undefined;
  let url = '';
  let queueSettings: QueueSettings;
  beforeAll(async () => {
    // Never a silent skip: a machine without the server binaries says so.
    if (!BIN) throw new Error('PostgreSQL\'s server binaries (initdb, postgres) are not under /usr/lib/postgresql: this test needs Debian\'s postgresql package');
    if (serverUser.uid !== undefined) chownSync(dir, serverUser.uid, serverUser.gid);
    execFileSync(`${BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], { stdio: 'ignore', cwd: dir, ...serverUser });
    const port = await freePort();
    url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    queueSettings = { kind: 'postgres', url, schema: 'standby_queues' };
    server = await run(data, port, /ready to accept connections/);
    await prepareQueueStore(queueSettings);
    await stop(server);
    writeFileSync(join(data, 'standby.signal'), '');
    server = await run(data, port, /ready to accept read-only connections/);
  }, 60_000);
  afterAll(async () => {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the database answers but is not writable; the primary is', async () => {
    const standby = createDatabase({ url, poolMax: 1 });
    const primary = createDatabase({ url: inject('databaseUrl'), poolMax: 1 });
    try {
      await expect(databaseWritable(standby)).rejects.toThrow(/in recovery/);
      await expect(databaseWritable(primary)).resolves.toBeUndefined();
    } finally {
      await Promise.all([standby.destroy(), primary.destroy()]);
    }
  });

  it('the PostgreSQL queue backend on it answers (ping) but is not writable', async () => {
    const queues = createQueueClient(queueSettings);
    try {
      await expect(queues.ping()).resolves.toBeUndefined();
      await expect(queues.writable()).rejects.toThrow(/in recovery/);
    } finally {
      await queues.close();
    }
  });
});
