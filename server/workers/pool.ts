// A small pool of worker threads for CPU-bound work that must not hold up the event loop (parsing
// and verifying incoming mail): requests go to the least busy worker, each answer settles its own
// promise. A worker that dies or overruns its deadline is replaced, and only the requests it held
// fail; none is retried behind the caller's back (the SMTP client retries after a 4xx).
import { Worker } from 'node:worker_threads';

/** What a worker receives: a request id and the caller's payload. */
export interface WorkerRequest<T> {
  id: number;
  payload: T;
}

/** What a worker answers. `error` carries a name, a message and, when the error has one, a code. */
export type WorkerReply<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: { name: string; message: string; code?: string } };

/** A request that failed inside the worker: the worker's error name, message and code. */
export class WorkerTaskError extends Error {
  constructor(readonly remoteName: string, message: string, readonly code?: string) {
    super(message);
    this.name = 'WorkerTaskError';
  }
}

/** The worker was lost (crash, deadline, shutdown) while holding the request. */
export class WorkerLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerLostError';
  }
}

export interface WorkerPoolOptions {
  /** The worker's module (a file URL). */
  script: URL;
  size: number;
  /** A request not answered within this is failed, and its worker replaced. */
  deadlineMs: number;
  /** Sent to every new worker before any request (for instance, shared state it needs). */
  onStart?: (post: (message: unknown) => void) => void;
  /** Worker stderr and crashes are reported here. */
  onProblem?: (what: string) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>;
}

export class WorkerPool<T, R> {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers lost in a row without one answer in between: a worker that cannot even start is not restarted forever. */
  private lostInARow = 0;
  private brokenBy: Error | undefined;
  private static readonly MAX_LOST_IN_A_ROW = 3;

  constructor(private readonly opts: WorkerPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError('a worker pool needs at least one worker');
  }

  /** Workers start with the first request: a server that never receives mail never pays for them. */
  private started = false;

  private startAll(): void {
    this.started = true;
    for (let i = 0; i < this.opts.size; i++) this.slots.push(this.spawn());
  }

  /** Sends a message to every worker (for instance, new shared state). Requests posted after it see it. */
  broadcast(message: unknown): void {
    for (const s of this.slots) s.worker.postMessage(message);
  }

  /** False once workers kept dying without answering anything (see MAX_LOST_IN_A_ROW): run() then fails at once. */
  get healthy(): boolean {
    return !this.brokenBy && !this.closed;
  }

  run(payload: T, transfer: readonly ArrayBuffer[] = [], beforePost?: (post: (message: unknown) => void) => void): Promise<R> {
    if (this.closed) return Promise.reject(new WorkerLostError('the worker pool is closed'));
    if (!this.started) this.startAll();
    if (this.brokenBy || this.slots.length === 0) return Promise.reject(new WorkerLostError(`no worker is available: ${this.brokenBy?.message ?? 'none started'}`));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inFlight.size < slot.inFlight.size) slot = s;
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replace(slot, new WorkerLostError(`a worker took longer than ${this.opts.deadlineMs} ms and was stopped`));
      }, this.opts.deadlineMs);
      slot.inFlight.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      beforePost?.((m) => slot.worker.postMessage(m));
      slot.worker.postMessage({ id, payload } satisfies WorkerRequest<T>, transfer as ArrayBuffer[]);
    });
  }

  /** Fails what is still in flight and stops every worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => {
      this.failAll(s, new WorkerLostError('the worker pool is closing'));
      // terminate() of a worker that is still starting can take a while: do not let it hold up shutdown.
      await Promise.race([s.worker.terminate(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    }));
  }

  private spawn(): Slot {
    const worker = startWorker(this.opts.script);
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on('message', (reply: WorkerReply<R>) => {
      const pending = slot.inFlight.get(reply.id);
      if (!pending) return; // answered after its deadline: the caller has already been told
      slot.inFlight.delete(reply.id);
      clearTimeout(pending.timer);
      this.lostInARow = 0;
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new WorkerTaskError(reply.error.name, reply.error.message, reply.error.code));
    });
    worker.on('error', (e) => {
      this.opts.onProblem?.(`worker failed: ${e.message}`);
      this.replace(slot, new WorkerLostError(`the worker failed: ${e.message}`));
    });
    worker.on('exit', (code) => {
      if (this.closed) return;
      this.opts.onProblem?.(`worker exited with code ${code}`);
      this.replace(slot, new WorkerLostError(`the worker exited with code ${code}`));
    });
    worker.unref();
    this.opts.onStart?.((m) => worker.postMessage(m));
    return slot;
  }

  private replace(slot: Slot, reason: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return; // already replaced
    this.failAll(slot, reason);
    slot.worker.removeAllListeners('exit');
    void slot.worker.terminate();
    if (++this.lostInARow >= WorkerPool.MAX_LOST_IN_A_ROW) this.brokenBy ??= reason;
    if (!this.closed && !this.brokenBy) this.slots[index] = this.spawn();
    else this.slots.splice(index, 1);
  }

  private failAll(slot: Slot, reason: Error): void {
    for (const { reject, timer } of slot.inFlight.values()) {
      clearTimeout(timer);
      reject(reason);
    }
    slot.inFlight.clear();
  }
}

/**
 * Under tsx (the server runs from its TypeScript sources) a worker thread does not inherit the
 * TypeScript loader, so a .ts worker is started through tsx-bootstrap.mjs, which registers it
 * first. Compiled JavaScript starts directly.
 */
function startWorker(script: URL): Worker {
  if (!script.pathname.endsWith('.ts')) return new Worker(script);
  return new Worker(new URL('./tsx-bootstrap.mjs', import.meta.url), { workerData: { easmimeWorkerScript: script.href } });
}
