// Test helpers for the S/MIME verification tests: a throwaway PKI made with
// the openssl CLI in a temp folder (CAs, end-entity certificates with any
// dates and extensions, revocations, CRLs), and messages signed by openssl.
// Everything here is made by independent tools; nothing by the code under test.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEMO_PKI = path.resolve(here, '../../fixtures/demo/pki');
export const VECTORS = path.resolve(here, '../../../shared/vectors');

export function openssl(args: string[], input?: Buffer | string): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

/** DER of the first certificate in a PEM (or DER) file. */
export function certDer(file: string): Buffer {
  const text = fs.readFileSync(file);
  if (text[0] === 0x30) return text;
  return openssl(['x509', '-in', file, '-outform', 'DER']);
}

export function demo(rel: string): string {
  return path.join(DEMO_PKI, rel);
}

export function demoSigner(name: string): Signer {
  return { cert: demo(`users/${name}.crt`), key: demo(`keys/${name}.key`) };
}

export interface Signer {
  cert: string;
  key: string;
}

export interface IssueOptions {
  subject: string;
  key: string;
  /** openssl ca dates: YYYYMMDDHHMMSSZ. Default: a day ago to ten years on. */
  start?: string;
  end?: string;
  /** Extension lines for the [ext] section (basicConstraints etc.). */
  ext: string[];
}

export type KeyType = 'rsa' | 'ec256' | 'ec384';

