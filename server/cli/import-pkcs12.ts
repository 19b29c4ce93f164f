// Imports a user's PKCS#12 file (certificate and private key, or a whole encryption history) into
// a data folder, next to a running server or without one:
//
//   tsx server/cli/import-pkcs12.ts --data DIR --user alice@contoso.test --purpose encryption \
//       --password-file F file.p12
//
// The password comes from a file (or standard input with "-") or an environment variable, never
// from the command line, where other users of the machine could read it. Exit codes: 0 imported
// (or already there), 1 could not import, 2 usage error, 3 wrong password.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isInitialised } from '../store/db.js';
import { Store } from '../store/index.js';
import { loadServerKey, unseal } from '../store/secrets.js';
import { ImportError, importPkcs12 } from '../certificates/import.js';
import type { CertificatePurpose } from '../store/certificates.js';

const NAME = 'import-pkcs12';
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export const EXIT = { ok: 0, failed: 1, usage: 2, wrongPassword: 3 } as const;

const USAGE = `Usage: ${NAME} --data DIR --user ADDRESS --purpose signing|encryption|both
                     (--password-file FILE | --password-env VAR) [options] FILE.p12

Imports every certificate with its private key from a PKCS#12 (.p12/.pfx) file for a user.
Each key pair becomes a certificate of its own; an exported history keeps every generation.

  --data DIR            the server's data folder (holds easmime.sqlite and server.key)
  --user ADDRESS        the user (full address, or the local part)
  --purpose P           signing, encryption or both
  --password-file FILE  file holding the password (one line; "-" reads standard input)
  --password-env VAR    environment variable holding the password
  --device-id ID        for a signing certificate issued to one device (EAS DeviceId)
  --publish             hand the certificates out in the GAL (default for encryption and both)
  --no-publish          do not (default for signing)
  --dry-run             open and check everything, store nothing
  --help                this text

The server key comes from EASMIME_SERVER_KEY or DIR/server.key, as for the server.
Exit codes: 0 imported, 1 not imported, 2 usage error, 3 wrong password.
`;

class UsageError extends Error {}
class Failure extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failed) {
    super(message);
  }
}

interface Args {
  data: string;
  user: string;
  purpose: CertificatePurpose;
  password: { file: string } | { env: string };
  deviceId?: string;
  publish?: boolean;
  dryRun: boolean;
  file: string;
}

function parse(argv: string[]): Args | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        data: { type: 'string' },
        user: { type: 'string' },
        purpose: { type: 'string' },
        'password-file': { type: 'string' },
        'password-env': { type: 'string' },
        'device-id': { type: 'string' },
        publish: { type: 'boolean' },
        'no-publish': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const missing = (['data', 'user', 'purpose'] as const).filter((k) => v[k] === undefined).map((k) => `--${k}`);
  if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`);
  if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length ? `one PKCS#12 file expected, got ${parsed.positionals.length}` : 'no PKCS#12 file given');
  if (!['signing', 'encryption', 'both'].includes(v.purpose!)) throw new UsageError(`--purpose must be signing, encryption or both, not "${v.purpose}"`);
  if ((v['password-file'] === undefined) === (v['password-env'] === undefined)) throw new UsageError('give the password with exactly one of --password-file and --password-env');
  if (v.publish && v['no-publish']) throw new UsageError('--publish and --no-publish contradict each other');
  return {
    data: path.resolve(v.data!),
    user: v.user!,
    purpose: v.purpose as CertificatePurpose,
    password: v['password-file'] !== undefined ? { file: v['password-file'] } : { env: v['password-env']! },
    ...(v['device-id'] !== undefined ? { deviceId: v['device-id'] } : {}),
    ...(v.publish ? { publish: true } : v['no-publish'] ? { publish: false } : {}),
    dryRun: v['dry-run'] ?? false,
    file: parsed.positionals[0]!,
  };
}

