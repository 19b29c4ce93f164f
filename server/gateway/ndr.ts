// The non-delivery report a sender finds in their Inbox when the gateway refuses a submission:
// a multipart/report (RFC 6522) with a delivery-status part (RFC 3464) per refused recipient, so
// that both people and programs can read which recipients to remove and why.
import crypto from 'node:crypto';
import type { GatewayRefusal, RecipientProblem } from './gateway.js';

const EXPLAIN: Record<RecipientProblem, string> = {
  'no-certificate': 'has no encryption certificate in the directory',
  revoked: 'has an encryption certificate that has been revoked',
  expired: 'has only expired encryption certificates',
  'not-yet-valid': 'has only encryption certificates that are not valid yet',
  'not-in-envelope': 'has a valid encryption certificate, but the message was not encrypted to it',
  invalid: 'has no valid encryption certificate (it does not chain to a trusted root or cannot be used for encryption)',
};

export interface ReportInput {
  refusal: GatewayRefusal;
  /** The submitter's address. */
  sender: string;
  /** The organisation's domain, for the reporting MTA and the postmaster address. */
  domain: string;
  /** The refused message's header block (as bytes, up to the blank line). */
  originalHeaders: Buffer;
  originalSubject: string;
  at: Date;
}

/** Folds nothing and encodes nothing: every line here is ASCII by construction, except the subject. */
function encodeSubject(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');

/** The whole report, CRLF line endings. */
export function buildNonDeliveryReport(input: ReportInput): Buffer {
  const { refusal, sender, domain, at } = input;
  const boundary = `easmime-ndr-${crypto.randomBytes(12).toString('hex')}`;
  const postmaster = `postmaster@${domain}`;
  const listed = refusal.recipients;
  const human: string[] = [];
  if (refusal.code === 'recipients-unavailable') {
    human.push('Your message was not sent to anyone: it is encrypted, and the S/MIME gateway cannot confirm that');
    human.push('every recipient can read it. Remove these recipients (or send without encryption), then send again:');
    human.push('');
    for (const r of listed) human.push(`  ${ascii(r.address)}: ${r.problem} - ${EXPLAIN[r.problem]}. ${ascii(r.detail)}`);
  } else {
    human.push('Your message was not sent to anyone: the S/MIME gateway refused it.');
    human.push('');
    human.push(`  ${refusal.code}: ${ascii(refusal.message)}`);
  }
  human.push('');
  human.push(`Reported by the easmime S/MIME gateway at ${domain}, ${at.toUTCString()}.`);

  const status: string[] = [`Reporting-MTA: dns; ${domain}`, `Arrival-Date: ${at.toUTCString()}`, ''];
  for (const r of listed) {
    status.push(
      `Final-Recipient: rfc822; ${ascii(r.address)}`,
      'Action: failed',
      'Status: 5.7.1',
      `Diagnostic-Code: smtp; 550 5.7.1 ${r.problem}: ${ascii(r.detail).slice(0, 300)}`,
      '',
    );
  }
  if (listed.length === 0) {
    status.push(`Final-Recipient: rfc822; ${ascii(sender)}`, 'Action: failed', 'Status: 5.7.1',
      `Diagnostic-Code: smtp; 550 5.7.1 ${refusal.code}: ${ascii(refusal.message).slice(0, 300)}`, '');
  }

  const headers = input.originalHeaders.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '');
  const lines = [
    `From: Mail Delivery System <${postmaster}>`,
    `To: <${sender}>`,
    `Subject: ${encodeSubject(`Undeliverable: ${input.originalSubject}`)}`,
    `Date: ${at.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <ndr-${crypto.randomBytes(10).toString('hex')}@${domain}>`,
    'Auto-Submitted: auto-replied',
    `X-EasMime-Refusal: ${refusal.code}`,
    ...(listed.length > 0 ? [`X-EasMime-Remove-Recipients: ${listed.map((r) => `${ascii(r.address)} (${r.problem})`).join(', ')}`] : []),
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...human,
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
