// The S/MIME gateway's seam in the mail flow. Every message that enters (SMTP) or leaves (EAS
// submission) passes one of these two checks before anything is stored or relayed; a refusal
// means nothing reaches anyone.
import type { SmimeVerdict } from '../../smime/verdict.js';
import type { ParsedMessage } from '../mail/parse.js';

export interface GatewayEnvelope {
  /** The sender as the mail flow knows it (authenticated user for submissions, MAIL FROM for SMTP). */
  sender: string;
  /** Every recipient (To, Cc, Bcc / RCPT TO), lower-cased addresses. */
  recipients: string[];
  origin: 'smtp' | 'eas';
  /** The signed-in user, when there is one (EAS, or SMTP AUTH). */
  authenticatedUser?: string;
  /**
   * A verdict on this very message reached before the gateway saw it (an ingest worker verifying
   * against the organisation's trust material as it stood when the message arrived, no private key
   * needed): used as it is, so that a signature is never verified twice.
   */
  verdict?: SmimeVerdict;
}

export type RecipientProblem = 'no-certificate' | 'revoked' | 'expired' | 'not-in-envelope' | 'not-yet-valid' | 'invalid';

/** Why a message was refused, per recipient where the refusal is about recipients. */
export class GatewayRefusal extends Error {
  constructor(
    message: string,
    readonly code: 'recipients-unavailable' | 'signature-invalid' | 'signing-required' | 'encryption-required',
    readonly recipients: ReadonlyArray<{ address: string; problem: RecipientProblem; detail: string }> = [],
    /** The SMTP reply for the SMTP path. */
    readonly smtpCode = 550,
  ) {
    super(message);
  }
}

export interface GatewayDecision {
  /** The verdict to store with the message (undefined for mail that is not S/MIME). */
  verdict?: SmimeVerdict;
}

export interface Gateway {
  /** Mail arriving over SMTP. Throws GatewayRefusal when policy rejects it. */
  inbound(raw: Buffer, parsed: ParsedMessage, env: GatewayEnvelope): Promise<GatewayDecision>;
  /** Mail submitted by a user (SendMail, SmartReply, SmartForward, authenticated SMTP). Throws GatewayRefusal. */
  outbound(raw: Buffer, parsed: ParsedMessage, env: GatewayEnvelope): Promise<GatewayDecision>;
}

/** A gateway that looks at nothing: for tools that import mail as it is. */
export const passThroughGateway: Gateway = {
  async inbound() { return {}; },
  async outbound() { return {}; },
};