function readPassword(source: Args['password'], env: NodeJS.ProcessEnv): string {
  if ('env' in source) {
    const value = env[source.env];
    if (value === undefined) throw new Failure(`environment variable ${source.env} is not set`, EXIT.usage);
    return value;
  }
  let raw: Buffer;
  try {
    raw = fs.readFileSync(source.file === '-' ? 0 : source.file);
  } catch (e) {
    throw new Failure(`password file ${source.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new Failure(`password file ${source.file}: not UTF-8 text`);
  }
  // One line; its line end is not part of the password (spaces are).
  text = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text)) throw new Failure(`password file ${source.file}: holds more than one line`);
  return text;
}

function readServerKey(data: string, env: NodeJS.ProcessEnv): Buffer {
  // Never create a key here: keys sealed under a new one would be unreadable to the server.
  if (!env.EASMIME_SERVER_KEY && !fs.existsSync(path.join(data, 'server.key'))) {
    throw new Failure(`no server key: ${path.join(data, 'server.key')} does not exist and EASMIME_SERVER_KEY is not set`);
  }
  try {
    return loadServerKey(data, env);
  } catch (e) {
    throw new Failure((e as Error).message);
  }
}

export async function main(argv: string[], io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv }): Promise<number> {
  let args: Args | 'help';
  try {
    args = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`${NAME}: ${e.message}\n(${NAME} --help lists the options)\n`);
    return EXIT.usage;
  }
  if (args === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  let store: Store | undefined;
  try {
    const password = readPassword(args.password, io.env);
    let file: Buffer;
    try {
      const st = fs.statSync(args.file);
      if (!st.isFile()) throw new Failure(`${args.file}: not a file`);
      if (st.size > MAX_FILE_BYTES) throw new Failure(`${args.file}: ${st.size} bytes, more than the limit of ${MAX_FILE_BYTES} for a PKCS#12 file`);
      file = fs.readFileSync(args.file);
    } catch (e) {
      if (e instanceof Failure) throw e;
      throw new Failure(`${args.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
    }
    if (!fs.existsSync(path.join(args.data, 'easmime.sqlite'))) {
      throw new Failure(`${args.data} is not an easmime data folder (no easmime.sqlite; start the server once to create it)`);
    }
    const serverKey = readServerKey(args.data, io.env);
    store = Store.open(args.data);
    if (!isInitialised(store.db)) throw new Failure(`${args.data} holds no organisation yet (start the server once to load it)`);
    const probe = store.certificates.anySealedKey();
    if (probe) {
      try {
        unseal(serverKey, probe);
      } catch {
        throw new Failure(`the server key does not open the keys already stored in ${args.data} (is EASMIME_SERVER_KEY the server's?)`);
      }
    }

    io.err(`${NAME}: opening ${args.file} for ${args.user} (${args.purpose})${args.dryRun ? ', dry run' : ''}\n`);
    const result = await importPkcs12(
      store,
      serverKey,
      {
        user: args.user,
        purpose: args.purpose,
        pkcs12: file,
        password,
        source: `${NAME} ${path.basename(args.file)}`,
        ...(args.deviceId !== undefined ? { deviceId: args.deviceId } : {}),
        ...(args.publish !== undefined ? { publish: args.publish } : {}),
      },
      { dryRun: args.dryRun },
    );
    io.err(`${NAME}: ${args.file} is protected with ${result.encryption.join(', ') || 'no encryption'}\n`);
    for (const w of result.warnings) io.err(`${NAME}: warning: ${w}\n`);
    const verb = { added: args.dryRun ? 'would add' : 'added', 'key-added': args.dryRun ? 'would add the key to' : 'added the key to', present: 'already stored' };
    for (const { certificate: c, status } of result.certificates) {
      io.out(`${verb[status]}: ${c.purpose} certificate ${c.subject.replace(/\n/g, ', ')} serial ${c.serial}, valid ${c.notBefore.toISOString().slice(0, 10)} to ${c.notAfter.toISOString().slice(0, 10)}${c.id ? ` (id ${c.id})` : ''}\n`);
    }
    const added = result.certificates.filter((c) => c.status !== 'present').length;
    io.out(`${result.user.address}: ${added} of ${result.certificates.length} key pair(s) ${args.dryRun ? 'would be ' : ''}imported\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ImportError) {
      const where = e.code === 'pkcs12' || e.code === 'unsuitable' ? `${args.file}: ` : '';
      io.err(`${NAME}: ${where}${e.message}\n`);
      return e.pkcs12Code === 'wrong-password' ? EXIT.wrongPassword : EXIT.failed;
    }
    if (e instanceof Failure) {
      io.err(`${NAME}: ${e.message}\n`);
      return e.exitCode;
    }
    io.err(`${NAME}: failed unexpectedly: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.failed;
  } finally {
    store?.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]).replace(/\.[cm]?[jt]s$/, '') === path.resolve(fileURLToPath(import.meta.url)).replace(/\.[cm]?[jt]s$/, '');
if (invokedDirectly) {
  main(process.argv.slice(2), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${NAME}: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
