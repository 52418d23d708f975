import type { Logger } from '../logger.ts';
import { createLocalStorage } from './local-storage.ts';
import { createS3Storage, type S3StorageSettings } from './s3-storage.ts';
import type { Storage } from './storage.ts';

/** The `storage` section of a loaded config: a local directory (one host) or an S3 bucket. */
export type StorageSettings = { kind: 'local'; dir: string } | ({ kind: 's3' } & S3StorageSettings);

/** The Storage the settings describe (`STORAGE=local|s3`). */
export function createStorage(settings: StorageSettings, logger?: Logger): Storage {
  return settings.kind === 's3' ? createS3Storage(settings, logger) : createLocalStorage(settings.dir);
}
