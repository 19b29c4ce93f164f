// The non-delivery report a sender finds in their Inbox when the gateway refuses a submission
// (server/mail/delivery-report.ts), naming which recipients to remove and why.
import type { GatewayRefusal, RecipientProblem } from './gateway.js';
import { ascii, buildDeliveryReport } from '../mail/delivery-report.js';

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

/** The report for a refused submission, CRLF line endings. */
export function buildNonDeliveryReport(input: ReportInput): Buffer {
  const { refusal, sender } = input;
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
  human.push(`Reported by the easmime S/MIME gateway at ${input.domain}, ${input.at.toUTCString()}.`);
  const failed = listed.length > 0
    ? listed.map((r) => ({ address: r.address, status: '5.7.1', diagnostic: `550 5.7.1 ${r.problem}: ${r.detail}` }))
    : [{ address: sender, status: '5.7.1', diagnostic: `550 5.7.1 ${refusal.code}: ${refusal.message}` }];
  return buildDeliveryReport({
    sender, domain: input.domain, originalHeaders: input.originalHeaders, originalSubject: input.originalSubject, at: input.at,
    explanation: human, failed,
    extraHeaders: [
      `X-EasMime-Refusal: ${refusal.code}`,
      ...(listed.length > 0 ? [`X-EasMime-Remove-Recipients: ${listed.map((r) => `${ascii(r.address)} (${r.problem})`).join(', ')}`] : []),
    ],
  });
}
