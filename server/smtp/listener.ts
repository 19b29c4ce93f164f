// The SMTP listener: smtp-server with easmime's acceptance policy. Recipient
// checks happen at RCPT time (the client learns per address), size at MAIL FROM
// and during DATA, and the DATA bytes go to deliver() unchanged. close() ends
// idle sessions at once with 421 and lets a message being received finish.

import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { collectMessage } from './collect.js';
import { hasEnhancedCode, reply, replyForDeliveryError } from './replies.js';
import type { SmtpEnvelope, SmtpListener, SmtpListenerOptions, SmtpLogEvent } from './types.js';

export { SmtpReplyError } from './replies.js';
export type { SmtpEnvelope, SmtpListener, SmtpListenerOptions, SmtpLogEvent } from './types.js';

const MiB = 1024 * 1024;

type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never;

export async function startSmtpListener(opts: SmtpListenerOptions): Promise<SmtpListener> {
  if (opts.requireAuth && !opts.authenticate) throw new TypeError('requireAuth needs an authenticate function');
  const maxBytes = opts.maxMessageBytes ?? 25 * MiB;
  const log = (event: SmtpLogEvent): void => {
    try {
      opts.log?.(event);
    } catch {
      // A broken log sink must not break mail acceptance.
    }
  };
  const ref = (s: SMTPServerSession) => ({ session: s.id, remoteAddress: s.remoteAddress });
  const userOf = (s: SMTPServerSession): string | undefined => (typeof s.user === 'string' ? s.user : undefined);

  // Sessions in the middle of DATA: close() lets them finish, and only them.
  const inData = new Set<string>();
  let receiving = 0;

  const disabledCommands: string[] = [];
  if (!opts.tls) disabledCommands.push('STARTTLS');
  if (!opts.authenticate) disabledCommands.push('AUTH');

  const options: SMTPServerOptions = {
    name: opts.hostname ?? 'easmime.local',
    banner: 'easmime',
    size: maxBytes,
    maxRecipients: opts.maxRecipients ?? 500,
    maxClients: opts.maxClients ?? 100,
    socketTimeout: opts.socketTimeoutMs ?? 60_000,
    closeTimeout: opts.closeTimeoutMs ?? 10_000,
    disableReverseLookup: true,
    logger: false,
    hideENHANCEDSTATUSCODES: false,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true, // requireAuth is enforced at MAIL FROM, with our own reply.
    allowInsecureAuth: opts.allowInsecureAuth ?? false,
    disabledCommands,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),

    onConnect(session, cb) {
      log({ type: 'connect', ...ref(session) });
      cb();
    },

    onAuth(auth, session, cb) {
      const username = auth.username ?? '';
      const done = (ok: boolean, user?: string, err?: Error) => {
        log({ type: 'auth', ...ref(session), method: auth.method, username, ok, ...(user ? { user } : {}), ...(err ? { reply: err.message } : {}) });
        if (err) cb(err);
        else cb(null, { user });
      };
      if (auth.method !== 'PLAIN' && auth.method !== 'LOGIN') return done(false, undefined, reply(504, '5.5.4', 'Unsupported authentication mechanism'));
      Promise.resolve()
        .then(() => opts.authenticate!(username, auth.password ?? ''))
        .then(
          (user) => (user ? done(true, user) : done(false, undefined, reply(535, '5.7.8', 'Authentication credentials invalid'))),
          () => done(false, undefined, reply(454, '4.7.0', 'Temporary authentication failure')),
        );
    },

    onMailFrom(address, session, cb) {
      const err = opts.requireAuth && !session.user ? reply(530, '5.7.0', 'Authentication required') : undefined;
      log({ type: 'mail-from', ...ref(session), address: address.address, accepted: !err, ...(err ? { reply: err.message } : {}) });
      cb(err ?? null);
    },

    onRcptTo(address, session, cb) {
      const shown = address.address;
      const addr = shown.toLowerCase();
      decideRecipient(opts, addr, Boolean(session.user)).then(
        (decision) => {
          const err = decision === 'unknown'
            ? reply(550, '5.1.1', `<${shown}>: Recipient address rejected: User unknown`)
            : decision === 'relay-denied'
              ? reply(550, '5.7.1', `<${shown}>: Relay access denied`)
              : undefined;
          log({ type: 'rcpt', ...ref(session), address: addr, accepted: !err, ...(decision === 'relay' ? { relay: true } : {}), ...(err ? { reply: err.message } : {}) });
          cb(err ?? null);
        },
        () => {
          const err = reply(451, '4.3.0', `<${shown}>: Temporary recipient lookup failure`);
          log({ type: 'rcpt', ...ref(session), address: addr, accepted: false, reply: err.message });
          cb(err);
        },
      );
    },

    onData(stream, session, cb) {
      const started = Date.now();
      inData.add(session.id);
      const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const rcptTo = [...new Set(session.envelope.rcptTo.map((r) => r.address.toLowerCase()))];
      const user = userOf(session);
      let bytes = 0;
      receiving++;
      let received = false;
      const doneReceiving = () => {
        if (!received) receiving--;
        received = true;
      };
      const finish = (err: Error | null) => {
        doneReceiving();
        inData.delete(session.id);
        const text = err ? err.message : '2.6.0 Message accepted for delivery';
        const code = err ? (err as { responseCode?: number }).responseCode ?? 451 : 250;
        log({
          type: 'message', ...ref(session), mailFrom, rcptTo, bytes, ...(user ? { authenticatedUser: user } : {}),
          accepted: !err, reply: `${code} ${text}`, durationMs: Date.now() - started,
        });
        try {
          opts.flushLog?.();
        } catch {
          // As for log: the reply matters more than the log.
        }
        if (err) cb(err);
        else cb(null, text);
      };
      collectMessage(stream, maxBytes)
        .then(async (collected) => {
          doneReceiving();
          bytes = collected.bytes;
          if (!collected.raw) {
            return finish(reply(552, '5.3.4', `Message size exceeds fixed maximum message size (${maxBytes} bytes)`));
          }
          const envelope: SmtpEnvelope = {
            mailFrom, rcptTo, raw: collected.raw, remoteAddress: session.remoteAddress,
            sessionId: session.id, secure: Boolean(session.secure), ...(user ? { authenticatedUser: user } : {}),
          };
          try {
            await opts.deliver(envelope);
          } catch (e) {
            return finish(replyForDeliveryError(e));
          }
          finish(null);
        })
        .catch((e: unknown) => finish(reply(451, '4.3.0', e instanceof Error ? e.message : 'DATA failed')));
    },

    onClose(session) {
      log({ type: 'close', ...ref(session) });
    },
  };

  const server = new SMTPServer(options);
  keepExplicitEnhancedCodes(server);
  server.on('error', (err: Error & { remote?: string }) => {
    log({ type: 'error', session: '', remoteAddress: err.remote ?? '', error: err.message });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.server.off('error', onError);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port: (server.server.address() as AddressInfo).port,
    get receiving() {
      return receiving;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // smtp-server would let idle sessions linger until closeTimeout; nothing is lost by ending them now.
        for (const conn of server.connections) {
          if (inData.has(conn.session.id)) continue;
          conn.send(421, '4.3.2 Service shutting down');
          conn.close();
        }
      });
      return closing;
    },
  };
}

type Decision = 'local' | 'unknown' | 'relay' | 'relay-denied';

async function decideRecipient(opts: SmtpListenerOptions, address: string, authenticated: boolean): Promise<Decision> {
  if (await opts.isLocalRecipient(address)) return 'local';
  const at = address.lastIndexOf('@');
  // The domainless "postmaster" (RFC 5321 4.1.1.3) can only mean us.
  const localDomain = at < 0 || (opts.isLocalDomain ? await opts.isLocalDomain(address.slice(at + 1)) : false);
  if (localDomain) return 'unknown';
  return authenticated ? 'relay' : 'relay-denied';
}

/**
 * smtp-server prefixes every reply with an enhanced status code guessed from the
 * reply code alone. Our replies state their own; for those, suppress the guess.
 * Connections are created internally, so the hook is the moment one is added
 * to the server's connection set, before its greeting is sent.
 */
function keepExplicitEnhancedCodes(server: SMTPServer): void {
  const connections = server.connections;
  const add = connections.add.bind(connections);
  connections.add = (conn: Connection) => {
    const send = conn.send.bind(conn);
    conn.send = (code, data, context) => send(code, data, typeof data === 'string' && hasEnhancedCode(data) ? false : context);
    return add(conn);
  };
}
