import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { assertStorageKey, INCOMPLETE_PREFIX as TMP, isStorageKey, type Storage, type StoredObject } from './storage.ts';

/** Storage in a local directory (`UPLOAD_DIR`). Writes go to a temporary file, then rename into place. */
export function createLocalStorage(root: string): Storage {
  const base = resolve(root);

  function pathOf(key: string): string {
    assertStorageKey(key);
    const full = resolve(base, key);
    if (!full.startsWith(base + sep)) throw new Error(`storage key escapes the root: ${JSON.stringify(key)}`);
    return full;
  }

  async function* walk(dir: string): AsyncGenerator<StoredObject> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (full !== join(base, TMP)) yield* walk(full);
      } else if (entry.isFile()) {
        const s = await stat(full).catch(() => null);
        if (s) yield { key: relative(base, full).split(sep).join('/'), size: s.size, modifiedAt: s.mtime };
      }
    }
  }

  return {
    async write(key, source) {
      const target = pathOf(key);
      const tmpDir = join(base, TMP);
      const tmp = join(tmpDir, randomUUID());
      await mkdir(tmpDir, { recursive: true });
      await mkdir(dirname(target), { recursive: true });
      let size = 0;
      // Pulled one chunk at a time as the file takes them: nothing is buffered beyond the two
      // streams' own high-water marks, which keeps memory flat under many concurrent uploads.
      async function* counted(chunks: AsyncIterable<Buffer> | Buffer[]) {
        for await (const chunk of chunks) {
          size += chunk.length;
          yield chunk;
        }
      }
      try {
        await pipeline(counted(Buffer.isBuffer(source) ? [source] : source), createWriteStream(tmp, { flags: 'wx', mode: 0o640 }));
        await rename(tmp, target);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
      return { size };
    },
    read(key) {
      return createReadStream(pathOf(key));
    },
    async readBuffer(key) {
      return readFile(pathOf(key));
    },
    async stat(key) {
      const s = await stat(pathOf(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      return s?.isFile() ? { key, size: s.size, modifiedAt: s.mtime } : null;
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    async *list(prefix) {
      // Only keys this service could have written (as on S3): a stray file is neither listed nor deleted.
      for await (const obj of walk(base)) if (obj.key.startsWith(prefix) && isStorageKey(obj.key)) yield obj;
    },
    async sweepIncomplete(before) {
      const dir = join(base, TMP);
      let removed = 0;
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const full = join(dir, name);
        const s = await stat(full).catch(() => null);
        if (s && s.mtime < before) {
          await rm(full, { force: true });
          removed += 1;
        }
      }
      return removed;
    },
    close: () => Promise.resolve(),
    async ready() {
      // Writable, not merely present: a read-only or full mount fails here, not on the next upload.
      const tmpDir = join(base, TMP);
      const probe = join(tmpDir, `ready-${randomUUID()}`);
      await mkdir(tmpDir, { recursive: true });
      try {
        await writeFile(probe, '', { flag: 'wx' });
      } finally {
        await rm(probe, { force: true });
      }
    },
  };
}
