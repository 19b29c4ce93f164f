// A non-delivery report as a sender finds it in their Inbox: a multipart/report (RFC 6522) with a
// human-readable part, a delivery-status part (RFC 3464) with one block per failed recipient, and the
// failed message's header block, so that both people and programs can read who did not get it and why.
import crypto from 'node:crypto';

export interface FailedRecipient {
  address: string;
  /** RFC 3463 enhanced status: 5.x.x, or 4.x.x for mail that expired while still deferred (Action: failed either way). */
  status: string;
  /** The Diagnostic-Code text after "smtp; ", with its reply code. */
  diagnostic: string;
}

export interface DeliveryReportInput {
  /** Whom the report goes to. */
  sender: string;
  /** The organisation's domain, for the reporting MTA and the postmaster address. */
  domain: string;
  /** The failed message's header block (as bytes, up to the blank line). */
  originalHeaders: Buffer;
  originalSubject: string;
  at: Date;
  /** The human-readable part, line by line (ASCII). */
  explanation: string[];
  failed: FailedRecipient[];
  /** Headers for programs (X-EasMime-...), written as given. */
  extraHeaders?: string[];
}

/** Folds nothing and encodes nothing: every line here is ASCII by construction, except the subject. */
function encodeSubject(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

export const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');

/** The whole report, CRLF line endings. */
export function buildDeliveryReport(input: DeliveryReportInput): Buffer {
  const { sender, domain, at } = input;
  const boundary = `easmime-ndr-${crypto.randomBytes(12).toString('hex')}`;
  const status: string[] = [`Reporting-MTA: dns; ${domain}`, `Arrival-Date: ${at.toUTCString()}`, ''];
  for (const r of input.failed) {
    status.push(`Final-Recipient: rfc822; ${ascii(r.address)}`, 'Action: failed', `Status: ${r.status}`, `Diagnostic-Code: smtp; ${ascii(r.diagnostic).slice(0, 300)}`, '');
  }
  const headers = input.originalHeaders.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '');
  const lines = [
    `From: Mail Delivery System <postmaster@${domain}>`,
    `To: <${sender}>`,
    `Subject: ${encodeSubject(`Undeliverable: ${input.originalSubject}`)}`,
    `Date: ${at.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <ndr-${crypto.randomBytes(10).toString('hex')}@${domain}>`,
    'Auto-Submitted: auto-replied',
    ...(input.extraHeaders ?? []),
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...input.explanation,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    ...status,
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    headers,
    '',
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** The header block of a message: everything before the first blank line (bounded). */
export function headerBlock(raw: Buffer, max = 64 * 1024): Buffer {
  const limit = Math.min(raw.length, max);
  for (let i = 0; i + 1 < limit; i++) {
    if (raw[i] === 0x0a && (raw[i + 1] === 0x0a || (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a))) return raw.subarray(0, i + 1);
  }
  return raw.subarray(0, limit);
}
