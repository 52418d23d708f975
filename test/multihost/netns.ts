// The machines of the multi-host test: network namespaces joined by a bridge that lives in a
// "switch" namespace of its own, so nothing is added to the namespace the test runs in. Where
// namespaces cannot be made (not root, no `ip`, a sandbox), every "host" is a loopback address
// of its own instead, and the test says so.
import { spawnSync } from 'node:child_process';

export const NODES = ['svc', 'cli', 'a', 'b', 'c'] as const;
export type NodeName = (typeof NODES)[number];

export interface Topology {
  mode: 'netns' | 'loopback';
  /** Why namespaces were not used (loopback mode only). */
  reason?: string;
  /** Each node's address: on the bridge's private /24, or 127.0.0.x. */
  addr: Record<NodeName, string>;
  /** What to put before a command to run it on `node` (`ip netns exec <ns>`; nothing on loopback). */
  prefix(node: NodeName): string[];
  /** Ends every process left in the namespaces and deletes them; idempotent. */
  destroy(): void;
}

const TAG = 'csmh';
const SUBNET = '10.213.0';
const HOST_PART: Record<NodeName, number> = { svc: 2, cli: 3, a: 11, b: 12, c: 13 };

function ip(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs what still runs in `ns` (only this test's processes can be in its namespaces), then deletes it. */
function deleteNamespace(ns: string): void {
  const pids = ip('netns', 'pids', ns).out.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  ip('netns', 'del', ns);
}

/** Namespaces of earlier runs whose test process is dead (a killed run never reached its cleanup). */
function removeStale(): void {
  for (const line of ip('netns', 'list').out.split('\n')) {
    const m = new RegExp(`^(${TAG}(\\d+)-\\w+)`).exec(line.trim());
    if (m && !alive(Number(m[2]))) deleteNamespace(m[1]!);
  }
}

function loopback(reason: string): Topology {
  const addr = Object.fromEntries(NODES.map((n) => [n, `127.0.0.${String(HOST_PART[n] + 100)}`])) as Record<NodeName, string>;
  return { mode: 'loopback', reason, addr, prefix: () => [], destroy: () => {} };
}

/**
 * Builds the machines: with MULTIHOST_LOOPBACK=1, or when a namespace cannot be made, loopback
 * addresses; otherwise a switch namespace holding the bridge, and one namespace per node with a
 * veth into it (named eth0 inside), its address and lo up.
 */
export function buildTopology(): Topology {
  if (process.env.MULTIHOST_LOOPBACK === '1') return loopback('MULTIHOST_LOOPBACK=1');
  if (process.getuid?.() !== 0) return loopback('not running as root');
  const probe = ip('-V');
  if (!probe.ok) return loopback(`no usable ip command (${probe.out})`);
  removeStale();
  const base = `${TAG}${String(process.pid)}`;
  const ns = (n: NodeName | 'sw') => `${base}-${n}`;
  const made: string[] = [];
  const destroy = () => {
    for (const name of made.splice(0).reverse()) deleteNamespace(name);
  };
  const must = (...args: string[]) => {
    const r = ip(...args);
    if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`);
  };
  try {
    for (const n of ['sw', ...NODES] as const) {
      must('netns', 'add', ns(n));
      made.push(ns(n));
    }
    must('-n', ns('sw'), 'link', 'add', 'br0', 'type', 'bridge');
    must('-n', ns('sw'), 'link', 'set', 'br0', 'up');
    for (const n of NODES) {
      // Both ends are created inside namespaces of the test: the machine's own never sees them.
      must('-n', ns('sw'), 'link', 'add', `p-${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(n));
      must('-n', ns('sw'), 'link', 'set', `p-${n}`, 'master', 'br0', 'up');
      must('-n', ns(n), 'addr', 'add', `${SUBNET}.${String(HOST_PART[n])}/24`, 'dev', 'eth0');
      must('-n', ns(n), 'link', 'set', 'eth0', 'up');
      must('-n', ns(n), 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    destroy();
    return loopback(`network namespaces cannot be made here: ${(err as Error).message}`);
  }
  const addr = Object.fromEntries(NODES.map((n) => [n, `${SUBNET}.${String(HOST_PART[n])}`])) as Record<NodeName, string>;
  return { mode: 'netns', addr, prefix: (n) => ['ip', 'netns', 'exec', ns(n)], destroy };
}
