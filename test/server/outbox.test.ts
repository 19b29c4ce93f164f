// The outbox over real SQLite and the real mail flow (the capture store as the outbound route): a
// message splits into its lanes, goes out from the store, and a user can queue only so much.
import { strict as assert } from 'node:assert';
import { Store } from '../../server/store/index.js';
import { FolderEvents } from '../../server/events.js';
import { MailFlow } from '../../server/mailflow.js';
import { Outbox, OutboxFull } from '../../server/outbound/outbox.js';
import { CapturedMail } from '../../server/store/captured.js';
import { FolderType } from '../../server/store/mailbox.js';
import { hashPassword } from '../../server/store/secrets.js';
import { MeetingService } from '../../server/services/meetings.js';
import { PimService } from '../../server/services/pim.js';
import { encodePimData } from '../../eas/pim/items.js';
import { ns } from '../../eas/wbxml/ns.js';

function setup(maxPerUser?: number) {
  const store = Store.inMemory();
  store.setMeta('domain', 'contoso.test');
  const events = new FolderEvents();
  const logs: Array<Record<string, unknown>> = [];
  const log = (r: Record<string, unknown>): void => { logs.push(r); };
  const mailflow = new MailFlow(store, events, log, 1024 * 1024);
  const outbox = new Outbox(store, mailflow, log, Date.now, maxPerUser);
  const user = (local: string): number => {
    const id = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)')
      .run(`${local}@contoso.test`, local, local, hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(id);
    return id;
  };
  const meetings = new MeetingService({ store, events, mailflow, log, serverKey: Buffer.alloc(32), outbox });
  const pim = new PimService({ store, events, mailflow, log, serverKey: Buffer.alloc(32), outbox }, meetings);
  return { store, outbox, logs, pim, alice: user('alice'), bob: user('bob'), carol: user('carol') };
}

const message = (to: string[], thread = 'uid-1') => ({ to: to.map((email) => ({ email })), subject: 'Planning', text: 'Agenda.', thread,
  calendar: { method: 'REQUEST', content: 'BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n' } });

async function drained(store: Store, outbox: Outbox): Promise<void> {
  outbox.kick();
  for (let i = 0; i < 200 && store.outbox.count() > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('the outbox', () => {
  it('splits a message into lanes (local, unknown local, external), all one message, and sends each from the store', async () => {
    const { store, outbox, alice, bob } = setup();
    const ids = store.db.transaction(() => outbox.enqueue(alice, message(['bob@contoso.test', 'ghost@contoso.test', 'erin@fabrikam.test'])))();
    const entries = store.outbox.list(10);
    assert.deepEqual(entries.map((e) => [e.id, e.lane, e.message.rcptTo, e.message.saveInSent, e.thread]), [
      [ids[0], 'local', ['bob@contoso.test'], true, 'uid-1'],
      [ids[1], 'local', ['ghost@contoso.test'], false, 'uid-1'],
      [ids[2], 'external', ['erin@fabrikam.test'], false, 'uid-1'],
    ]);
    assert.equal(new Set(entries.map((e) => e.message.messageId)).size, 1, 'one Message-ID for every copy');
    await drained(store, outbox);
    assert.equal(store.outbox.count(), 0);
    const inbox = store.mailbox.folderByType(bob, FolderType.Inbox)!;
    assert.deepEqual(store.mailbox.summaries(bob, inbox.id, 10, 0).map((m) => m.subject), ['Planning']);
    const sent = store.mailbox.folderByType(alice, FolderType.SentItems)!;
    assert.equal(store.mailbox.summaries(alice, sent.id, 10, 0).length, 1, 'one Sent Items copy');
    assert.deepEqual(new CapturedMail(store.db).list({ limit: 10, offset: 0 }).map((c) => c.rcptTo), [['erin@fabrikam.test']]);
    const aliceInbox = store.mailbox.folderByType(alice, FolderType.Inbox)!;
    assert.deepEqual(store.mailbox.summaries(alice, aliceInbox.id, 10, 0).map((m) => m.subject), ['Undeliverable: Planning'], 'the unknown address is reported');
  });

  it('splits past 500 recipients, the Sent Items copy on the first part only', () => {
    const { store, outbox, alice } = setup();
    outbox.enqueue(alice, message(Array.from({ length: 1201 }, (_, i) => `guest${i}@fabrikam.test`)));
    assert.deepEqual(store.outbox.list(10).map((e) => [e.message.rcptTo.length, e.message.saveInSent]), [[500, true], [500, false], [201, false]]);
  });

  it('a 16.x organizer past the bound keeps her calendar change; only mail that was queued is logged as queued', () => {
    const { store, pim, logs, alice } = setup(2);
    const CAL = ns('Calendar');
    const calendar = store.mailbox.folderByType(alice, FolderType.Calendar)!;
    const principal = { userId: alice, address: 'alice@contoso.test', displayName: 'alice' };
    const attendee = (email: string) => CAL('Attendee', CAL('Email', email), CAL('Name', email), CAL('AttendeeType', 1));
    const meeting = (start: string, attendees: string[]) => ({ messageClass: 'IPM.Appointment', ...encodePimData('Calendar', ns('AirSync')('ApplicationData',
      CAL('Subject', 'Planning'), CAL('StartTime', `${start}Z`), CAL('EndTime', '20310106T230000Z'), CAL('MeetingStatus', 1), CAL('ClientUid', 'm-1'),
      CAL('Attendees', attendees.map(attendee)))) });
    const added = pim.add(principal, calendar.id, meeting('20310106T090000', ['bob@contoso.test', 'carol@contoso.test']), 'one', { meetingMail: true })!;
    assert.equal(store.outbox.count(), 1, 'one local copy for bob and carol');
    // A new time, and carol taken off: her cancellation fits (2 of 2), bob's update does not.
    const changed = pim.replace(principal, added.id, meeting('20310106T100000', ['bob@contoso.test']), { meetingMail: true });
    assert.ok(changed !== undefined, 'the change is stored all the same');
    assert.match(store.mailbox.raw(alice, added.id)!.toString('latin1'), /20310106T100000Z/);
    assert.equal(store.outbox.count(), 1, 'neither the cancellation nor the update was queued');
    assert.deepEqual(logs.filter((l) => String(l.msg).startsWith('meeting mail')).map((l) => l.msg), ['meeting mail queued', 'meeting mail not queued']);
  });

  it('holds at most so many entries a user; the next message is refused, another user\'s still queued', () => {
    const { store, outbox, alice, bob } = setup(2);
    outbox.enqueue(alice, message(['bob@contoso.test']));
    outbox.enqueue(alice, message(['bob@contoso.test'], 'uid-2'));
    assert.throws(() => outbox.enqueue(alice, message(['bob@contoso.test'], 'uid-3')), OutboxFull);
    outbox.enqueue(bob, message(['alice@contoso.test']));
    assert.equal(store.outbox.count(), 3);
  });
});
