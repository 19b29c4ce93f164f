// Messages for tests, built by independent tools: nodemailer composes, openssl signs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { tempDir } from './server-process.js';

export async function compose(opts: { from: string; to: string | string[]; cc?: string; subject: string; text?: string; html?: string; attachments?: Array<{ filename: string; content: string | Buffer }> }): Promise<Buffer> {
  return new MailComposer({ ...opts, date: new Date() }).compile().build();
}

/** A throwaway signing identity for an address (RSA 2048, self-signed, emailProtection). */
export function makeSigner(address: string): { cert: string; key: string } {
  const dir = tempDir('easmime-signer-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30',
    '-subj', `/CN=${address}/emailAddress=${address}`, '-addext', `subjectAltName=email:${address}`,
    '-addext', 'keyUsage=digitalSignature,nonRepudiation', '-addext', 'extendedKeyUsage=emailProtection'], { stdio: 'pipe' });
  return { cert, key };
}

/** A clear-signed (multipart/signed) message made by `openssl smime -sign`, with CRLF line ends throughout. */
export function signClear(opts: { signer: { cert: string; key: string }; from: string; to: string; subject: string; text: string }): Buffer {
  const dir = tempDir('easmime-sign-');
  const inner = path.join(dir, 'inner.txt');
  fs.writeFileSync(inner, `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${opts.text.replace(/\r?\n/g, '\r\n')}\r\n`);
  const out = execFileSync('openssl', ['smime', '-sign', '-in', inner, '-signer', opts.signer.cert, '-inkey', opts.signer.key,
    '-from', opts.from, '-to', opts.to, '-subject', opts.subject, '-md', 'sha256', '-crlfeol'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // openssl ends the base64 signature lines with bare LF even with -crlfeol; SMTP carries CRLF.
  return Buffer.from(out.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

export async function sendRaw(smtpPort: number, envelope: { from: string; to: string[] }, raw: Buffer): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope, raw });
  } finally {
    transport.close();
  }
}
