// Optional fetching of CRLs from a certificate's CRL distribution points over
// HTTP. Off unless a CrlFetcher is handed to verification. Bounded in every
// direction: schemes (http, and https when allowed), URLs per certificate,
// bytes per response, time per request, entries cached; no redirects. Results
// (and failures, briefly) are cached per URL so a busy mail flow does not hit
// the CA once per message. The trust store only asks for distribution points
// of certificates already chained to a trusted root, so URLs come from CAs we
// trust, not from whoever sent the message.

import type { Certificate } from './certificate.js';
import { crlsFrom, parseCrl, type Crl } from './crl.js';
import type { CrlSource } from './trust.js';

export interface CrlFetchOptions {
  /** Per request, including reading the body. Default 5 s. */
  timeoutMs?: number;
  /** Largest response accepted. Default 10 MiB. */
  maxBytes?: number;
  /** Distribution points tried per certificate. Default 2. */
  maxUrlsPerCertificate?: number;
  /** Allow https: as well as http:. Default true. */
  allowHttps?: boolean;
  /** How long a fetched CRL is kept when it has no nextUpdate (or a far one). Default 1 h. */
  maxAgeMs?: number;
  /** How long a failure is remembered before trying that URL again. Default 5 min. */
  failureTtlMs?: number;
  /** URLs remembered. Default 256. */
  maxEntries?: number;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

interface Entry {
  expires: number;
  crl?: Crl;
  error?: string;
}

export interface CrlFetchRecord {
  url: string;
  ok: boolean;
  detail: string;
}

export class CrlFetcher implements CrlSource {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry>>();
  private readonly opts: Required<Omit<CrlFetchOptions, 'now'>> & { now: () => number };
  /** The last fetch outcomes (bounded), for diagnostics. */
  readonly log: CrlFetchRecord[] = [];

  constructor(options: CrlFetchOptions = {}) {
    this.opts = {
      timeoutMs: options.timeoutMs ?? 5000,
      maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
      maxUrlsPerCertificate: options.maxUrlsPerCertificate ?? 2,
      allowHttps: options.allowHttps ?? true,
      maxAgeMs: options.maxAgeMs ?? 3600_000,
      failureTtlMs: options.failureTtlMs ?? 300_000,
      maxEntries: options.maxEntries ?? 256,
      now: options.now ?? Date.now,
    };
  }

  async crlsFor(cert: Certificate): Promise<Crl[]> {
    const urls = cert.crlDistributionPoints.filter((u) => this.allowed(u)).slice(0, this.opts.maxUrlsPerCertificate);
    const out: Crl[] = [];
    for (const url of urls) {
      const entry = await this.get(url);
      if (entry.crl) {
        out.push(entry.crl);
        break; // One good CRL per certificate is enough.
      }
    }
    return out;
  }

  private allowed(url: string): boolean {
    try {
      const u = new URL(url);
      return u.protocol === 'http:' || (this.opts.allowHttps && u.protocol === 'https:');
    } catch {
      return false;
    }
  }

  private async get(url: string): Promise<Entry> {
    const now = this.opts.now();
    const hit = this.cache.get(url);
    if (hit && hit.expires > now) return hit;
    const pending = this.inFlight.get(url);
    if (pending) return pending;
    const p = this.fetchOne(url).finally(() => this.inFlight.delete(url));
    this.inFlight.set(url, p);
    return p;
  }

  private async fetchOne(url: string): Promise<Entry> {
    let entry: Entry;
    try {
      const body = await this.download(url);
      const blobs = crlsFrom(body);
      if (blobs.length !== 1) throw new Error(blobs.length === 0 ? 'no CRL in the response' : 'more than one CRL in the response');
      const crl = parseCrl(blobs[0]!);
      const now = this.opts.now();
      const until = crl.nextUpdate ? Math.min(crl.nextUpdate.getTime(), now + this.opts.maxAgeMs) : now + this.opts.maxAgeMs;
      entry = { crl, expires: Math.max(until, now + 1000) };
      this.record(url, true, `CRL from ${crl.issuer}, ${crl.revoked.size} entries`);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      entry = { error: detail, expires: this.opts.now() + this.opts.failureTtlMs };
      this.record(url, false, detail);
    }
    if (this.cache.size >= this.opts.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(url, entry);
    return entry;
  }

  // One deadline covers the headers and every body read. A CI run once hung here
  // for 60 s with only AbortSignal.timeout guarding the reads (not reproduced
  // since); undici has known cases of a body read left pending after an abort
  // (nodejs/node#56917), so each wait is also raced against our own timer.
  private async download(url: string): Promise<Buffer> {
    const ms = this.opts.timeoutMs;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`no complete response within ${ms} ms`);
        controller.abort(err);
        reject(err);
      }, ms);
    });
    deadline.catch(() => undefined);
    const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, deadline]);
    try {
      const res = await within(fetch(url, { redirect: 'error', signal: controller.signal, headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl, */*' } }));
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > this.opts.maxBytes) {
        void res.body?.cancel().catch(() => undefined);
        throw new Error(`response of ${declared} bytes exceeds ${this.opts.maxBytes}`);
      }
      if (!res.body) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      let total = 0;
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await within(reader.read());
          if (done) break;
          total += value.length;
          if (total > this.opts.maxBytes) throw new Error(`response exceeds ${this.opts.maxBytes} bytes`);
          chunks.push(Buffer.from(value));
        }
      } catch (e) {
        // Not awaited: a cancel can hang the same way a read can.
        void reader.cancel().catch(() => undefined);
        throw e;
      }
      return Buffer.concat(chunks);
    } finally {
      clearTimeout(timer);
    }
  }

  private record(url: string, ok: boolean, detail: string): void {
    this.log.push({ url, ok, detail });
    if (this.log.length > 50) this.log.shift();
  }
}
