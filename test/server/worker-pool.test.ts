// The worker pool with real worker threads: answers reach their callers, a failing request fails
// alone, a worker that dies or overruns its deadline is replaced and only its requests fail, and
// workers that cannot start stop being restarted.
import assert from 'node:assert/strict';
import { WorkerLostError, WorkerPool, WorkerTaskError } from '../../server/workers/pool.js';

type Task = { do: 'echo'; value: string } | { do: 'fail' } | { do: 'die' } | { do: 'hang' };
const SCRIPT = new URL('../support/pool-test-worker.ts', import.meta.url);

describe('worker pool', function () {
  this.timeout(30_000);
  let pool: WorkerPool<Task, { value: string; told: unknown }> | undefined;
  afterEach(async () => { await pool?.close(); pool = undefined; });

  it('answers each caller with its own result, spread over the workers', async () => {
    pool = new WorkerPool({ script: SCRIPT, size: 2, deadlineMs: 10_000 });
    const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
    const results = await Promise.all(values.map((value) => pool!.run({ do: 'echo', value })));
    assert.deepEqual(results.map((r) => r.value), values);
  });

  it('fails a request the worker refuses with its name, message and code, and goes on', async () => {
    pool = new WorkerPool({ script: SCRIPT, size: 1, deadlineMs: 10_000 });
    await assert.rejects(pool.run({ do: 'fail' }), (e: unknown) =>
      e instanceof WorkerTaskError && e.remoteName === 'RangeError' && e.message === 'refused on purpose' && e.code === 'E_PURPOSE');
    assert.equal((await pool.run({ do: 'echo', value: 'after' })).value, 'after');
  });

  it('replaces a worker that dies, failing only what it held', async () => {
    const problems: string[] = [];
    pool = new WorkerPool({ script: SCRIPT, size: 1, deadlineMs: 10_000, onProblem: (p) => problems.push(p) });
    await assert.rejects(pool.run({ do: 'die' }), (e: unknown) => e instanceof WorkerLostError && /exited with code 7/.test(e.message));
    assert.equal((await pool.run({ do: 'echo', value: 'new worker' })).value, 'new worker');
    assert.ok(problems.some((p) => /exited with code 7/.test(p)));
    assert.equal(pool.healthy, true);
  });

  it('stops a worker that overruns its deadline and serves the next request with a new one', async () => {
    pool = new WorkerPool({ script: SCRIPT, size: 1, deadlineMs: 300 });
    await assert.rejects(pool.run({ do: 'hang' }), (e: unknown) => e instanceof WorkerLostError && /longer than 300 ms/.test(e.message));
    assert.equal((await pool.run({ do: 'echo', value: 'alive' })).value, 'alive');
  });

  it('sends shared state to every worker, and again to a replacement', async () => {
    let state = 'first';
    pool = new WorkerPool({ script: SCRIPT, size: 1, deadlineMs: 10_000, onStart: (post) => post({ type: 'tell', value: state }) });
    assert.equal((await pool.run({ do: 'echo', value: 'x' })).told, 'first');
    state = 'second';
    pool.broadcast({ type: 'tell', value: state });
    assert.equal((await pool.run({ do: 'echo', value: 'x' })).told, 'second');
    await assert.rejects(pool.run({ do: 'die' }));
    assert.equal((await pool.run({ do: 'echo', value: 'x' })).told, 'second', 'the replacement was told at start');
  });

  it('gives up on workers that keep dying before answering anything', async () => {
    const problems: string[] = [];
    pool = new WorkerPool({ script: new URL('../support/no-such-worker.ts', import.meta.url), size: 1, deadlineMs: 10_000, onProblem: (p) => problems.push(p) });
    for (let i = 0; i < 3; i++) await assert.rejects(pool.run({ do: 'echo', value: 'x' }), WorkerLostError);
    assert.equal(pool.healthy, false);
    await assert.rejects(pool.run({ do: 'echo', value: 'x' }), /no worker is available/);
    assert.ok(problems.length >= 3 && problems.length <= 4, `restarted a bounded number of times (${problems.length})`);
  });

  it('fails what is in flight when closed, and refuses new work', async () => {
    pool = new WorkerPool({ script: SCRIPT, size: 1, deadlineMs: 10_000 });
    const hanging = assert.rejects(pool.run({ do: 'hang' }), /closing/);
    await pool.close();
    await hanging;
    await assert.rejects(pool.run({ do: 'echo', value: 'x' }), /closed/);
  });
});
