// Where mail for recipients outside the organisation goes: a smarthost (relayed with nodemailer) or,
// without one, the capture store. The mail flow calls send() after the gateway accepted the message
// and before it stores anything; what send() returns runs inside the store transaction that also
// delivers the local copies, so a capture and the local copies are written together or not at all.

export interface OutboundMessage {
  /** The message as it leaves (Bcc removed). */
  raw: Buffer;
  /** Envelope sender. */
  mailFrom: string;
  /** The external recipients, lower-case. */
  rcptTo: string[];
  origin: 'eas' | 'smtp';
  /** The signed-in user who submitted it. */
  submittedBy: string;
  subject: string;
  messageId?: string;
}

/** A recipient the route would not take while it took the message for others (a smarthost's RCPT refusal). */
export interface RefusedRecipient {
  address: string;
  /** The SMTP reply code, when there was one. */
  code?: number;
  response: string;
}

export interface OutboundHandover {
  /** The part to run in the store transaction that keeps the local copies. */
  commit: () => void;
  /** Recipients refused one by one; the others have the message. */
  refused: RefusedRecipient[];
}

export interface OutboundRoute {
  readonly name: 'smarthost' | 'capture';
  /** Throws OutboundError when the message cannot be handed over to anyone. */
  send(message: OutboundMessage): Promise<OutboundHandover>;
  close(): Promise<void>;
}

/** The smarthost refused or could not be reached. `permanent` for a 5xx reply. */
export class OutboundError extends Error {
  constructor(message: string, readonly permanent: boolean, readonly smtpCode?: number) {
    super(message);
  }
}
