export interface SmtpEnvelope {
  /** MAIL FROM address as the client gave it; '' for the null sender (bounces). */
  mailFrom: string;
  /** Accepted RCPT TO addresses, lower-cased, de-duplicated, in order. */
  rcptTo: string[];
  /** The DATA bytes exactly as received, dot-stuffing undone, final CRLF.CRLF removed. */
  raw: Buffer;
  remoteAddress: string;
  /** Canonical address returned by authenticate(), when the session authenticated. */
  authenticatedUser?: string;
  /** smtp-server's session id, for correlating with log events. */
  sessionId: string;
  /** True when the session ran over STARTTLS. */
  secure: boolean;
}

export interface SmtpListenerOptions {
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Name in the banner and EHLO reply. Default 'easmime.local'. */
  hostname?: string;
  /** Announced with SIZE and enforced at MAIL FROM and during DATA. Default 25 MiB. */
  maxMessageBytes?: number;
  /** Recipients per transaction; more get 452 4.5.3. Default 500. */
  maxRecipients?: number;
  /** Concurrent connections. Default 100. */
  maxClients?: number;
  /** Idle socket timeout. Default 60 s. */
  socketTimeoutMs?: number;
  /** How long close() lets open sessions finish before cutting them with 421. Default 10 s. */
  closeTimeoutMs?: number;
  /** Whether a (lower-cased) address is a deliverable local mailbox, group or alias. */
  isLocalRecipient(address: string): boolean | Promise<boolean>;
  /**
   * Whether a (lower-cased) domain is served here. An unknown address in a local
   * domain gets 550 5.1.1; one in another domain is relay (5.7.1 unless
   * authenticated). Without this hook every domain counts as foreign.
   */
  isLocalDomain?(domain: string): boolean | Promise<boolean>;
  /** Stores or relays the message. A throw becomes the DATA reply (see SmtpReplyError). */
  deliver(envelope: SmtpEnvelope): Promise<void>;
  /** When given, AUTH PLAIN and LOGIN are offered. Resolves the canonical user address, or null for bad credentials. */
  authenticate?(user: string, password: string): Promise<string | null>;
  /** MAIL FROM without AUTH gets 530 5.7.0. Requires authenticate. */
  requireAuth?: boolean;
  /** Allow AUTH before STARTTLS when TLS is configured. Default false. (Without tls, AUTH is always in clear.) */
  allowInsecureAuth?: boolean;
  /** When given, STARTTLS is offered with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Receives one event per protocol step and one per finished transaction; never a password. */
  log?(event: SmtpLogEvent): void;
  /** Called just before the reply to DATA, so that a buffered log has the message's lines out before the client hears 250. */
  flushLog?(): void;
}

export interface SmtpListener {
  port: number;
  /** Messages whose DATA is still being read: they reach deliver() soon (unless the client goes away). */
  readonly receiving: number;
  /** Stops accepting, lets open sessions end (up to closeTimeoutMs), then resolves. */
  close(): Promise<void>;
}

interface SessionRef {
  session: string;
  remoteAddress: string;
}

export type SmtpLogEvent = SessionRef &
  (
    | { type: 'connect' }
    | { type: 'auth'; method: string; username: string; ok: boolean; user?: string; reply?: string }
    | { type: 'mail-from'; address: string; accepted: boolean; reply?: string }
    | { type: 'rcpt'; address: string; accepted: boolean; relay?: boolean; reply?: string }
    | {
        type: 'message';
        mailFrom: string;
        rcptTo: string[];
        bytes: number;
        authenticatedUser?: string;
        accepted: boolean;
        reply: string;
        durationMs: number;
      }
    | { type: 'close' }
    | { type: 'error'; error: string }
  );
