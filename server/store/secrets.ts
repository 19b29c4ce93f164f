// Secrets at rest: passwords are stored as scrypt hashes, private keys (PKCS#12 files) are sealed
// with AES-256-GCM under a server key that lives beside the database (or comes from the environment),
// so a copied database file alone does not give away anyone's keys.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

const SCRYPT_PARAMS = { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p };
const formatHash = (salt: Buffer, hash: Buffer): string =>
  `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;

export function hashPassword(password: string): string {
  const salt = crypto.randomBytes(16);
  return formatHash(salt, crypto.scryptSync(password, salt, SCRYPT.keylen, SCRYPT_PARAMS));
}

/** scrypt on libuv's thread pool. */
const scryptAsync = (password: string, salt: Buffer, keylen: number, params: crypto.ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => crypto.scrypt(password, salt, keylen, params, (err, key) => (err ? reject(err) : resolve(key))));

/** hashPassword on the thread pool, so that many (a fixture's users) are hashed on every core at once. */
export async function hashPasswordAsync(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  return formatHash(salt, await scryptAsync(password, salt, SCRYPT.keylen, SCRYPT_PARAMS));
}

/**
 * Checks a password against its stored hash on libuv's thread pool: scrypt takes tens of
 * milliseconds, and done on the event loop it would stall every held Ping, Sync and SMTP session
 * for each sign-in (and let a stream of wrong passwords stall the server).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const actual = await scryptAsync(password, salt, expected.length, { N: N!, r: r!, p: p! });
  return crypto.timingSafeEqual(actual, expected);
}

let unusable: Promise<string> | undefined;

/** A hash of no one's password: names that are no user are checked against it, so they take as long to refuse. */
export function unusablePasswordHash(): Promise<string> {
  unusable ??= hashPasswordAsync(crypto.randomBytes(16).toString('base64'));
  return unusable;
}

/** Loads the server key: EASMIME_SERVER_KEY (64 hex digits) or `<data>/server.key`, created on first use. */
export function loadServerKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.EASMIME_SERVER_KEY;
  if (fromEnv) {
    if (!/^[0-9a-fA-F]{64}$/.test(fromEnv)) throw new Error('EASMIME_SERVER_KEY must be 64 hexadecimal digits (32 bytes)');
    return Buffer.from(fromEnv, 'hex');
  }
  const file = path.join(dataDir, 'server.key');
  if (fs.existsSync(file)) {
    const hex = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${file}: not a server key (64 hexadecimal digits expected)`);
    return Buffer.from(hex, 'hex');
  }
  const key = crypto.randomBytes(32);
  fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600 });
  return key;
}

const SEAL_VERSION = 1;

export function seal(key: Buffer, plain: Buffer): Buffer {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([Buffer.from([SEAL_VERSION]), iv, cipher.getAuthTag(), body]);
}

export function unseal(key: Buffer, sealed: Buffer): Buffer {
  if (sealed.length < 29 || sealed[0] !== SEAL_VERSION) throw new Error('sealed secret: unknown format');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
  decipher.setAuthTag(sealed.subarray(13, 29));
  return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
}
