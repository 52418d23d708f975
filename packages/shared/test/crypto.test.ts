import { describe, expect, it } from 'vitest';
import { createSecretBox, digestsEqual, generateOpaqueToken, generateOtpCode, hashOtpCode, seal, unseal } from '../src/index.ts';

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

describe('secret boxes (keys with ids, so they can rotate)', () => {
  const oldKey = 'o'.repeat(32);
  const newKey = 'n'.repeat(32);
  /** Flips one bit of one dot-separated part of a sealed value. */
  const flip = (sealed: string, part: number) => {
    const parts = sealed.split('.');
    const bytes = Buffer.from(parts[part]!, 'base64url');
    bytes[0] = bytes[0]! ^ 1;
    parts[part] = bytes.toString('base64url');
    return parts.join('.');
  };

  it('seals as v2.<kid>.<iv>.<body>.<tag>, the kid short, public and the same for the same key', () => {
    const box = createSecretBox(newKey);
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'user-1');
    const [version, kid, iv, body, tag] = sealed.split('.');
    expect(version).toBe('v2');
    expect(kid).toBe(box.kid);
    expect(box.kid).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(createSecretBox(newKey, [oldKey]).kid).toBe(box.kid);
    expect(createSecretBox(oldKey).kid).not.toBe(box.kid);
    expect(newKey).not.toContain(box.kid);
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(body).toBeTruthy();
    expect(box.open(sealed, 'user-1')).toBe('JBSWY3DPEHPK3PXP');
  });

  it('opens what an old key sealed once that key is among the previous ones, and seals with the new one', () => {
    const sealedBefore = createSecretBox(oldKey).seal('secret', 'row-1');
    const rotated = createSecretBox(newKey, [oldKey]);
    expect(rotated.open(sealedBefore, 'row-1')).toBe('secret');
    expect(rotated.seal('secret', 'row-1').split('.')[1]).toBe(createSecretBox(newKey).kid);
    expect(() => createSecretBox(newKey).open(sealedBefore, 'row-1')).toThrow(/unknown key \(kid /);
  });

  it('still opens v1 values (no kid) with the current or any previous key, and nothing else', () => {
    const byOld = seal(oldKey, '123456', 'challenge-1');
    const byNew = seal(newKey, '123456', 'challenge-1');
    const rotated = createSecretBox(newKey, [oldKey]);
    expect(rotated.open(byOld, 'challenge-1')).toBe('123456');
    expect(rotated.open(byNew, 'challenge-1')).toBe('123456');
    expect(() => createSecretBox(newKey).open(byOld, 'challenge-1')).toThrow(/none of the keys/);
    expect(() => rotated.open(byOld, 'challenge-2')).toThrow(/none of the keys/);
  });

  it('refuses another context, any altered part, a relabelled kid and malformed values', () => {
    const box = createSecretBox(newKey, [oldKey]);
    const sealed = box.seal('secret', 'row-1');
    expect(() => box.open(sealed, 'row-2')).toThrow(/does not authenticate/);
    for (const part of [2, 3, 4]) expect(() => box.open(flip(sealed, part), 'row-1')).toThrow(/does not authenticate/);
    // The kid is authenticated too: a value cannot be passed off as sealed by another known key.
    const relabelled = sealed.replace(`.${box.kid}.`, `.${createSecretBox(oldKey).kid}.`);
    expect(() => box.open(relabelled, 'row-1')).toThrow(/does not authenticate/);
    // A truncated tag is refused, not checked on fewer bits.
    const parts = sealed.split('.');
    parts[4] = Buffer.from(parts[4]!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => box.open(parts.join('.'), 'row-1')).toThrow(/does not authenticate/);
    for (const bad of ['', 'secret', 'v2', `v2.${box.kid}.a.b`, 'v3.a.b.c.d', `v2.${box.kid}..b.c`]) expect(() => box.open(bad, 'row-1'), bad).toThrow(/malformed/);
  });

  it('lets unseal() open what a box with that key sealed, so readers holding one key keep working', () => {
    expect(unseal(newKey, createSecretBox(newKey).seal('123456', 'c1'), 'c1')).toBe('123456');
    expect(() => unseal(oldKey, createSecretBox(newKey).seal('123456', 'c1'), 'c1')).toThrow(/unknown key/);
  });

  it('tells a value sealed with the current key from one sealed with an old key or before key ids', () => {
    const rotated = createSecretBox(newKey, [oldKey]);
    expect(rotated.isCurrent(rotated.seal('secret', 'c1'))).toBe(true);
    expect(rotated.isCurrent(createSecretBox(oldKey).seal('secret', 'c1'))).toBe(false);
    expect(rotated.isCurrent(seal(newKey, 'secret', 'c1'))).toBe(false);
  });
});
