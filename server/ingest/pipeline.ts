// Parsing and S/MIME verification of incoming mail, on worker threads when asked for
// (`--ingest-workers N`). The event loop that answers devices (Ping wake-ups, Sync) then never
// waits behind a large message being decoded, and ingest can use more than one core. The default is
// none: on 2 shared cores the hand-off to a worker costs about what the worker saves (measured with
// `npm run bench smtp`), and in-process work is simpler to follow. Without workers the same work runs
// in-process and the gateway verifies as it always did.
import { MailParseError, parseMessage, type ParseOptions } from '../mail/parse.js';
import type { MailParseErrorCode } from '../mail/errors.js';
import type { Store } from '../store/index.js';
import { trustMaterialOf, trustStampOf } from '../gateway/trust-cache.js';
import { WorkerPool, WorkerTaskError } from '../workers/pool.js';
import type { IngestRequest, IngestResult, ToWorker, TrustMaterial } from './protocol.js';

export type { IngestResult } from './protocol.js';

export interface IngestPipeline {
  /** Whether prepare() works on the calling thread (and so competes with it for the CPU). */
  readonly onMainThread: boolean;
  /** Parses, and verifies S/MIME when it can do so without private keys (see IngestResult.verdict). */
  prepare(raw: Buffer, parse: Pick<ParseOptions, 'maxBytes'>): Promise<IngestResult>;
  close(): Promise<void>;
}

/** Parses on the event loop; the gateway verifies. */
export const inProcessIngest: IngestPipeline = {
  onMainThread: true,
  async prepare(raw, parse) {
    return { parsed: await parseMessage(raw, parse) };
  },
  async close() {},
};

export interface WorkerIngestOptions {
  workers: number;
  /** Whether the workers may verify (not when the gateway fetches CRLs over the network, which they cannot). */
  verify: boolean;
  /** A request the workers have not answered within this fails (temporary SMTP error), and the worker is replaced. */
  deadlineMs?: number;
  onProblem?: (what: string) => void;
}

export class WorkerIngest implements IngestPipeline {
  /** True only when the workers were given up on and the work falls back to this thread. */
  get onMainThread(): boolean {
    return !this.pool.healthy;
  }

  private readonly pool: WorkerPool<IngestRequest, IngestResult>;
  /** The trust material last sent; a worker started later (a replacement) gets it first thing. */
  private material: TrustMaterial | undefined;

  constructor(private readonly store: Store, private readonly opts: WorkerIngestOptions) {
    this.pool = new WorkerPool({
      // worker.ts beside the sources, worker.js beside the compiled pipeline.js.
      script: new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url),
      size: opts.workers,
      deadlineMs: opts.deadlineMs ?? 60_000,
      onStart: (post) => { if (this.material) post({ type: 'trust', material: this.material } satisfies ToWorker); },
      onProblem: opts.onProblem,
    });
  }

  async prepare(raw: Buffer, parse: Pick<ParseOptions, 'maxBytes'>): Promise<IngestResult> {
    // Workers that cannot run at all (reported through onProblem) must not stop mail: work in-process.
    if (!this.pool.healthy) return inProcessIngest.prepare(raw, parse);
    if (this.opts.verify) this.refreshTrust();
    // A copy the worker owns: the caller keeps its buffer (it is stored byte for byte afterwards).
    const copy = new Uint8Array(raw);
    try {
      return await this.pool.run({ raw: copy, parse, verify: this.opts.verify }, [copy.buffer]);
    } catch (e) {
      if (e instanceof WorkerTaskError && e.remoteName === 'MailParseError') {
        throw new MailParseError(e.code as MailParseErrorCode, e.message);
      }
      throw e;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Sends the organisation's trust material to the workers when it changed since last sent. */
  private refreshTrust(): void {
    const stamp = trustStampOf(this.store);
    if (this.material?.stamp === stamp) return;
    this.material = { stamp, ...trustMaterialOf(this.store) };
    this.pool.broadcast({ type: 'trust', material: this.material } satisfies ToWorker);
  }
}
