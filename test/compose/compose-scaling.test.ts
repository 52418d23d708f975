// `docker compose up --scale api=3`, checked without a Docker engine: nothing pins the API to one
// container, and the proxy in front reaches every replica through Docker's DNS.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '@cheershare/shared';
import { ROOT, operatorSecrets } from '../deploy/service-contract.ts';
import { readCompose, readComposeRaw } from './compose-file.ts';

const compose = readCompose({ POSTGRES_PASSWORD: 'x', ...operatorSecrets() });
const api = compose.services.api!;
const proxy = compose.services.proxy!;
const CONFIG_TARGET = '/etc/nginx/conf.d/default.conf';

/** The proxy's nginx config, as the proxy service mounts it. */
function proxyConfig(): string {
  const mount = proxy.volumes?.find((v) => v.split(':')[1] === CONFIG_TARGET);
  expect(mount, `the proxy mounts its config at ${CONFIG_TARGET}`).toBeDefined();
  const source = join(ROOT, mount!.split(':')[0]!);
  expect(existsSync(source), source).toBe(true);
  return readFileSync(source, 'utf8').replace(/#.*$/gm, '');
}

/** `name` directives (arguments, as written) inside the block that opens with `opener`, or the whole file. */
function directives(config: string, name: string, opener?: RegExp): string[][] {
  let text = config;
  if (opener) {
    const start = config.search(opener);
    expect(start, `${opener}`).toBeGreaterThanOrEqual(0);
    let depth = 0;
    let end = config.indexOf('{', start);
    for (; end < config.length; end += 1) {
      if (config[end] === '{') depth += 1;
      if (config[end] === '}' && --depth === 0) break;
    }
    text = config.slice(start, end);
  }
  return [...text.matchAll(new RegExp(`(?:^|[;{\\s])${name}\\s+([^;{}]+);`, 'g'))].map((m) => m[1]!.trim().split(/\s+/));
}

describe('docker compose up --scale api=3', () => {
  it('can start several api containers: no published host port, no fixed container name', () => {
    expect(api.ports, 'a host port binds once: the second replica would fail').toBeUndefined();
    expect((readComposeRaw() as { services: Record<string, Record<string, unknown>> }).services.api!.container_name).toBeUndefined();
  });

  it('publishes the API through the proxy, which starts once the api is healthy', () => {
    const [published] = proxy.ports ?? [];
    const listen = directives(proxyConfig(), 'listen', /server\s*\{[^}]*proxy_pass/).map(([port]) => port);
    expect(published?.split(':')).toEqual([String(3000), listen[0]]);
    expect(proxy.depends_on?.api?.condition).toBe('service_healthy');
    expect(proxy.image).toMatch(/^nginx:\d/);
  });

  it('balances over every replica: an upstream of the api service on its PORT, re-resolved through Docker\'s DNS', () => {
    const config = proxyConfig();
    const upstream = /^http:\/\/([\w-]+)$/.exec(directives(config, 'proxy_pass')[0]?.[0] ?? '')?.[1];
    expect(upstream, 'proxy_pass names an upstream block').toBeDefined();
    const servers = directives(config, 'server', new RegExp(`upstream\\s+${upstream}\\s*\\{`));
    expect(servers).toHaveLength(1);
    const [address, ...flags] = servers[0]!;
    expect(address).toBe(`api:${api.environment!.PORT}`);
    // Resolved once at start, nginx would never see replicas added later by --scale.
    expect(flags).toContain('resolve');
    expect(directives(config, 'resolver')[0]?.[0]).toBe('127.0.0.11');
    // `resolve` in open-source nginx: 1.27.3 and later.
    const [major, minor, patch] = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?/.exec(proxy.image!)!.slice(1).map((n) => Number(n ?? 0));
    expect(major! * 1e6 + minor! * 1e3 + patch!).toBeGreaterThanOrEqual(1_027_003);
  });

  it('passes the client address the API trusts, lets uploads through and caps connections per client', () => {
    const config = proxyConfig();
    expect(directives(config, 'proxy_set_header').map(([header]) => header)).toContain('X-Forwarded-For');
    expect(api.environment!.TRUST_PROXY).toBe('1');
    const { http, creatives } = loadApiConfig(api.environment!);
    expect(http.trustProxy).toBe(1);
    const [size] = directives(config, 'client_max_body_size')[0]!;
    expect(Number.parseInt(size!, 10) * 1024 * 1024, 'client_max_body_size').toBeGreaterThan(creatives.maxBytes);
    expect(directives(config, 'proxy_request_buffering')).toEqual([['off']]);
    // The API counts connections per client only without a trusted proxy; behind one, the proxy does.
    expect(directives(config, 'limit_conn')[0]?.[1]).toBe(String(http.maxConnectionsPerClient));
    // A refused connection (a replica stopped or past its drain) goes to the next replica.
    expect(directives(config, 'proxy_next_upstream')[0]).toContain('error');
  });

  it('has a healthcheck of its own, on a port it does not publish', () => {
    const test = proxy.healthcheck!.test.join(' ');
    const port = /127\.0\.0\.1:(\d+)\//.exec(test)?.[1];
    expect(directives(proxyConfig(), 'listen')).toContainEqual([`127.0.0.1:${port}`]);
    expect(proxy.ports?.some((p) => p.endsWith(`:${port}`))).toBe(false);
  });
});
