// A worker for the worker-pool tests: echoes, fails, dies or hangs on request.
import { parentPort } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from '../../server/workers/pool.js';

type Task = { do: 'echo'; value: string } | { do: 'fail' } | { do: 'die' } | { do: 'hang' };

let told: unknown;
parentPort!.on('message', (m: WorkerRequest<Task> | { type: 'tell'; value: unknown }) => {
  if ('type' in m) { told = m.value; return; }
  const reply = (r: WorkerReply<unknown>): void => parentPort!.postMessage(r);
  switch (m.payload.do) {
    case 'echo': reply({ id: m.id, ok: true, result: { value: m.payload.value, told } }); break;
    case 'fail': reply({ id: m.id, ok: false, error: { name: 'RangeError', message: 'refused on purpose', code: 'E_PURPOSE' } }); break;
    case 'die': process.exit(7); break;
    case 'hang': for (;;) { /* until terminated */ }
  }
});
