// Starts a TypeScript worker thread when the server runs from its sources under tsx: a worker does
// not inherit the parent's TypeScript loader, so it registers tsx before importing the real script.
// Plain JavaScript on purpose: it runs before any loader exists. See pool.ts.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.easmimeWorkerScript);
