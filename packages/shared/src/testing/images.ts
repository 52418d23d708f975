// Image fixtures built at run time, so no binary files live in the repository.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { crc32, deflate } from 'node:zlib';
import sharp from 'sharp';

/** The formats the upload path accepts, as fixture names. */
export type FixtureFormat = 'jpeg' | 'png' | 'gif' | 'webp';

const deflateAsync = promisify(deflate);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A real, valid image of the given format, 64x48 unless `width`/`height` say otherwise.
 * `noise` fills it with random pixels, which compress badly (for size and speed tests).
 * JPEG only: `exifOrientation` writes that EXIF Orientation (1-8) and `withGps` an EXIF GPS IFD
 * plus a camera Make. The stored pixels keep the given size: with orientation 6 a 64x48 JPEG
 * displays as 48x64.
 */
export async function makeImage(
  format: FixtureFormat,
  opts: { width?: number; height?: number; exifOrientation?: number; withGps?: boolean; noise?: boolean } = {},
): Promise<Buffer> {
  const { width = 64, height = 48, exifOrientation, withGps = false, noise = false } = opts;
  if (format !== 'jpeg' && (exifOrientation !== undefined || withGps)) {
    throw new Error('makeImage: exifOrientation and withGps are only supported for jpeg');
  }
  let image = noise
    ? sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    : sharp({ create: { width, height, channels: 3, background: { r: 220, g: 40, b: 90 } } });
  if (withGps) {
    // IFD3 is the GPS IFD in libexif's numbering (IFD0, IFD1, EXIF, GPS).
    image = image.withExif({
      IFD0: { Make: 'CheershareTestCam' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    });
  }
  // sharp writes Orientation itself (withExif's value is overwritten), so it goes through here.
  if (exifOrientation !== undefined) image = image.withMetadata({ orientation: exifOrientation });
  return image.toFormat(format).toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(4 + typeAndData.length + 4); // length, type+data, CRC
  out.writeUInt32BE(data.length, 0);
  typeAndData.copy(out, 4);
  out.writeUInt32BE(crc32(typeAndData), 4 + typeAndData.length);
  return out;
}

/** One stored (uncompressed) entry, laid out as the zip spec's local header, central directory and end record. */
function tinyZip(name: string, content: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4); // version needed: 2.0
  local.writeUInt16LE(0, 6); // flags
  local.writeUInt16LE(0, 8); // method: stored
  local.writeUInt16LE(0, 10); // mod time
  local.writeUInt16LE(0x21, 12); // mod date: 1980-01-01
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(content.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(0, 28); // extra length
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4); // version made by
  local.copy(central, 6, 4, 30); // version needed .. name length mirror the local header
  // extra, comment, disk number, attributes and local header offset (0) stay zero
  const localPart = Buffer.concat([local, nameBytes, content]);
  const centralPart = Buffer.concat([central, nameBytes]);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8); // entries on this disk
  end.writeUInt16LE(1, 10); // entries in total
  end.writeUInt32LE(centralPart.length, 12);
  end.writeUInt32LE(localPart.length, 16);
  return Buffer.concat([localPart, centralPart, end]);
}

/** Files an upload endpoint must survive; each must be rejected by image normalisation. */
export const hostileFiles = {
  /** A valid 8-byte PNG signature followed by random bytes. */
  pngHeaderOnGarbage(): Buffer {
    return Buffer.concat([PNG_SIGNATURE, randomBytes(512)]);
  },

  /** A real (noisy, so the cut lands mid-scan) JPEG cut in half. */
  async truncatedJpeg(): Promise<Buffer> {
    const full = await makeImage('jpeg', { width: 256, height: 192, noise: true });
    return Buffer.from(full.subarray(0, Math.floor(full.length / 2)));
  },

  /** A well-formed SVG carrying a script element. */
  svgWithScript(): Buffer {
    return Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" viewBox="0 0 64 48">' +
        '<script type="text/javascript">alert(document.cookie)</script>' +
        '<rect width="64" height="48" fill="red"/></svg>\n',
    );
  },

  /** The bytes of a real zip archive holding one small text file, as if renamed to .png. */
  zipRenamedPng(): Buffer {
    return tinyZip('hello.txt', Buffer.from('hello from a zip archive\n'));
  },

  /**
   * A complete, valid ~0.5 MB PNG declaring 30000x30000 pixels (1-bit grey, all black) that
   * would decode to gigabytes: a decompression bomb.
   */
  async hugeDimensionPng(): Promise<Buffer> {
    const side = 30_000;
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(side, 0);
    ihdr.writeUInt32BE(side, 4);
    ihdr[8] = 1; // bit depth; colour type 0 (grey), default compression, filter and interlace
    // Each scanline is a filter-type byte plus side/8 bytes of pixels, all zero.
    const scanlines = Buffer.alloc(side * (1 + Math.ceil(side / 8)));
    const idat = await deflateAsync(scanlines, { level: 1 }); // fastest; still ~1800:1
    return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
  },

  /** Exactly `bytes` long: a valid PNG signature, then zero filler (for upload size limits). */
  oversized(bytes: number): Buffer {
    const out = Buffer.alloc(bytes);
    PNG_SIGNATURE.copy(out, 0);
    return out;
  },
};
