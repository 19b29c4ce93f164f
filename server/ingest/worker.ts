// An ingest worker: parses a message and, when asked, verifies its S/MIME signatures, away from the
// event loop that serves devices. It holds no private key and no database handle: an envelope it
// would have to open makes it give up on the verdict, and the main thread verifies that message.
import { parentPort } from 'node:worker_threads';
import { parseMessage } from '../mail/parse.js';
import { TrustStore } from '../../smime/trust.js';
import { verifySmime } from '../../smime/verify.js';
import type { IngestRequest, IngestResult, ToWorker } from './protocol.js';
import type { WorkerReply, WorkerRequest } from '../workers/pool.js';

if (!parentPort) throw new Error('server/ingest/worker.ts runs as a worker thread');
const port = parentPort;
let trust: TrustStore | undefined;

async function handle(req: IngestRequest): Promise<IngestResult> {
  const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  const parsed = await parseMessage(raw, req.parse);
  if (!req.verify || !trust || parsed.smimeKind === 'none') return { parsed };
  let needsKeys = false;
  const verdict = await verifySmime(raw, {
    trust,
    decrypt: async () => {
      needsKeys = true;
      return null;
    },
  });
  return needsKeys ? { parsed } : { parsed, verdict };
}

port.on('message', (message: ToWorker | WorkerRequest<IngestRequest>) => {
  if ('type' in message) {
    trust = TrustStore.from(message.material);
    return;
  }
  handle(message.payload).then(
    (result) => port.postMessage({ id: message.id, ok: true, result } satisfies WorkerReply<IngestResult>),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err as { code?: unknown }).code;
      port.postMessage({ id: message.id, ok: false, error: { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) } } satisfies WorkerReply<IngestResult>);
    },
  );
});
