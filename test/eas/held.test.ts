// The registry of requests devices hold open (Ping, held Sync): who ends whom.
import { strict as assert } from 'node:assert';
import { HeldRequests } from '../../eas/commands/held.js';

describe('eas/commands/held: held requests of a device', () => {
  const never = new AbortController().signal;

  it('a newer request ends only the same device\'s holds of its kind on the folders it names', () => {
    const held = new HeldRequests();
    const syncA = held.hold(1, 'sync', new Set([10, 11]), never);
    const syncB = held.hold(1, 'sync', new Set([12]), never);
    const ping = held.hold(1, 'ping', new Set([10]), never);
    const otherDevice = held.hold(2, 'sync', new Set([10]), never);
    held.end(1, 'sync', new Set([11]));
    assert.deepEqual([syncA, syncB, ping, otherDevice].map((h) => h.signal.aborted), [true, false, false, false]);
    held.end(1, 'ping');
    assert.equal(ping.signal.aborted, true, 'without folders: every hold of the kind');
    assert.equal(syncB.signal.aborted, false);
  });

  it('one more than the limit ends the oldest still open; a released hold is forgotten', () => {
    const held = new HeldRequests(2);
    const first = held.hold(1, 'sync', new Set([1]), never);
    const second = held.hold(1, 'sync', new Set([2]), never);
    const third = held.hold(1, 'sync', new Set([3]), never);
    assert.deepEqual([first, second, third].map((h) => h.signal.aborted), [true, false, false]);
    // The ended one has not answered yet: it no longer counts, so the next one ends the second.
    const fourth = held.hold(1, 'sync', new Set([4]), never);
    assert.deepEqual([second, third, fourth].map((h) => h.signal.aborted), [true, false, false]);
    for (const h of [first, second, third, fourth]) h.release();
    const fifth = held.hold(1, 'sync', new Set([5]), never);
    held.end(1, 'sync', new Set([3]));
    assert.equal(fifth.signal.aborted, false, 'released holds are gone: nothing left on folder 3');
  });

  it('the client going away ends the hold, also when it went before the hold was made', () => {
    const held = new HeldRequests();
    const client = new AbortController();
    const h = held.hold(1, 'ping', new Set(), client.signal);
    assert.equal(h.signal.aborted, false);
    client.abort();
    assert.equal(h.signal.aborted, true);
    assert.equal(held.hold(1, 'ping', new Set(), client.signal).signal.aborted, true);
  });
});
