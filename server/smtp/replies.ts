// SMTP replies as errors smtp-server understands (`responseCode` + message).
// Messages carry their own RFC 3463 enhanced status code as the first word;
// the listener tells smtp-server not to add its code-derived guess, which would
// say 5.1.1 for every 550 (a relay denial is 5.7.1).

export class SmtpReplyError extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}(?:\s|$)/;
const MAX_TEXT = 400;

export function hasEnhancedCode(text: string): boolean {
  return ENHANCED.test(text);
}

export function reply(code: number, enhanced: string, text: string): SmtpReplyError {
  return new SmtpReplyError(code, `${enhanced} ${oneLine(text)}`);
}

/**
 * The DATA reply for a failed deliver(): its `responseCode` when it carries a
 * valid 4xx/5xx one (so the mail flow can refuse with 550/554 precisely),
 * otherwise a temporary 451 4.3.0 so the client retries.
 */
export function replyForDeliveryError(err: unknown): SmtpReplyError {
  const text = oneLine(err instanceof Error ? err.message : String(err)) || 'delivery failed';
  const code = (err as { responseCode?: unknown } | null)?.responseCode;
  if (typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599) {
    return new SmtpReplyError(code, hasEnhancedCode(text) ? text : `${Math.floor(code / 100)}.0.0 ${text}`);
  }
  return new SmtpReplyError(451, `4.3.0 ${text}`);
}

function oneLine(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_TEXT ? flat.slice(0, MAX_TEXT) + '...' : flat;
}
