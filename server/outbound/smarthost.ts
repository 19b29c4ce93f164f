// The outbound route to a smarthost: every external copy is handed to one SMTP server with
// nodemailer, the envelope naming only the external recipients. Bounded in time: a smarthost that
// does not answer fails the submission instead of holding the device's request.
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Logger } from '../log.js';
import type { SmarthostTls } from '../config.js';
import { OutboundError, type OutboundHandover, type OutboundMessage, type OutboundRoute, type RefusedRecipient } from './route.js';

export interface SmarthostOptions {
  host: string;
  port: number;
  /** none: never STARTTLS; opportunistic: STARTTLS when offered, certificate not checked; starttls: required and checked; implicit: TLS from the first byte. */
  tls: SmarthostTls;
  user?: string;
  password?: string;
  /** AUTH may go in clear (none, or opportunistic without an offer); else opportunistic with a user requires STARTTLS. */
  plaintextAuth?: boolean;
  /** Our name in EHLO. */
  clientName: string;
  timeoutMs?: number;
}

export class SmarthostRoute implements OutboundRoute {
  readonly name = 'smarthost' as const;
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly opts: SmarthostOptions, private readonly log: Logger) {
    const timeout = opts.timeoutMs ?? 30_000;
    this.transport = nodemailer.createTransport({
      host: opts.host, port: opts.port, name: opts.clientName,
      secure: opts.tls === 'implicit', ignoreTLS: opts.tls === 'none', requireTLS: opts.tls === 'starttls' || this.authNeedsStarttls,
      // Opportunistic TLS authenticates no one (RFC 7435); the modes that ask for TLS check the certificate.
      tls: { rejectUnauthorized: opts.tls === 'starttls' || opts.tls === 'implicit' },
      ...(opts.user !== undefined ? { auth: { user: opts.user, pass: opts.password ?? '' } } : {}),
      connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout * 2, dnsTimeout: timeout,
      logger: false,
    });
  }

  /**
   * Opportunistic TLS with credentials: the password goes only inside TLS (unchecked, as opportunistic
   * is), so a smarthost that offers no STARTTLS gets no login and no mail, as Postfix's default
   * smtp_sasl_security_options (noplaintext) would have it.
   */
  private get authNeedsStarttls(): boolean {
    return this.opts.tls === 'opportunistic' && this.opts.user !== undefined && !this.opts.plaintextAuth;
  }

  async send(m: OutboundMessage): Promise<OutboundHandover> {
    let info: SMTPTransport.SentMessageInfo;
    try {
      info = await this.transport.sendMail({ envelope: { from: m.mailFrom, to: m.rcptTo }, raw: m.raw });
    } catch (e) {
      const err = e as Error & { responseCode?: number; code?: string; response?: string; command?: string };
      const code = typeof err.responseCode === 'number' ? err.responseCode : undefined;
      // A 5xx to STARTTLS is our TLS requirement unmet (or the offer stripped on the way), not the
      // smarthost refusing the message: temporary, as an MTA defers mail it may only send over TLS.
      const tlsUnmet = err.code === 'ETLS' || err.command === 'STARTTLS';
      const hint = tlsUnmet && this.authNeedsStarttls ? ' (the password is sent only over TLS; --smarthost-plaintext-auth allows it in clear)' : '';
      const reason = `the smarthost ${this.opts.host}:${this.opts.port} did not take the message: ${err.response ?? err.message}${hint}`;
      this.log({ level: 'warn', msg: 'relay failed', smarthost: `${this.opts.host}:${this.opts.port}`, to: m.rcptTo.join(','), code, error: err.message + hint });
      throw new OutboundError(reason, !tlsUnmet && code !== undefined && code >= 500, code);
    }
    const refused = refusedOf(info);
    this.log({
      msg: 'relayed', smarthost: `${this.opts.host}:${this.opts.port}`, to: m.rcptTo.join(','), messageId: m.messageId,
      response: info.response, ...(refused.length ? { rejected: refused.map((r) => r.address).join(',') } : {}),
    });
    return { commit: () => undefined, refused };
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/** The recipients the smarthost refused at RCPT TO while it took the message for the others, with its answers. */
function refusedOf(info: SMTPTransport.SentMessageInfo): RefusedRecipient[] {
  const errors = (info as { rejectedErrors?: Array<Error & { recipient?: string; responseCode?: number; response?: string }> }).rejectedErrors ?? [];
  return (info.rejected ?? []).map(String).map((address) => {
    const e = errors.find((x) => x.recipient === address);
    return { address, ...(typeof e?.responseCode === 'number' ? { code: e.responseCode } : {}), response: e?.response ?? e?.message ?? 'refused' };
  });
}
