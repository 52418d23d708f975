import { describe, expect, it } from 'vitest';
import { describeQueueSettings, isQueueStoreUnavailable, loadApiConfig, loadMailerConfig, loadMigrateConfig, QueueUnavailableError } from '../src/index.ts';

describe('Redis topology settings', () => {
  it('REDIS_SENTINELS with REDIS_SENTINEL_MASTER: a master found through Sentinel, credentials apart', () => {
    const queue = loadApiConfig({
      REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sentinel-secret', REDIS_PASSWORD: 'data-secret', QUEUE_PREFIX: 'app',
    }).queue;
    expect(queue).toEqual({
      kind: 'redis', prefix: 'app',
      topology: { mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], master: 'mymaster', sentinelPassword: 'sentinel-secret', password: 'data-secret' },
    });
    const described = describeQueueSettings(queue);
    expect(described).toBe('Redis master "mymaster" through Sentinel s1:26379,::1:26380 (key prefix app)');
    expect(described).not.toMatch(/secret/);
  });

  it('REDIS_CLUSTER_NODES: a cluster, whose key prefix is QUEUE_PREFIX as a hash tag', () => {
    const queue = loadMailerConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001,n3:7002', REDIS_USERNAME: 'app', REDIS_PASSWORD: 'pw-secret', QUEUE_PREFIX: 'cheershare' }).queue;
    expect(queue).toMatchObject({ kind: 'redis', prefix: 'cheershare', topology: { mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }, { host: 'n3', port: 7002 }], username: 'app' } });
    expect(describeQueueSettings(queue)).toBe('Redis Cluster n1:7000,n2:7001,n3:7002 (key prefix {cheershare})');
  });

  it('a URL keeps the plain prefix and never shows its password', () => {
    const queue = loadMigrateConfig({ REDIS_URL: 'redis://u:hunter2@cache:6379/0' }).queue;
    expect(describeQueueSettings(queue)).toBe('Redis redis://u:***@cache:6379/0 (key prefix cheershare)');
  });

  it('refuses two ways to Redis, a Sentinel set without its master name, and settings the chosen way ignores', () => {
    expect(() => loadApiConfig({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'n1:7000' })).toThrow(/REDIS_URL, REDIS_CLUSTER_NODES: set only one/);
    expect(() => loadApiConfig({ REDIS_SENTINELS: 's1:26379' })).toThrow(/REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/);
    expect(() => loadApiConfig({ REDIS_SENTINEL_MASTER: 'm' })).toThrow(/REDIS_SENTINEL_MASTER: only used with REDIS_SENTINELS/);
    expect(() => loadApiConfig({ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'x' })).toThrow(/REDIS_PASSWORD: only used with .*put the credentials in REDIS_URL/);
    expect(() => loadApiConfig({ REDIS_CLUSTER_NODES: 'n1' })).toThrow(/REDIS_CLUSTER_NODES: must be host:port pairs/);
    expect(() => loadApiConfig({ REDIS_SENTINELS: 's1:99999', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/REDIS_SENTINELS: must be host:port/);
    expect(() => loadApiConfig({ QUEUE_PREFIX: '{x}' })).toThrow(/QUEUE_PREFIX: .*hash tag/);
  });

  it('never echoes a node list that is not host:port pairs: a URL written there by mistake may hold a password', () => {
    for (const env of [{ REDIS_SENTINELS: 'redis://:hunter2@s1:26379', REDIS_SENTINEL_MASTER: 'm' }, { REDIS_CLUSTER_NODES: 'n1:7000,redis://u:hunter2@n2:7001' }]) {
      const err = (() => {
        try {
          loadApiConfig(env);
        } catch (e) {
          return e as Error;
        }
        throw new Error('expected a ConfigError');
      })();
      expect(err.message).toMatch(/must be host:port pairs/);
      expect(err.message).not.toContain('hunter2');
    }
  });

  it('in production a Sentinel set or a cluster is a named queue server', () => {
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', SMTP_URL: 'smtp://mx:25', MAIL_FROM: 'a@b.c', JOB_ENCRYPTION_KEY: 'k'.repeat(32) };
    expect(loadMailerConfig({ ...prod, REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm' }).queue).toMatchObject({ kind: 'redis', topology: { mode: 'sentinel' } });
    expect(loadMailerConfig({ ...prod, REDIS_CLUSTER_NODES: 'n1:7000' }).queue).toMatchObject({ kind: 'redis', topology: { mode: 'cluster' } });
    expect(() => loadMailerConfig(prod)).toThrow(/REDIS_URL: required .*REDIS_SENTINELS, REDIS_CLUSTER_NODES/);
  });
});

describe('queue store errors that mean "try again"', () => {
  it.each([
    'READONLY You can\'t write against a read only replica.', 'MOVED 3999 127.0.0.1:7001', 'CROSSSLOT Keys in request don\'t hash to the same slot',
    'CLUSTERDOWN The cluster is down', 'TRYAGAIN Multiple keys request during rehashing of slot', 'MASTERDOWN Link with MASTER is down',
    'LOADING Redis is loading the dataset in memory', 'All sentinels are unreachable. Retrying from scratch after 200ms.',
    'Failed to refresh slots cache.', 'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
    'Connection is closed.',
  ])('%s', (message) => {
    expect(isQueueStoreUnavailable(new Error(message))).toBe(true);
  });

  it('not a bug in our code, nor one wrapped by the producer', () => {
    expect(isQueueStoreUnavailable(new Error('ERR wrong number of arguments for \'set\' command'))).toBe(false);
    expect(isQueueStoreUnavailable(new TypeError('cannot read properties of undefined (reading \'ask\')'))).toBe(false);
    expect(isQueueStoreUnavailable(new QueueUnavailableError('queue email: add timed out'))).toBe(true);
    expect(isQueueStoreUnavailable(new Error('add failed', { cause: new Error('READONLY You can\'t write against a read only replica.') }))).toBe(true);
  });
});
