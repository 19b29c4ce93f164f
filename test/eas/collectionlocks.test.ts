// The per-collection lock behind Sync: one holder per key, waiters served in arrival order, bounded
// waits and queues, and nothing left behind once every holder is gone.
import { strict as assert } from 'node:assert';
import { CollectionLocks } from '../../eas/commands/collectionlocks.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('CollectionLocks', () => {
  it('serves one holder per key, then the waiters in the order they came; other keys never wait', async () => {
    const locks = new CollectionLocks({ waitMs: 5_000, maxWaiters: 4 });
    const order: string[] = [];
    const first = await locks.acquire('d1:5');
    assert.ok(first);
    const waiting = ['b', 'c', 'd'].map(async (name) => {
      const release = await locks.acquire('d1:5');
      assert.ok(release);
      order.push(name);
      await sleep(5);
      release();
    });
    const other = await locks.acquire('d1:6');
    assert.ok(other, 'another collection is free');
    other();
    await sleep(20);
    assert.deepEqual(order, [], 'nobody got the key while it was held');
    first();
    first(); // a second release of the same grant changes nothing
    await Promise.all(waiting);
    assert.deepEqual(order, ['b', 'c', 'd']);
    assert.equal(locks.held, 0, 'no key is left held');
  });

  it('gives up after the wait bound, and a waiter that gave up is skipped', async () => {
    const locks = new CollectionLocks({ waitMs: 50, maxWaiters: 4 });
    const holder = (await locks.acquire('k'))!;
    const started = Date.now();
    assert.equal(await locks.acquire('k'), undefined);
    assert.ok(Date.now() - started >= 45, 'waited about as long as the bound');
    const next = locks.acquire('k');
    holder();
    const release = await next;
    assert.ok(release, 'the waiter after the one that gave up gets the key');
    release();
    assert.equal(locks.held, 0);
  });

  it('refuses at once beyond the queue bound, and when the caller aborts', async () => {
    const locks = new CollectionLocks({ waitMs: 5_000, maxWaiters: 2 });
    const holder = (await locks.acquire('k'))!;
    const queued = [locks.acquire('k'), locks.acquire('k')];
    const started = Date.now();
    assert.equal(await locks.acquire('k'), undefined, 'a third waiter is refused');
    assert.ok(Date.now() - started < 2500, 'at once, not after the 5 s wait bound');
    const abort = new AbortController();
    const holder2 = (await locks.acquire('j'))!;
    const aborted = locks.acquire('j', abort.signal);
    abort.abort();
    assert.equal(await aborted, undefined);
    assert.equal(await locks.acquire('x', abort.signal), undefined, 'an aborted caller gets nothing');
    holder2();
    holder();
    for (const q of queued) (await q)!();
    assert.equal(locks.held, 0);
  });

  it('acquireAll takes keys in one order, so overlapping sets never wait for each other in a cycle', async () => {
    const locks = new CollectionLocks({ waitMs: 2_000, maxWaiters: 4 });
    const runs: string[] = [];
    await Promise.all([['a', 'b', 'c'], ['c', 'b', 'a'], ['b', 'a']].map(async (keys, i) => {
      const release = await locks.acquireAll(keys);
      assert.ok(release, `set ${i} got its keys`);
      runs.push(String(i));
      await sleep(10);
      release();
    }));
    assert.equal(runs.length, 3);
    assert.equal(locks.held, 0);

    // All or nothing: a key that cannot be had gives back the ones already taken.
    const blocker = (await locks.acquire('b'))!;
    const quick = new CollectionLocks({ waitMs: 30, maxWaiters: 4 });
    const qb = (await quick.acquire('b'))!;
    assert.equal(await quick.acquireAll(['a', 'b']), undefined);
    assert.equal(quick.held, 1, 'only the key held by someone else is still held');
    qb();
    blocker();
    assert.equal(quick.held, 0);
    assert.equal(locks.held, 0);
  });
});
