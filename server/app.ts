// The composition root: opens the store (initialising it from fixtures when empty), wires the
// EAS engine to it, and starts the HTTP and SMTP listeners.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ConfigError, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Store } from './store/index.js';
import { isInitialised } from './store/db.js';
import { loadServerKey } from './store/secrets.js';
import { FolderEvents } from './events.js';
import { StoreBackend } from './backend.js';
import { MailFlow, DeliveryError } from './mailflow.js';
import { SmarthostRoute } from './outbound/smarthost.js';
import { Outbox } from './outbound/outbox.js';
import { CaptureRoute } from './outbound/capture.js';
import { CapturedMail } from './store/captured.js';
import { SmimeGateway } from './gateway/smime-gateway.js';
import { envelopeOpener, readEnvelopeNames } from './gateway/envelopes.js';
import { CrlFetcher } from '../smime/crl-fetch.js';
import { createHttpApp } from './http.js';
import { loadAdminToken } from './admin.js';
import { loadFixtures } from './fixtures/load.js';
import { applyFixtures } from './fixtures/apply.js';
import { startSmtpListener, type SmtpListener } from './smtp/listener.js';
import { inProcessIngest, WorkerIngest, type IngestPipeline } from './ingest/pipeline.js';

export interface RunningServer {
  httpPort: number;
  /** Set when --https-port is. */
  httpsPort?: number;
  smtpPort: number;
  store: Store;
  events: FolderEvents;
  mailflow: MailFlow;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: Logger = createLogger(config.logFormat, { level: config.logLevel })): Promise<RunningServer> {
  const store = Store.open(config.data);
  const shutdown = new AbortController();
  let smtp: SmtpListener | undefined;
  let httpServer: http.Server | undefined;
  let httpsServer: https.Server | undefined;
  let outboundRoute: { close(): Promise<void> } | undefined;
  let ingest: IngestPipeline | undefined;
  let outboxRef: Outbox | undefined;
  try {
    const serverKey = loadServerKey(config.data);
    const events = new FolderEvents();
    const gateway = new SmimeGateway(store, log, {
      readEnvelope: readEnvelopeNames,
      crlSource: config.fetchCrls ? new CrlFetcher() : undefined,
      open: envelopeOpener(store, serverKey, log),
      deliverReport: (userId: number, raw: Buffer): Promise<void> => mailflow.toInbox(userId, raw),
    });
    const outbound = config.smarthost
      ? new SmarthostRoute({
        host: config.smarthost.host, port: config.smarthost.port, tls: config.smarthostTls, user: config.smarthostUser,
        password: config.smarthostPassword, plaintextAuth: config.smarthostPlaintextAuth, clientName: config.smtpHostname,
      }, log)
      : new CaptureRoute(new CapturedMail(store.db));
    outboundRoute = outbound;
    const workers = config.ingestWorkers ?? 0;
    ingest = workers > 0
      ? new WorkerIngest(store, {
        workers,
        // Fetching CRLs needs the network and a cache the main thread keeps: with it, the gateway verifies.
        verify: !config.fetchCrls,
        onProblem: (what) => log({ level: 'error', msg: 'ingest worker problem', problem: what }),
      })
      : inProcessIngest;
    const mailflow = new MailFlow(store, events, log, config.maxMessageBytes, gateway, outbound, ingest);

    if (!isInitialised(store.db)) {
      log({ msg: 'initialising data folder from fixtures', data: config.data, fixtures: config.fixtures });
      let lastReport = 0;
      const progress = (done: number, total: number, what: string): void => {
        const now = Date.now();
        if (done === total || now - lastReport > 1000) {
          lastReport = now;
          log({ msg: 'loading fixtures', what, done, total });
        }
      };
      const org = await loadFixtures(config.fixtures, { onProgress: progress });
      await applyFixtures(store, org, { serverKey, mailflow, onProgress: progress });
      log({ msg: 'organisation loaded', name: org.name, domain: org.domain, users: org.users.length, groups: org.groups.length });
    } else {
      log({ msg: 'reopened data folder', data: config.data, domain: store.domain(), from: store.getMeta('initialised_from') });
    }

    const outbox = new Outbox(store, mailflow, log);
    outboxRef = outbox;
    const backend = new StoreBackend({ store, events, mailflow, outbox, log, serverKey, searchTimeoutMs: config.searchTimeoutMs });
    const app = createHttpApp({
      backend, authenticate: (n, p) => backend.authenticate(n, p), log, maxRequestBytes: config.maxRequestBytes,
      shutdown: shutdown.signal, store, adminToken: loadAdminToken(config.data), serverKey, outbox,
      eas: config.trace ? { trace: (r) => log({ msg: 'trace', ...r }) } : undefined,
    });
    // Node's request timeout bounds only the receiving of a request (a client dripping a body byte by
    // byte is answered 408 and cut off); held Pings and Syncs answer long after that and are not
    // affected. Connections are checked at a quarter of the limit, at most every 30 s.
    const requestTimeout = config.requestTimeoutMs;
    const serverOptions: http.ServerOptions = {
      requestTimeout,
      headersTimeout: requestTimeout > 0 ? Math.min(60_000, requestTimeout) : 60_000,
      keepAliveTimeout: 65_000,
      connectionsCheckingInterval: requestTimeout > 0 ? Math.min(30_000, Math.max(250, requestTimeout / 4)) : 30_000,
    };
    const listen = (server: http.Server | https.Server, port: number): Promise<number> => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
    httpServer = http.createServer(serverOptions, app.callback());
    const httpPort = await listen(httpServer, config.httpPort);
    let httpsPort: number | undefined;
    if (config.httpsPort !== undefined && config.httpsCert && config.httpsKey) {
      // The same app: koa sees the socket is encrypted, so Autodiscover answers with https URLs.
      httpsServer = https.createServer({ ...serverOptions, ...tlsCredentials(config.httpsCert, config.httpsKey) }, app.callback());
      httpsPort = await listen(httpsServer, config.httpsPort);
    }

    smtp = await startSmtpListener({
      host: config.host,
      port: config.smtpPort,
      hostname: config.smtpHostname,
      maxMessageBytes: config.maxMessageBytes,
      isLocalRecipient: (a) => store.directory.isLocalAddress(a),
      isLocalDomain: (d) => d === store.domain(),
      authenticate: async (user, password) => (await store.directory.authenticate(user, password))?.address ?? null,
      requireAuth: config.smtpRequireAuth,
      tls: config.smtpTlsCert && config.smtpTlsKey ? { cert: readFileOrFail(config.smtpTlsCert), key: readFileOrFail(config.smtpTlsKey) } : undefined,
      deliver: async (env) => {
        // A session that authenticated is a user submitting mail (Sent Items, relay), not mail arriving.
        const sender = env.authenticatedUser ? store.directory.userByAddress(env.authenticatedUser) : undefined;
        if (sender) {
          await mailflow.submit(env.raw, {
            sender: { id: sender.id, address: sender.address, displayName: sender.displayName }, origin: 'smtp', rcptTo: env.rcptTo,
            mailFrom: env.mailFrom, saveInSent: true, rewriteFrom: false, remoteAddress: env.remoteAddress,
          });
          return;
        }
        await mailflow.deliver(env.raw, { mailFrom: env.mailFrom, rcptTo: env.rcptTo, origin: 'smtp', remoteAddress: env.remoteAddress, authenticatedUser: env.authenticatedUser });
      },
      // Accepted MAIL FROM / RCPT TO are repeated by the message line (mailFrom, rcptTo, reply): debug only.
      flushLog: () => log.flush?.(),
      log: (e) => log({ msg: 'smtp', ...((e.type === 'mail-from' || e.type === 'rcpt') && e.accepted ? { level: 'debug' } : {}), ...e }),
    });
    const listening = smtp;
    mailflow.arriving = () => listening.receiving;
    const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
    log({ msg: `EAS listening on http://${hostForUrl}:${httpPort}/Microsoft-Server-ActiveSync`, httpPort });
    if (httpsPort !== undefined) log({ msg: `EAS listening on https://${hostForUrl}:${httpsPort}/Microsoft-Server-ActiveSync`, httpsPort });
    log({ msg: `SMTP listening on ${hostForUrl}:${smtp.port}`, smtpPort: smtp.port });

    // What an earlier run left queued is tried again now: a restart is a retry, as an MTA's is.
    const queued = store.outbox.retryAll();
    if (queued > 0) log({ msg: 'outbox has queued mail', entries: queued });
    outbox.kick();

    const smtpRef = smtp;
    const webServers = [httpServer, ...(httpsServer ? [httpsServer] : [])];
    let closing: Promise<void> | undefined;
    return {
      httpPort, ...(httpsPort !== undefined ? { httpsPort } : {}), smtpPort: smtp.port, store, events, mailflow,
      close: () => {
        closing ??= (async () => {
          shutdown.abort();
          await Promise.all([
            smtpRef.close(),
            ...webServers.map((server) => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeIdleConnections(); })),
          ]);
          await outbox.close();
          await outbound.close();
          await ingest?.close();
          store.close();
          const gc = mailflow.deliveries.stats;
          log({ msg: 'stopped', deliveryCommits: gc.commits, deliveriesCommitted: gc.items, largestCommit: gc.largestBatch });
        })();
        return closing;
      },
    };
  } catch (e) {
    shutdown.abort();
    await smtp?.close().catch(() => undefined);
    httpServer?.close();
    httpsServer?.close();
    await outboxRef?.close().catch(() => undefined);
    await outboundRoute?.close().catch(() => undefined);
    await ingest?.close().catch(() => undefined);
    store.close();
    throw e;
  }
}

/** The HTTPS certificate and key, checked to make a TLS context here rather than fail on the first client. */
function tlsCredentials(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const credentials = { cert: readFileOrFail(certFile), key: readFileOrFail(keyFile) };
  try {
    tls.createSecureContext(credentials);
  } catch (e) {
    throw new ConfigError(`--https-cert ${certFile} and --https-key ${keyFile} cannot be used: ${(e as Error).message}`);
  }
  return credentials;
}

function readFileOrFail(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

export { DeliveryError };
