// The SubmissionPort over the store and the mail flow: duplicate ClientIds, the source item of a
// reply or forward, the quoted original, then MailFlow.submit for routing, the gateway and Sent Items.
import type { Principal } from '../../eas/backend.js';
import type { SendFailure, SubmissionPort, SubmitFailure, SubmitOutcome, SubmitRequest } from '../../eas/ports/submission.js';
import { classifyMimeDetailed } from '../../smime/classify.js';
import { PIM_MESSAGE_CLASSES } from '../../eas/pim/items.js';
import { ComposeError, composeWithOriginal, withThreading, type ComposeKind } from '../mail/reply-forward.js';
import { SubmissionError, type SubmissionFailure } from '../mailflow.js';
import { Submissions } from '../store/submissions.js';
import { headerValue, splitMessage } from '../outbound/headers.js';
import type { ServiceDeps } from './deps.js';

/** The mail flow's failures as the ports name them (SendMail and 16.x draft Send alike). */
export const SEND_FAILURES: Readonly<Record<SubmissionFailure, SendFailure>> = {
  'too-large': 'too-large',
  'invalid-mime': 'invalid-mime',
  'no-recipients': 'no-recipients',
  'too-many-recipients': 'too-many-recipients',
  'unknown-recipient': 'recipient-unresolved',
  refused: 'refused',
  'relay-failed': 'submission-failed',
  'store-failed': 'submission-failed',
};

export class SubmissionService implements SubmissionPort {
  private readonly clientIds: Submissions;

  constructor(private readonly deps: ServiceDeps) {
    this.clientIds = new Submissions(deps.store.db);
  }

  async submit(p: Principal, req: SubmitRequest): Promise<SubmitOutcome> {
    if (req.clientId !== undefined && !this.clientIds.reserve(p.userId, req.clientId)) {
      return { kind: 'failed', failure: 'duplicate-client-id', reason: `ClientId ${req.clientId} was already used for a message sent recently` };
    }
    let outcome: SubmitOutcome;
    try {
      outcome = await this.send(p, req);
    } catch (e) {
      if (req.clientId !== undefined) this.clientIds.release(p.userId, req.clientId);
      throw e;
    }
    if (outcome.kind === 'failed' && req.clientId !== undefined) this.clientIds.release(p.userId, req.clientId);
    return outcome;
  }

  private async send(p: Principal, req: SubmitRequest): Promise<SubmitOutcome> {
    const failed = (failure: SubmitFailure, reason: string): SubmitOutcome => ({ kind: 'failed', failure, reason });
    const { mailflow, store } = this.deps;
    if (req.mime.length > mailflow.maxBytes) return failed('too-large', `the message is ${req.mime.length} bytes, the limit is ${mailflow.maxBytes}`);

    let mime = req.mime;
    if (req.command !== 'SendMail') {
      const kind: ComposeKind = req.command === 'SmartReply' ? 'reply' : 'forward';
      const source = req.source;
      const stored = source && store.mailbox.message(p.userId, source.itemId);
      const raw = stored && store.mailbox.raw(p.userId, stored.id);
      if (!source || !stored || !raw || (source.folderId !== undefined && stored.folderId !== source.folderId)) {
        return failed('source-not-found', source ? `item ${source.folderId ?? '?'}:${source.itemId} is not in this mailbox` : 'no source item named');
      }
      // Only mail is replied to or forwarded: a contact or appointment has no message to quote.
      if (PIM_MESSAGE_CLASSES.has(stored.messageClass)) return failed('source-not-found', `item ${source.itemId} is not a message`);
      // Appending to a signed or encrypted message would break it: S/MIME is sent as the client made it.
      const smime = classifyMimeDetailed(mime).kind !== 'none';
      if (!req.replaceMime && !smime) {
        try {
          mime = await composeWithOriginal(kind, mime, {
            raw, from: stored.from, to: stored.to, cc: stored.cc, subject: stored.subject, sentAt: sentDate(raw) ?? stored.receivedAt,
            text: stored.text, html: stored.html, smimeKind: stored.smimeKind,
          });
        } catch (e) {
          if (e instanceof ComposeError) return failed('invalid-mime', e.message);
          throw e;
        }
      }
      mime = withThreading(kind, mime, raw);
    }

    try {
      const result = await mailflow.submit(mime, {
        sender: { id: p.userId, address: p.address, displayName: p.displayName }, origin: 'eas', saveInSent: req.saveInSent, rewriteFrom: true,
      });
      return { kind: 'sent', messageId: result.messageId };
    } catch (e) {
      if (e instanceof SubmissionError) return failed(SEND_FAILURES[e.failure], e.message);
      throw e;
    }
  }
}

/** The original's Date field, which is when it was sent (the row's time is when it arrived here). */
function sentDate(raw: Buffer): Date | undefined {
  const m = splitMessage(raw);
  const value = m && headerValue(m, 'date');
  const d = value ? new Date(value) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}
