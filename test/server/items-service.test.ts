// The ItemsPort over real SQLite: folder trees, emptying, moves (also against a locked database), id
// allocation after deletions, conversation rules, and attachment bytes found again by their index.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { Store } from '../../server/store/index.js';
import { FolderEvents } from '../../server/events.js';
import { MailFlow } from '../../server/mailflow.js';
import { Outbox } from '../../server/outbound/outbox.js';
import { ItemsService } from '../../server/services/items.js';
import { FolderType, isSpecialFolder, MAX_CONVERSATION_RULES } from '../../server/store/mailbox.js';
import { hashPassword } from '../../server/store/secrets.js';
import type { Principal } from '../../eas/backend.js';
import { makeSigner } from '../support/mail.js';
import { tempDir } from '../support/server-process.js';

function setup(store: Store): { items: ItemsService; mailflow: MailFlow; events: FolderEvents; user: Principal; other: Principal } {
  const events = new FolderEvents();
  const log = (): void => undefined;
  const mailflow = new MailFlow(store, events, log, 25 * 1024 * 1024);
  const items = new ItemsService({ store, events, mailflow, log, serverKey: Buffer.alloc(32), outbox: new Outbox(store, mailflow, log) });
  const mk = (address: string): Principal => {
    const userId = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)')
      .run(address, address.split('@')[0], address, hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(userId);
    return { userId, address, displayName: address };
  };
  return { items, mailflow, events, user: mk('u@contoso.test'), other: mk('o@contoso.test') };
}

async function mail(subject: string, attachments: Array<{ filename: string; content: Buffer }> = []): Promise<Buffer> {
  return new MailComposer({ from: 'a@x.test', to: 'u@contoso.test', subject, text: subject, attachments }).compile().build();
}

