// RC2 (RFC 2268), the cipher of old PKCS#12 files (pbeWithSHAAnd40BitRC2-CBC is what Windows and
// `openssl -legacy` write for certificate bags) and of old S/MIME envelopes. OpenSSL 3 keeps it only
// in its legacy provider, which node:crypto does not load, so it is implemented here. Only what
// those formats need: the key schedule with an effective key length, the block in both directions
// (encryption is kept for round-trip tests and the RFC vectors), and CBC with PKCS#7 padding.

export class Rc2Error extends Error {
  override name = 'Rc2Error';
}

/** RFC 2268 section 2: a permutation of 0..255 derived from the digits of pi. */
const PITABLE = Uint8Array.from(
  (
    'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32' +
    'bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a' +
    '961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e' +
    'c5f3db47e5a59c770aa62068fe7fc1ad'
  ).match(/../g)!,
  (h) => parseInt(h, 16),
);

/** The 64 sixteen-bit key words of a key with `effectiveBits` effective key bits. */
export function rc2KeySchedule(key: Uint8Array, effectiveBits: number): Uint16Array {
  if (key.length < 1 || key.length > 128) throw new Rc2Error(`RC2 key of ${key.length} bytes (1 to 128 allowed)`);
  if (!Number.isInteger(effectiveBits) || effectiveBits < 1 || effectiveBits > 1024) {
    throw new Rc2Error(`RC2 effective key length ${effectiveBits} bits (1 to 1024 allowed)`);
  }
  const L = new Uint8Array(128);
  L.set(key);
  const t = key.length;
  for (let i = t; i < 128; i++) L[i] = PITABLE[(L[i - 1]! + L[i - t]!) & 0xff]!;
  // Reduce the search space to the effective key length: the first byte that matters is masked.
  const t8 = (effectiveBits + 7) >> 3;
  const tm = 0xff >> (8 * t8 - effectiveBits);
  L[128 - t8] = PITABLE[L[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) L[i] = PITABLE[L[i + 1]! ^ L[i + t8]!]!;
  const K = new Uint16Array(64);
  for (let i = 0; i < 64; i++) K[i] = L[2 * i]! | (L[2 * i + 1]! << 8);
  L.fill(0);
  return K;
}

const SHIFTS = [1, 2, 3, 5] as const;

/** Encrypts one 8-byte block in place (little-endian words, as the RFC specifies). */
export function rc2EncryptBlock(K: Uint16Array, block: Uint8Array, off = 0): void {
  const R = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) R[i] = block[off + 2 * i]! | (block[off + 2 * i + 1]! << 8);
  let j = 0;
  const mix = (): void => {
    for (let i = 0; i < 4; i++) {
      const a = R[(i + 3) & 3]!;
      const b = R[(i + 2) & 3]!;
      const c = R[(i + 1) & 3]!;
      const v = (R[i]! + K[j++]! + (a & b) + (~a & c)) & 0xffff;
      const s = SHIFTS[i]!;
      R[i] = ((v << s) | (v >>> (16 - s))) & 0xffff;
    }
  };
  const mash = (): void => {
    for (let i = 0; i < 4; i++) R[i] = (R[i]! + K[R[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let r = 0; r < 5; r++) mix();
  mash();
  for (let r = 0; r < 6; r++) mix();
  mash();
  for (let r = 0; r < 5; r++) mix();
  for (let i = 0; i < 4; i++) {
    block[off + 2 * i] = R[i]! & 0xff;
    block[off + 2 * i + 1] = R[i]! >>> 8;
  }
}

/** Decrypts one 8-byte block in place: the encryption rounds undone in reverse order. */
export function rc2DecryptBlock(K: Uint16Array, block: Uint8Array, off = 0): void {
  const R = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) R[i] = block[off + 2 * i]! | (block[off + 2 * i + 1]! << 8);
  let j = 63;
  const unmix = (): void => {
    for (let i = 3; i >= 0; i--) {
      const s = SHIFTS[i]!;
      const v = R[i]!;
      const rotated = ((v >>> s) | (v << (16 - s))) & 0xffff;
      const a = R[(i + 3) & 3]!;
      const b = R[(i + 2) & 3]!;
      const c = R[(i + 1) & 3]!;
      R[i] = (rotated - K[j--]! - (a & b) - (~a & c)) & 0xffff;
    }
  };
  const unmash = (): void => {
    for (let i = 3; i >= 0; i--) R[i] = (R[i]! - K[R[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let r = 0; r < 5; r++) unmix();
  unmash();
  for (let r = 0; r < 6; r++) unmix();
  unmash();
  for (let r = 0; r < 5; r++) unmix();
  for (let i = 0; i < 4; i++) {
    block[off + 2 * i] = R[i]! & 0xff;
    block[off + 2 * i + 1] = R[i]! >>> 8;
  }
}

/**
 * RC2-CBC decryption. With `padding` (the default) the PKCS#7 padding is checked and removed;
 * a bad padding throws Rc2Error('bad padding'), which with a derived key means a wrong password.
 */
export function rc2CbcDecrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array, padding = true): Buffer {
  if (iv.length !== 8) throw new Rc2Error(`RC2 IV of ${iv.length} bytes (8 expected)`);
  if (data.length % 8 !== 0) throw new Rc2Error(`RC2-CBC ciphertext of ${data.length} bytes is not a whole number of blocks`);
  if (padding && data.length === 0) throw new Rc2Error('RC2-CBC ciphertext is empty');
  const K = rc2KeySchedule(key, effectiveBits);
  const out = Buffer.from(data);
  let prev = Uint8Array.from(iv);
  const current = new Uint8Array(8);
  for (let off = 0; off < out.length; off += 8) {
    current.set(out.subarray(off, off + 8));
    rc2DecryptBlock(K, out, off);
    for (let i = 0; i < 8; i++) out[off + i]! ^= prev[i]!;
    prev = Uint8Array.from(current);
  }
  K.fill(0);
  if (!padding) return out;
  const n = out[out.length - 1]!;
  let bad = n === 0 || n > 8 ? 1 : 0;
  for (let i = 1; i <= 8; i++) if (i <= n && out[out.length - i] !== n) bad = 1;
  if (bad) throw new Rc2Error('bad padding');
  return out.subarray(0, out.length - n);
}

/** RC2-CBC encryption with PKCS#7 padding (for tests and round trips; nothing here writes RC2). */
export function rc2CbcEncrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Buffer {
  if (iv.length !== 8) throw new Rc2Error(`RC2 IV of ${iv.length} bytes (8 expected)`);
  const K = rc2KeySchedule(key, effectiveBits);
  const n = 8 - (data.length % 8);
  const out = Buffer.concat([Buffer.from(data), Buffer.alloc(n, n)]);
  let prev: Uint8Array = iv;
  for (let off = 0; off < out.length; off += 8) {
    for (let i = 0; i < 8; i++) out[off + i]! ^= prev[i]!;
    rc2EncryptBlock(K, out, off);
    prev = out.subarray(off, off + 8);
  }
  K.fill(0);
  return out;
}