/** Dates for openssl ca relative to now. */
export function stamp(offsetDays: number): string {
  const d = new Date(Date.now() + offsetDays * 86400_000);
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

export class TestPki {
  readonly dir: string;
  private serial = 0x1000;
  private readonly keys = new Map<string, string>();

  constructor(prefix = 'easmime-pki-') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** A private key file, generated once per name. */
  key(name: string, type: KeyType = 'rsa'): string {
    const hit = this.keys.get(name);
    if (hit) return hit;
    const out = this.file(`${name}.key`);
    const args =
      type === 'rsa'
        ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', out]
        : ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${type === 'ec256' ? 'P-256' : 'P-384'}`, '-out', out];
    openssl(args);
    this.keys.set(name, out);
    return out;
  }

  private caDb(ca: string): string {
    const d = this.file(`db-${ca}`);
    if (!fs.existsSync(d)) {
      fs.mkdirSync(path.join(d, 'newcerts'), { recursive: true });
      fs.writeFileSync(path.join(d, 'index.txt'), '');
      fs.writeFileSync(path.join(d, 'index.txt.attr'), 'unique_subject = no\n');
      fs.writeFileSync(path.join(d, 'crlnumber'), '01\n');
      fs.writeFileSync(
        path.join(d, 'ca.cnf'),
        [
          '[ ca ]',
          'default_ca = this_ca',
          '[ this_ca ]',
          `dir = ${d}`,
          `database = ${d}/index.txt`,
          `new_certs_dir = ${d}/newcerts`,
          `serial = ${d}/serial`,
          `crlnumber = ${d}/crlnumber`,
          `certificate = ${this.file(`${ca}.crt`)}`,
          `private_key = ${this.file(`${ca}.cakey`)}`,
          'default_md = sha256',
          'policy = policy_any',
          'unique_subject = no',
          'email_in_dn = yes',
          'copy_extensions = none',
          'default_crl_days = 30',
          '[ policy_any ]',
          'countryName = optional',
          'organizationName = optional',
          'organizationalUnitName = optional',
          'commonName = supplied',
          'emailAddress = optional',
          '',
        ].join('\n'),
      );
    }
    return d;
  }

  /**
   * Issues a certificate with `openssl ca` (any dates). `ca` is the issuing CA's
   * name, or null for a self-signed certificate (then `name` becomes a CA usable as `ca`).
   */
  issue(ca: string | null, name: string, o: IssueOptions): string {
    const issuer = ca ?? name;
    if (ca === null) fs.copyFileSync(o.key, this.file(`${name}.cakey`));
    const d = this.caDb(issuer);
    const serial = (this.serial++).toString(16).toUpperCase();
    fs.writeFileSync(path.join(d, 'serial'), `${serial}\n`);
    const csr = this.file(`${name}.csr`);
    const ext = this.file(`${name}.ext`);
    fs.writeFileSync(ext, ['[ ext ]', ...o.ext, ''].join('\n'));
    openssl(['req', '-new', '-key', o.key, '-subj', o.subject, '-out', csr]);
    const out = this.file(`${name}.crt`);
    const args = ['ca', '-config', path.join(d, 'ca.cnf'), '-batch', '-notext', '-preserveDN', '-md', 'sha256', '-subj', o.subject,
      '-startdate', o.start ?? stamp(-1), '-enddate', o.end ?? stamp(3650), '-extfile', ext, '-extensions', 'ext', '-in', csr, '-out', out];
    if (ca === null) args.push('-selfsign', '-keyfile', o.key);
    openssl(args);
    if (ca === null) {
      // Later issues by this CA read its certificate and key from the names the config uses.
      fs.copyFileSync(o.key, this.file(`${name}.cakey`));
    }
    return out;
  }

  /** A root CA (self-signed) with a fresh or given key. */
  root(name: string, subject: string, key = this.key(`${name}-key`)): Signer {
    const cert = this.issue(null, name, { subject, key, start: stamp(-3650), end: stamp(7300), ext: CA_EXT });
    return { cert, key };
  }

  /** An intermediate CA issued by `parent`. */
  intermediate(parent: string, name: string, subject: string, key = this.key(`${name}-key`), extra: string[] = []): Signer {
    const cert = this.issue(parent, name, { subject, key, start: stamp(-3000), end: stamp(7000), ext: [...CA_EXT, ...extra] });
    fs.copyFileSync(key, this.file(`${name}.cakey`));
    return { cert, key };
  }

  /** An end-entity certificate for e-mail. */
  person(ca: string, name: string, address: string, o: Partial<IssueOptions> & { ku?: string; eku?: string | null; extra?: string[]; keyType?: KeyType } = {}): Signer {
    const key = o.key ?? this.key(o.keyType && o.keyType !== 'rsa' ? `${name}-key` : 'shared-rsa', o.keyType ?? 'rsa');
    const ext = [
      'basicConstraints = critical,CA:FALSE',
      `keyUsage = critical,${o.ku ?? 'digitalSignature,nonRepudiation'}`,
      ...(o.eku === null ? [] : [`extendedKeyUsage = ${o.eku ?? 'emailProtection'}`]),
      `subjectAltName = email:${address}`,
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      ...(o.extra ?? []),
    ];
    const cert = this.issue(ca, name, { subject: o.subject ?? `/O=Test/CN=${name}/emailAddress=${address}`, key, start: o.start, end: o.end, ext: o.ext ?? ext });
    return { cert, key };
  }

  revoke(ca: string, cert: string, reason = 'keyCompromise'): void {
    openssl(['ca', '-config', path.join(this.caDb(ca), 'ca.cnf'), '-batch', '-revoke', cert, '-crl_reason', reason]);
  }

  /** A DER CRL from `ca` with what it has revoked so far. */
  crl(ca: string, o: { hours?: number } = {}): string {
    const pem = this.file(`${ca}-${this.serial++}.crl.pem`);
    const args = ['ca', '-config', path.join(this.caDb(ca), 'ca.cnf'), '-batch', '-gencrl', '-out', pem];
    if (o.hours !== undefined) args.push('-crlhours', String(o.hours));
    openssl(args);
    const der = pem.replace(/\.pem$/, '.der');
    openssl(['crl', '-in', pem, '-outform', 'DER', '-out', der]);
    return der;
  }
}

const CA_EXT = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always'];

export interface SignOptions {
  signers: Signer[];
  /** The MIME entity to sign (headers and body). */
  content?: string | Buffer;
  md?: string;
  pss?: boolean;
  opaque?: boolean;
  /** Extra certificates to include (intermediates). */
  certfile?: string;
  tool?: 'cms' | 'smime';
  from?: string;
  to?: string;
  subject?: string;
  /** Sign the bytes as given (-binary) instead of letting openssl canonicalise text. */
  binary?: boolean;
  extra?: string[];
}

export const DEFAULT_CONTENT = 'Content-Type: text/plain; charset=utf-8\r\n\r\nHello from the test.\r\nSecond line.\r\n';

/** A signed S/MIME message made by `openssl cms -sign` (or `openssl smime -sign`). */
export function signMessage(dir: string, o: SignOptions): Buffer {
  const input = path.join(dir, `in-${process.hrtime.bigint()}.txt`);
  fs.writeFileSync(input, o.content ?? DEFAULT_CONTENT);
  const args = [o.tool ?? 'cms', '-sign', '-in', input];
  for (const s of o.signers) {
    args.push('-signer', s.cert, '-inkey', s.key);
    if (o.pss && (o.tool ?? 'cms') === 'cms') args.push('-keyopt', 'rsa_padding_mode:pss');
  }
  if (o.md) args.push('-md', o.md);
  if (o.opaque) args.push('-nodetach');
  if (o.certfile) args.push('-certfile', o.certfile);
  if (o.binary) args.push('-binary');
  if (o.from) args.push('-from', o.from);
  if (o.to) args.push('-to', o.to);
  args.push('-subject', o.subject ?? 'test', ...(o.extra ?? []));
  const out = openssl(args);
  fs.rmSync(input);
  return out;
}

/** Replaces every line ending with CRLF (as an SMTP transfer would). */
export function crlf(msg: Buffer): Buffer {
  return Buffer.from(msg.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** Replaces every line ending with LF (as a Unix mail store would). */
export function lf(msg: Buffer): Buffer {
  return Buffer.from(msg.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

/** A MIME message around bare CMS bytes (gpgsm and the RFC vectors produce no MIME). */
export function wrapOpaque(der: Buffer, headers = 'From: alice@contoso.test\r\nSubject: opaque\r\n'): Buffer {
  const b64 = (der.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  return Buffer.from(
    `${headers}MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="smime.p7m"\r\n\r\n${b64}\r\n`,
    'latin1',
  );
}

export function wrapDetached(content: Buffer, sig: Buffer, headers = 'From: alice@contoso.test\r\nSubject: detached\r\n', micalg = 'sha-256'): Buffer {
  const boundary = '----=_test_boundary_42';
  const b64 = (sig.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  return Buffer.concat([
    Buffer.from(`${headers}MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg="${micalg}"; boundary="${boundary}"\r\n\r\nThis is an S/MIME signed message\r\n\r\n--${boundary}\r\n`, 'latin1'),
    content,
    Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="smime.p7s"\r\n\r\n${b64}\r\n--${boundary}--\r\n`, 'latin1'),
  ]);
}