describe('ItemsService over SQLite', () => {
  let store: Store;
  let env: ReturnType<typeof setup>;
  beforeEach(() => { store = Store.inMemory(); env = setup(store); });
  afterEach(() => store.close());

  const folderOf = (type: number, p = env.user): number => store.mailbox.folderByType(p.userId, type)!.id;

  it('default folders are special; user folders are not, even when named like one below another folder', () => {
    for (const f of store.mailbox.folders(env.user.userId)) assert.equal(isSpecialFolder(f), true, f.name);
    const made = env.items.createFolder(env.user, folderOf(FolderType.Inbox), 'Junk Email', 12);
    assert.equal(made.kind, 'ok');
    assert.equal(made.kind === 'ok' && made.folder.special, false);
  });

  it('create, rename, move and delete keep names unique per parent and refuse cycles', () => {
    const inbox = folderOf(FolderType.Inbox);
    const a = env.items.createFolder(env.user, 0, 'Ärger', 12);
    assert.equal(a.kind, 'ok');
    const aId = Number(a.kind === 'ok' && a.folder.serverId);
    assert.equal(env.items.createFolder(env.user, 0, 'ärger', 12).kind, 'duplicate-name');
    assert.equal(env.items.createFolder(env.user, 0, 'Arger', 12).kind, 'ok', 'accents make names different');
    assert.equal(env.items.createFolder(env.user, 424242, 'x', 12).kind, 'no-parent');
    assert.equal(env.items.createFolder(env.other, aId, 'x', 12).kind, 'no-parent', 'another user\'s folder is no parent');
    const b = env.items.createFolder(env.user, aId, 'B', 12);
    const bId = Number(b.kind === 'ok' && b.folder.serverId);
    assert.equal(env.items.updateFolder(env.user, aId, bId, 'Ärger').kind, 'cycle');
    assert.equal(env.items.updateFolder(env.user, inbox, 0, 'Post').kind, 'special');
    assert.equal(env.items.updateFolder(env.other, aId, 0, 'mine').kind, 'not-found');
    assert.equal(env.items.updateFolder(env.user, bId, 0, 'arger').kind, 'duplicate-name');
    assert.equal(env.items.updateFolder(env.user, bId, 0, 'B').kind, 'ok');
    assert.equal(env.items.updateFolder(env.user, aId, 0, 'ÄRGER').kind, 'ok', 'a folder may change the case of its own name');
    assert.equal(env.items.deleteFolder(env.user, inbox).kind, 'special');
    assert.equal(env.items.deleteFolder(env.other, aId).kind, 'not-found');
    assert.deepEqual(env.items.deleteFolder(env.user, aId), { kind: 'deleted', folderIds: [aId] });
  });

  it('deleting a folder takes its whole subtree and their messages; ids are never handed out again', async () => {
    const top = env.items.createFolder(env.user, 0, 'Top', 12);
    const topId = Number(top.kind === 'ok' && top.folder.serverId);
    let parent = topId;
    const chain = [topId];
    for (let i = 0; i < 5; i++) {
      const f = env.items.createFolder(env.user, parent, `level ${i}`, 12);
      parent = Number(f.kind === 'ok' && f.folder.serverId);
      chain.push(parent);
    }
    const ids = [];
    for (const folder of chain) ids.push(await env.mailflow.importInto(env.user.userId, folder, await mail(`in ${folder}`)));
    const woken = env.events.wait([parent], 1000, new AbortController().signal);
    const removed = env.items.deleteFolder(env.user, topId);
    assert.deepEqual(removed, { kind: 'deleted', folderIds: chain });
    assert.equal(await woken, parent, 'waiters on a deleted subfolder wake');
    for (const id of ids) assert.equal(store.mailbox.folderOfMessage(env.user.userId, id), undefined);
    assert.equal((store.db.prepare(`SELECT count(*) AS n FROM message_raw WHERE id IN (${ids.join(',')})`).get() as { n: number }).n, 0);
    const next = env.items.createFolder(env.user, 0, 'Top', 12);
    assert.ok(next.kind === 'ok' && Number(next.folder.serverId) > Math.max(...chain), 'the newest deleted folder id is not reused');
    const msg = await env.mailflow.importInto(env.user.userId, folderOf(FolderType.Inbox), await mail('after'));
    assert.ok(msg > Math.max(...ids), 'nor the newest deleted message id');
    store.mailbox.deleteMessage(env.user.userId, msg);
    assert.ok(await env.mailflow.importInto(env.user.userId, folderOf(FolderType.Inbox), await mail('again')) > msg);
  });

  it('emptying a folder deletes its mail, and its subfolders only when asked; non-mail folders are refused', async () => {
    const trash = folderOf(FolderType.DeletedItems);
    const sub = env.items.createFolder(env.user, trash, 'Old', 12);
    const subId = Number(sub.kind === 'ok' && sub.folder.serverId);
    await env.mailflow.importInto(env.user.userId, trash, await mail('t1'));
    await env.mailflow.importInto(env.user.userId, trash, await mail('t2'));
    await env.mailflow.importInto(env.user.userId, subId, await mail('s1'));
    const keep = await env.mailflow.importInto(env.user.userId, folderOf(FolderType.Inbox), await mail('stays'));
    assert.deepEqual(env.items.emptyFolder(env.user, trash, false), { kind: 'emptied', messages: 2, deletedFolderIds: [] });
    assert.equal(store.mailbox.countInFolder(subId), 1);
    assert.deepEqual(env.items.emptyFolder(env.user, trash, true), { kind: 'emptied', messages: 1, deletedFolderIds: [subId] });
    assert.equal(store.mailbox.folder(env.user.userId, subId), undefined);
    assert.ok(store.mailbox.folder(env.user.userId, trash), 'the folder itself stays');
    assert.equal(store.mailbox.folderOfMessage(env.user.userId, keep), folderOf(FolderType.Inbox));
    assert.equal(env.items.emptyFolder(env.user, folderOf(FolderType.Calendar), true).kind, 'not-mail');
    assert.equal(env.items.emptyFolder(env.other, trash, true).kind, 'not-found');
  });

  it('moves check source, destination and ownership', async () => {
    const inbox = folderOf(FolderType.Inbox);
    const junk = store.mailbox.folderByPath(env.user.userId, 'Junk Email')!.id;
    const id = await env.mailflow.importInto(env.user.userId, inbox, await mail('m'));
    assert.deepEqual(env.items.moveItem(env.user, id, inbox, inbox), { kind: 'same-folder' });
    assert.deepEqual(env.items.moveItem(env.user, id, junk, inbox), { kind: 'no-source' });
    assert.deepEqual(env.items.moveItem(env.user, id, inbox, folderOf(FolderType.Contacts)), { kind: 'no-destination' });
    assert.deepEqual(env.items.moveItem(env.other, id, inbox, junk), { kind: 'no-source' });
    assert.deepEqual(env.items.moveItem(env.user, id, inbox, folderOf(FolderType.Inbox, env.other)), { kind: 'no-destination' });
    assert.deepEqual(env.items.moveItem(env.user, id, inbox, junk), { kind: 'moved', folderId: junk, itemId: id });
  });

  it('a move against a database another process holds locked answers "locked"', async () => {
    const dir = tempDir('easmime-items-');
    const fileStore = Store.open(dir);
    try {
      const e = setup(fileStore);
      const inbox = fileStore.mailbox.folderByType(e.user.userId, FolderType.Inbox)!.id;
      const junk = fileStore.mailbox.folderByPath(e.user.userId, 'Junk Email')!.id;
      const id = await e.mailflow.importInto(e.user.userId, inbox, await mail('locked'));
      fileStore.db.pragma('busy_timeout = 0');
      const holder = new Database(path.join(dir, 'easmime.sqlite'));
      try {
        holder.prepare('BEGIN IMMEDIATE').run();
        assert.deepEqual(e.items.moveItem(e.user, id, inbox, junk), { kind: 'locked' });
        holder.prepare('ROLLBACK').run();
      } finally {
        holder.close();
      }
      assert.equal(e.items.moveItem(e.user, id, inbox, junk).kind, 'moved');
    } finally {
      fileStore.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('conversation moves skip Sent Items and Deleted Items and remember the destination, keeping the newest rules', async () => {
    const inbox = folderOf(FolderType.Inbox);
    const sent = folderOf(FolderType.SentItems);
    const junk = store.mailbox.folderByPath(env.user.userId, 'Junk Email')!.id;
    const first = await env.mailflow.importInto(env.user.userId, inbox, await mail('thread'));
    const conv = store.mailbox.message(env.user.userId, first)!.conversationId;
    const mine = store.mailbox.insertMessage(env.user.userId, sent, { ...toNew(store, env.user.userId, first), receivedAt: new Date() });
    assert.deepEqual(env.items.moveConversation(env.user, conv, folderOf(FolderType.Calendar), true), { kind: 'bad-destination' });
    assert.deepEqual(env.items.moveConversation(env.user, crypto.randomBytes(16), junk, true), { kind: 'not-found' });
    assert.deepEqual(env.items.moveConversation(env.other, conv, folderOf(FolderType.Inbox, env.other), true), { kind: 'not-found' });
    assert.deepEqual(env.items.moveConversation(env.user, conv, junk, true), { kind: 'moved', count: 1 });
    assert.equal(store.mailbox.folderOfMessage(env.user.userId, first), junk);
    assert.equal(store.mailbox.folderOfMessage(env.user.userId, mine), sent, 'what the user sent stays in Sent Items');
    assert.equal(store.mailbox.conversationRule(env.user.userId, conv), junk);
    assert.equal(store.mailbox.conversationRule(env.other.userId, conv), undefined);
    for (let i = 0; i < MAX_CONVERSATION_RULES; i++) store.mailbox.setConversationRule(env.user.userId, crypto.randomBytes(16), junk);
    assert.equal(store.mailbox.conversationRule(env.user.userId, conv), undefined, 'the oldest rule made room');
    const count = store.db.prepare("SELECT count(*) AS n FROM user_settings WHERE user_id = ? AND name LIKE 'conversation-move:%'").get(env.user.userId) as { n: number };
    assert.equal(count.n, MAX_CONVERSATION_RULES);
  });

  it('attachments come back byte for byte by their index, also inside a clear-signed message', async () => {
    const blob = crypto.randomBytes(5000);
    const pic = crypto.randomBytes(300);
    const inbox = folderOf(FolderType.Inbox);
    const id = await env.mailflow.importInto(env.user.userId, inbox, await mail('files', [{ filename: 'a.bin', content: blob }, { filename: 'b.png', content: pic }]));
    const got = await env.items.attachments(env.user, id);
    assert.equal(got.kind, 'ok');
    if (got.kind !== 'ok') return;
    assert.deepEqual([...got.attachments.keys()], [0, 1]);
    assert.ok(got.attachments.get(0)!.bytes.equals(blob));
    assert.ok(got.attachments.get(1)!.bytes.equals(pic));
    assert.equal(got.attachments.get(1)!.info.contentType, 'image/png');
    assert.deepEqual(await env.items.attachments(env.other, id), { kind: 'not-found' });
    assert.deepEqual(await env.items.attachments(env.user, 999999), { kind: 'not-found' });

    // multipart/signed: the signature is listed by mailparser but not by the message; the index still finds the file.
    const signer = makeSigner('a@x.test');
    const dir = tempDir('easmime-signed-');
    const inner = path.join(dir, 'inner.eml');
    const entity = await new MailComposer({ text: 'signed with a file', attachments: [{ filename: 'c.bin', content: blob }] }).compile().build();
    fs.writeFileSync(inner, entity);
    const signed = Buffer.from(execFileSync('openssl', ['smime', '-sign', '-in', inner, '-signer', signer.cert, '-inkey', signer.key,
      '-from', 'a@x.test', '-to', 'u@contoso.test', '-subject', 'signed', '-md', 'sha256', '-crlfeol'], { stdio: ['ignore', 'pipe', 'pipe'] })
      .toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    const sid = await env.mailflow.importInto(env.user.userId, inbox, signed);
    const listed = store.mailbox.messageAttachments(env.user.userId, sid)!;
    assert.equal(listed.smimeKind, 'clear-signed');
    assert.deepEqual(listed.attachments.map((a) => a.fileName), ['c.bin']);
    const signedGot = await env.items.attachments(env.user, sid);
    assert.ok(signedGot.kind === 'ok');
    const only = [...signedGot.attachments.values()];
    assert.equal(only.length, 1, 'the detached signature is not offered');
    assert.ok(only[0]!.bytes.equals(blob));
  });
});

/** A stored message as a NewMessage again, to file a copy elsewhere. */
function toNew(store: Store, userId: number, id: number) {
  const m = store.mailbox.message(userId, id)!;
  return { ...m, raw: store.mailbox.raw(userId, id)!, html: m.html };
}
