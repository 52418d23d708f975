// Authenticator-app codes computed independently of the API (and of otplib): by oathtool, from
// Debian's package (.ci/run installs it), as an authenticator app would. Only where the binary is
// absent, by an RFC 6238 reference on node:crypto, checked against the RFC's own test vector; the
// test names say which one ran.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';

function oathtoolPresent(): boolean {
  try {
    execFileSync('oathtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasOathtool = oathtoolPresent();

/** Which implementation computes the codes, for test names and the log. */
export const TOTP_REFERENCE = hasOathtool ? 'oathtool' : 'an RFC 6238 reference on node:crypto (oathtool is not installed)';

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(c);
    if (index < 0) throw new Error(`not base32: ${c}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 (HMAC-SHA-1, 30 s, from T0 = 0) with RFC 4226's dynamic truncation. */
export function rfc6238(key: Buffer, unixSeconds: number, digits = 6): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}

/** The 6-digit code an authenticator app shows for base32 `secret` at `at`. */
export function totpAt(secret: string, at: Date): string {
  const seconds = Math.floor(at.getTime() / 1000);
  if (!hasOathtool) return rfc6238(base32Decode(secret), seconds);
  return execFileSync('oathtool', ['--totp=SHA1', '--digits=6', '--time-step-size=30s', '--base32', secret, '--now', `@${seconds}`], { encoding: 'utf8' }).trim();
}
