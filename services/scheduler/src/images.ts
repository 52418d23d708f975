// Uploads are untrusted. We decode them for real and re-encode from the pixels, so what we store
// carries nothing of the original file but its picture: no EXIF/GPS, no appended payloads, no
// format the browser might sniff differently.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { FailOnOptions, Sharp } from 'sharp';

export type ImageMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

// A reason the upload is not acceptable, safe to show to its owner (the message is the reason).
export class ImageRejectedError extends Error {
  override name = 'ImageRejectedError';
}

export interface NormalisedImage {
  image: Buffer;
  mime: ImageMime;
  // Of the normalised image: after auto-orientation, and per frame for animations.
  width: number;
  height: number;
  sha256: string; // hex, of `image`
  thumbnail: Buffer; // WebP
}

/**
 * Process-wide: libvips may load only JPEG, PNG, GIF and WebP from buffers, so SVG, PDF, TIFF
 * and its other parsers never see an upload, whatever its bytes claim to be. Idempotent.
 */
export function restrictDecoders(): void {
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: ['VipsForeignLoadJpegBuffer', 'VipsForeignLoadPngBuffer', 'VipsForeignLoadNsgifBuffer', 'VipsForeignLoadWebpBuffer'] });
}

const MIME = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp' } as const;
type Family = keyof typeof MIME;

// sharp's advice for untrusted input. 'truncated' or 'error' would also stop truncated files, but
// would accept a JPEG with corrupt entropy data ("bad Huffman code") and store it as visible smears.
const FAIL_ON: FailOnOptions = 'warning';
// Plain libjpeg-turbo-style encoding: the `mozjpeg: true` preset (trellis quantisation) took ~20x
// the CPU on a noisy 6 MP photo to save ~10% of bytes.
const QUALITY = 88;
const THUMBNAIL_QUALITY = 80;

const REASON = {
  invalid: 'The file is not a valid image.',
  truncated: 'The image is truncated.',
  corrupt: 'The image data is corrupt.',
  format: 'Only JPEG, PNG, GIF and WebP images are accepted.',
};

export async function normaliseImage(
  input: Buffer,
  opts: { maxPixels: number; thumbnailSize: number },
): Promise<NormalisedImage> {
  try {
    return await normalise(input, opts.maxPixels, opts.thumbnailSize);
  } catch (err) {
    throw rejectionFor(err, input, opts.maxPixels) ?? err;
  }
}

async function normalise(input: Buffer, maxPixels: number, thumbnailSize: number): Promise<NormalisedImage> {
  // Header only: a decompression bomb is turned away here, before any pixel is decoded.
  const header = await sharp(input, { failOn: FAIL_ON, limitInputPixels: maxPixels }).metadata();
  const family = Object.hasOwn(MIME, header.format) ? (header.format as Family) : undefined;
  if (family === undefined) throw new ImageRejectedError(REASON.format);
  const frames = header.pages ?? 1;
  if (header.width * header.height * frames > maxPixels) throw new ImageRejectedError(tooLarge(maxPixels));

  // libvips cannot rotate a multi-frame image, and an EXIF orientation on an animated WebP is
  // rare enough that we keep the animation and ignore the tag rather than keep one frame.
  const animated = frames > 1;
  const decoded = sharp(input, { failOn: FAIL_ON, limitInputPixels: maxPixels, animated, autoOrient: !animated });
  // No keepMetadata()/withMetadata(): sharp then drops EXIF, XMP and IPTC and converts to sRGB.
  const { data: image, info } = await encode(decoded, family, input).toBuffer({ resolveWithObject: true });

  const thumbnail = await sharp(image, { failOn: FAIL_ON }) // our own output, first frame only
    .resize(thumbnailSize, thumbnailSize, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: THUMBNAIL_QUALITY })
    .toBuffer();

  return {
    image,
    mime: MIME[family],
    width: info.width,
    height: info.pageHeight ?? info.height, // an animation comes back as a strip of frames
    // On the event loop, ~1 ms per MB here; WebCrypto's digest measured no better on Node 24.
    sha256: createHash('sha256').update(image).digest('hex'),
    thumbnail,
  };
}

function encode(pipeline: Sharp, family: Family, input: Buffer): Sharp {
  switch (family) {
    case 'jpeg':
      return pipeline.jpeg({ quality: QUALITY });
    case 'png':
      return pipeline.png();
    case 'gif':
      return pipeline.gif();
    case 'webp':
      // A lossless WebP is usually a logo or a drawing, where lossy artefacts show.
      return pipeline.webp(isLosslessWebp(input) ? { lossless: true } : { quality: QUALITY });
  }
}

// RIFF chunks: 'VP8L' holds lossless data, at the top level or as the first sub-chunk of an
// animation frame ('ANMF': 8-byte chunk header, 16-byte frame header; lossy frames start with
// 'ALPH' or 'VP8 '). No recursion: this runs on untrusted bytes.
function isLosslessWebp(webp: Buffer): boolean {
  for (let at = 12; at + 8 <= webp.length; ) {
    const type = webp.toString('latin1', at, at + 4);
    const size = webp.readUInt32LE(at + 4);
    if (type === 'VP8L') return true;
    if (type === 'ANMF' && webp.toString('latin1', at + 24, at + 28) === 'VP8L') return true;
    at += 8 + size + (size % 2); // chunks are padded to an even length
  }
  return false;
}

/** Every label rejectionKind can give. */
export const REJECTION_KINDS = [...Object.keys(REASON), 'too_large', 'other'];

/** A short, bounded label for a rejection reason (for metrics). */
export function rejectionKind(reason: string): string {
  const known = Object.entries(REASON).find(([, text]) => text === reason)?.[0];
  return known ?? (reason.startsWith('The image is too large') ? 'too_large' : 'other');
}

function tooLarge(maxPixels: number): string {
  return `The image is too large (max ${Number((maxPixels / 1e6).toPrecision(2))} megapixels).`;
}

const PNG_END = Buffer.from('IEND', 'latin1');

// Maps sharp/libvips errors that describe the input to a reason for its owner; anything else
// (out of memory, a bad option) is ours to retry or fix, so it is returned as undefined.
function rejectionFor(err: unknown, input: Buffer, maxPixels: number): Error | undefined {
  if (err instanceof ImageRejectedError) return err;
  if (!(err instanceof Error)) return undefined;
  const reject = (reason: string) => new ImageRejectedError(reason, { cause: err });
  const message = err.message;
  if (message.includes('exceeds pixel limit')) return reject(tooLarge(maxPixels));
  if (/premature end|unexpected end|truncated/i.test(message)) return reject(REASON.truncated);
  if (/unsupported image format|corrupt header|buffer is empty|exceeds channel limit/i.test(message)) {
    return reject(REASON.invalid);
  }
  // libpng says "read error" for a missing end and a bad checksum alike: tell them apart ourselves.
  if (message.startsWith('vipspng:')) return reject(input.includes(PNG_END) ? REASON.corrupt : REASON.truncated);
  if (/^(VipsJpeg|VipsForeignLoad|gifload|webp)|corrupt/i.test(message)) return reject(REASON.corrupt);
  return undefined;
}
