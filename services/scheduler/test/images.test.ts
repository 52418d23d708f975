import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { hostileFiles, makeImage, type FixtureFormat } from '@cheershare/shared/testing';
import { ImageRejectedError, normaliseImage } from '../src/images.ts';

const opts = { maxPixels: 40_000_000, thumbnailSize: 256 };

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

// Resolves to the rejection, so a test can look at it; fails the test if there was none.
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error('expected a rejection, but it resolved');
}

// Tag numbers in IFD0 of a raw EXIF block as sharp returns it ("Exif\0\0" + TIFF structure).
function ifd0Tags(exif: Buffer): number[] {
  const tiff = exif.subarray(6);
  const littleEndian = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (littleEndian ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const ifd0 = littleEndian ? tiff.readUInt32LE(4) : tiff.readUInt32BE(4);
  return Array.from({ length: u16(ifd0) }, (_, i) => u16(ifd0 + 2 + 12 * i));
}
const GPS_IFD_POINTER = 0x8825;

async function animation(format: 'gif' | 'webp', frames: number): Promise<Buffer> {
  const pngs = await Promise.all(
    Array.from({ length: frames }, (_, i) =>
      sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 80 * i, g: 120, b: 200 } } }).png().toBuffer(),
    ),
  );
  return sharp(pngs, { join: { animated: true } })
    .toFormat(format, { delay: Array<number>(frames).fill(100), loop: 0 })
    .toBuffer();
}

describe('normaliseImage', () => {
  it.each<[FixtureFormat, string]>([
    ['jpeg', 'image/jpeg'],
    ['png', 'image/png'],
    ['gif', 'image/gif'],
    ['webp', 'image/webp'],
  ])('normalises a %s into the same format with a WebP thumbnail that is not enlarged', async (format, mime) => {
    const out = await normaliseImage(await makeImage(format), opts);

    expect(out).toMatchObject({ mime, width: 64, height: 48, sha256: sha256(out.image) });
    expect(await sharp(out.image).metadata()).toMatchObject({ format, width: 64, height: 48 });
    expect(await sharp(out.thumbnail).metadata()).toMatchObject({ format: 'webp', width: 64, height: 48 });
  });

  it('shrinks the thumbnail to fit inside thumbnailSize, keeping the aspect ratio', async () => {
    const out = await normaliseImage(await makeImage('png', { width: 600, height: 300 }), opts);

    expect([out.width, out.height]).toEqual([600, 300]);
    expect(await sharp(out.thumbnail).metadata()).toMatchObject({ format: 'webp', width: 256, height: 128 });
  });

  it('turns a JPEG upright from its EXIF orientation', async () => {
    const input = await makeImage('jpeg', { exifOrientation: 6 });
    expect(await sharp(input).metadata()).toMatchObject({ width: 64, height: 48, orientation: 6 });

    const out = await normaliseImage(input, opts);

    expect([out.width, out.height]).toEqual([48, 64]);
    const meta = await sharp(out.image).metadata();
    expect(meta).toMatchObject({ width: 48, height: 64 });
    expect(meta.orientation).toBeUndefined();
    expect(await sharp(out.thumbnail).metadata()).toMatchObject({ width: 48, height: 64 });
  });

  it('strips EXIF, including GPS, from the stored image and its thumbnail', async () => {
    const input = await makeImage('jpeg', { withGps: true });
    const inputExif = (await sharp(input).metadata()).exif;
    expect(inputExif && ifd0Tags(inputExif)).toContain(GPS_IFD_POINTER);
    expect(input.includes('CheershareTestCam')).toBe(true);

    const out = await normaliseImage(input, opts);

    for (const stored of [out.image, out.thumbnail]) {
      const meta = await sharp(stored).metadata();
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.iptc).toBeUndefined();
      expect(stored.includes('CheershareTestCam')).toBe(false);
    }
  });

  it.each(['gif', 'webp'] as const)('keeps an animated %s animated, reporting the size of one frame', async (format) => {
    const out = await normaliseImage(await animation(format, 3), opts);

    expect(out).toMatchObject({ mime: `image/${format}`, width: 40, height: 30 });
    expect(await sharp(out.image).metadata()).toMatchObject({ format, pages: 3, width: 40, height: 30 });
    expect(await sharp(out.thumbnail).metadata()).toMatchObject({ format: 'webp', width: 40, height: 30 });
  });

  it('keeps a lossless WebP lossless and a lossy one lossy', async () => {
    const lossless = await sharp(await makeImage('png')).webp({ lossless: true }).toBuffer();

    expect((await normaliseImage(lossless, opts)).image.includes('VP8L')).toBe(true);
    expect((await normaliseImage(await makeImage('webp'), opts)).image.includes('VP8L')).toBe(false);
  });

  it('counts every frame of an animation against maxPixels', async () => {
    const input = await animation('gif', 3);
    const allFrames = 40 * 30 * 3;

    await expect(normaliseImage(input, { ...opts, maxPixels: allFrames })).resolves.toMatchObject({ width: 40 });
    const err = await rejectionOf(normaliseImage(input, { ...opts, maxPixels: allFrames - 1 }));
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err.message).toMatch(/^The image is too large \(max [\d.]+ megapixels\)\.$/);
  });

  it.each<[string, () => Buffer | Promise<Buffer>, string]>([
    ['a PNG signature on random bytes', () => hostileFiles.pngHeaderOnGarbage(), 'The file is not a valid image.'],
    ['a truncated JPEG', () => hostileFiles.truncatedJpeg(), 'The image is truncated.'],
    [
      'a truncated PNG',
      async () => {
        const png = await makeImage('png', { width: 256, height: 192, noise: true });
        return png.subarray(0, png.length / 2);
      },
      'The image is truncated.',
    ],
    ['an SVG with a script', () => hostileFiles.svgWithScript(), 'Only JPEG, PNG, GIF and WebP images are accepted.'],
    ['a zip archive renamed .png', () => hostileFiles.zipRenamedPng(), 'The file is not a valid image.'],
    ['a PNG declaring 30000x30000 pixels', () => hostileFiles.hugeDimensionPng(), 'The image is too large (max 40 megapixels).'],
  ])('rejects %s with a reason for its owner', async (_name, file, reason) => {
    const err = await rejectionOf(normaliseImage(await file(), opts));

    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err.message).toBe(reason);
  });

  it('rejects a decompression bomb from its header, in well under a second', async () => {
    const bomb = await hostileFiles.hugeDimensionPng();
    const started = performance.now();

    const err = await rejectionOf(normaliseImage(bomb, opts));

    expect(performance.now() - started).toBeLessThan(250);
    expect(err).toBeInstanceOf(ImageRejectedError);
  });

  it('does not reject a valid 12-megapixel photo, so the rejection checks above can fail', async () => {
    const valid = normaliseImage(await makeImage('jpeg', { width: 4000, height: 3000 }), opts);

    await expect(rejectionOf(valid)).rejects.toThrow('expected a rejection, but it resolved');
  });

  it('re-throws an error that is not about the image as it is', async () => {
    const err = await rejectionOf(normaliseImage(await makeImage('png'), { ...opts, thumbnailSize: 0 }));

    expect(err).not.toBeInstanceOf(ImageRejectedError);
    expect(err.message).toMatch(/Expected positive integer/);
  });
});
