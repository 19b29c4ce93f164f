// Test helpers for envelopes and PKCS#12: keys and certificates from the demo PKI and made on the
// fly with openssl, envelopes made by `openssl cms -encrypt` and gpgsm. Nothing here uses the code
// under test.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certDer, demo, openssl, VECTORS } from './verify-pki.js';

export { certDer, demo, openssl, VECTORS };

/** The content every envelope here carries: a small MIME entity with CRLF line ends. */
export const CONTENT = Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nThe quarterly figures, for your eyes only. Grüße\r\n', 'utf8');

export function tempDir(prefix = 'easmime-env-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Unencrypted PKCS#8 DER of a PEM key file (what the decryption API takes). */
export function pkcs8(keyFile: string): Buffer {
  return openssl(['pkcs8', '-topk8', '-nocrypt', '-in', keyFile, '-outform', 'DER']);
}

export interface KeyPair {
  cert: string;
  key: string;
}

export function demoPair(name: string): KeyPair {
  return { cert: demo(`users/${name}.crt`), key: demo(`keys/${name}.key`) };
}

/** A self-signed certificate over a fresh EC key, with a subject key identifier. */
export function ecPair(dir: string, name: string, curve: 'P-256' | 'P-384' | 'P-521'): KeyPair {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', key]);
  openssl(['req', '-new', '-x509', '-key', key, '-subj', `/CN=${name}/emailAddress=${name}@contoso.test`, '-days', '30', '-out', cert,
    '-addext', 'subjectKeyIdentifier=hash', '-addext', 'keyUsage=critical,keyAgreement']);
  return { cert, key };
}

/** `openssl cms -encrypt` of CONTENT (or `content`) to the certificates, DER out. `args` go before the recipients. */
export function opensslEncrypt(recipients: Array<string | { cert: string; keyopt?: string[] }>, args: string[] = [], content: Buffer = CONTENT): Buffer {
  const recips = recipients.flatMap((r) =>
    typeof r === 'string' ? ['-recip', r] : ['-recip', r.cert, ...(r.keyopt ?? []).flatMap((k) => ['-keyopt', k])],
  );
  return openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', ...args, ...recips], content);
}

/** What openssl itself makes of an envelope (structure dump). */
export function opensslPrint(der: Buffer): string {
  return openssl(['cms', '-cmsout', '-print', '-inform', 'DER'], der).toString('utf8');
}

export function vectorsAvailable(): boolean {
  return fs.existsSync(path.join(VECTORS, 'README.md'));
}

export function vector(rel: string): Buffer {
  const raw = fs.readFileSync(path.join(VECTORS, rel));
  if (raw[0] === 0x30) return raw;
  return Buffer.from(raw.toString('latin1').replace(/-----[^-]+-----/g, ''), 'base64');
}

/** gpgsm with a throwaway home holding the demo CA certificates, or null when gpgsm is missing. */
export class Gpgsm {
  readonly home: string;

  private constructor(readonly work: string) {
    this.home = path.join(work, 'home');
    fs.mkdirSync(this.home, { mode: 0o700 });
    fs.writeFileSync(path.join(this.home, 'gpgsm.conf'), 'disable-crl-checks\ndisable-trusted-cert-crl-check\ndisable-dirmngr\n');
  }

  static create(): Gpgsm | null {
    try {
      execFileSync('gpgsm', ['--version'], { stdio: 'ignore' });
    } catch {
      return null;
    }
    const g = new Gpgsm(tempDir('easmime-gpgsm-'));
    g.run(['--import', demo('contoso-root-ca.crt'), demo('contoso-issuing-ca.crt')]);
    const colons = g.run(['--with-colons', '--list-keys', 'Contoso Demo Root CA']).toString();
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1];
    fs.writeFileSync(path.join(g.home, 'trustlist.txt'), `${fpr} S relax\n`);
    return g;
  }

  run(args: string[], input?: Buffer): Buffer {
    return execFileSync('gpgsm', ['--batch', ...args], { input, env: { ...process.env, GNUPGHOME: this.home }, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  }

  /** Encrypts CONTENT to the certificate (imported first); gpgsm writes BER with indefinite lengths. */
  encrypt(certFile: string, recipient: string): Buffer {
    this.run(['--import', certFile]);
    const input = path.join(this.work, 'content.txt');
    const out = path.join(this.work, `out-${process.hrtime.bigint()}.p7m`);
    fs.writeFileSync(input, CONTENT);
    this.run(['--encrypt', '-r', recipient, '-o', out, input]);
    return fs.readFileSync(out);
  }

  dispose(): void {
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: this.home }, stdio: 'ignore' });
    } catch {
      // No agent was started.
    }
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
