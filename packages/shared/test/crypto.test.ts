import { describe, expect, it } from 'vitest';
import { digestsEqual, generateOpaqueToken, generateOtpCode, hashOtpCode, seal, unseal } from '../src/index.ts';

describe('crypto', () => {
  it('generates 6-digit codes with every digit position varying', () => {
    const codes = Array.from({ length: 2000 }, () => generateOtpCode());
    expect(codes.every((c) => /^\d{6}$/.test(c))).toBe(true);
    for (let pos = 0; pos < 6; pos++) expect(new Set(codes.map((c) => c[pos])).size).toBe(10);
  });

  it('binds a code hash to its challenge and secret', () => {
    const a = hashOtpCode('secret', 'c1', '123456');
    expect(digestsEqual(a, hashOtpCode('secret', 'c1', '123456'))).toBe(true);
    expect(digestsEqual(a, hashOtpCode('secret', 'c2', '123456'))).toBe(false);
    expect(digestsEqual(a, hashOtpCode('other', 'c1', '123456'))).toBe(false);
  });

  it('seals so that only the same key and context open it', () => {
    const sealed = seal('k'.repeat(32), '123456', 'challenge-1');
    expect(sealed).not.toContain('123456');
    expect(unseal('k'.repeat(32), sealed, 'challenge-1')).toBe('123456');
    expect(() => unseal('k'.repeat(32), sealed, 'challenge-2')).toThrow();
    expect(() => unseal('x'.repeat(32), sealed, 'challenge-1')).toThrow();
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => unseal('k'.repeat(32), [v, iv, flipped.toString('base64url'), tag].join('.'), 'challenge-1')).toThrow();
  });

  it('makes 256-bit opaque tokens', () => {
    expect(Buffer.from(generateOpaqueToken(), 'base64url')).toHaveLength(32);
  });
});
