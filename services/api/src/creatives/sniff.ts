export type SniffedMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

/** Bytes needed to recognise every accepted format. */
export const SNIFF_BYTES = 12;

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The image type announced by a file's first bytes, or null. Only a first filter at upload: the
 * scheduler decodes the whole image before anything is shown to anyone.
 */
export function sniffImage(head: Buffer): SniffedMime | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG)) return 'image/png';
  const ascii = head.subarray(0, 12).toString('latin1');
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return 'image/gif';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** A display name from a client's filename: no directories, no control characters, bounded. */
export function safeFilename(original: string | undefined): string | null {
  const base = (original ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '').trim().slice(0, 200);
  return clean === '' || clean === '.' || clean === '..' ? null : clean;
}
