// Search (Mailbox, GAL, DocumentLibrary) and Find over real HTTP+WBXML against the real server, in
// 2.5 (GAL), 12.1, 14.1 and 16.1: queries, ranges, body preferences, isolation between users and every
// status each store can answer, down to a timed-out scan and a store that fails under the search.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const DL = ns('DocumentLibrary');
const E = ns('Email');
const F = ns('FolderHierarchy');
const FD = ns('Find');
const IO = ns('ItemOperations');
const SR = ns('Search');

const DOMAIN = 'search.test';
const ORG = 'Search test';
const PROBES = 120;
const BULK = 130;

function eml(headers: Record<string, string>, body: string): string {
  return [...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'MIME-Version: 1.0', ...(headers['Content-Type'] ? [] : ['Content-Type: text/plain; charset=utf-8']), '', body, ''].join('\r\n');
}

const rfcDate = (iso: string): string => new Date(iso).toUTCString().replace('GMT', '+0000');

/** Two users with mailboxes laid out for the queries below, a group, and enough contacts to page the GAL. */
function writeFixture(): string {
  const dir = tempDir('easmime-search-fixture-');
  const org = {
    name: ORG, domain: DOMAIN,
    users: [
      { address: `ann@${DOMAIN}`, displayName: 'Ann Archer', password: 'demo' },
      { address: `ben@${DOMAIN}`, displayName: 'Ben Baker', password: 'demo' },
    ],
    groups: [{ address: `team@${DOMAIN}`, displayName: 'Team', members: ['ann', 'ben'] }],
    externalContacts: [
      { address: 'zed@other.test', displayName: 'Zed Zimmer' },
      ...Array.from({ length: PROBES }, (_, i) => ({ address: `probe${String(i + 1).padStart(3, '0')}@probe.test`, displayName: `Probe ${String(i + 1).padStart(3, '0')}` })),
    ],
  };
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org, null, 1));
  const put = (user: string, folder: string, name: string, text: string): void => {
    const d = path.join(dir, 'mailboxes', user, ...folder.split('/'));
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, name), text);
  };
  const ann = `"Ann Archer" <ann@${DOMAIN}>`;
  const ben = `"Ben Baker" <ben@${DOMAIN}>`;
  const msg = (from: string, to: string, subject: string, iso: string, body: string, extra: Record<string, string> = {}): string =>
    eml({ From: from, To: to, Subject: subject, Date: rfcDate(iso), 'Message-ID': `<${subject.replace(/\W+/g, '-')}-${iso.slice(0, 10)}@${DOMAIN}>`, ...extra }, body);

  put('ann', 'Inbox', 'q1.eml', msg(ben, ann, 'Quarterly report draft', '2026-01-10T09:00:00Z', 'Budget numbers for the quarterly review.'));
  put('ann', 'Inbox', 'lunch.eml', msg(ben, ann, 'Lunch on Friday', '2026-01-12T11:30:00Z', 'Pizza place downtown, noon.'));
  put('ann', 'Inbox', 'figures.eml', msg(ben, ann, 'Figures attached', '2026-01-13T10:00:00Z', [
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'See the attached file.', '',
    '--b1', 'Content-Type: application/pdf; name="report.pdf"', 'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64', '', Buffer.from('%PDF-1.4 not really a pdf').toString('base64'), '', '--b1--',
  ].join('\r\n'), { Cc: '"Zed Zimmer" <zed@other.test>', 'Content-Type': 'multipart/mixed; boundary="b1"' }));
  put('ann', 'Inbox', 'news.eml', msg(`"News" <news@other.test>`, ann, 'Newsletter January', '2026-01-14T07:00:00Z',
    '<html><body><p>Monthly <b>highlights</b> inside.</p></body></html>', { 'Content-Type': 'text/html; charset=utf-8' }));
  put('ann', 'Inbox/Projects', 'final.eml', msg(ben, ann, 'Quarterly report final', '2026-02-01T08:00:00Z', 'The final figures.'));
  put('ann', 'Inbox/Projects/Archive', 'archive.eml', msg(ben, ann, 'Quarterly report archive', '2025-06-01T08:00:00Z', 'Last year.'));
  // The sender's own copies keep their Bcc (Find shows it as DisplayBcc); received mail has none.
  put('ann', 'Sent Items', 're.eml', msg(ann, ben, 'Re: Quarterly report draft', '2026-01-11T16:00:00Z', 'Thanks, looks good.', { Bcc: '"Zed Zimmer" <zed@other.test>' }));
  put('ann', 'Drafts', 'plan.eml', msg(ann, ben, 'Quarterly plan', '2026-01-15T12:00:00Z', 'Half written.', { Bcc: '"Zed Zimmer" <zed@other.test>, cara@other.test' }));
  put('ann', 'Junk Email', 'prize.eml', msg('"Prize" <win@spam.test>', ann, 'Quarterly prize winner', '2026-01-16T12:00:00Z', 'Click here.'));
  put('ann', 'Deleted Items', 'old.eml', msg(ben, ann, 'Old quarterly report', '2025-12-01T12:00:00Z', 'Outdated.'));
  for (let i = 1; i <= BULK; i++) {
    const n = String(i).padStart(3, '0');
    put('ann', 'Inbox/Bulk', `bulk${n}.eml`, msg(ben, ann, `Bulk message ${n}`, new Date(Date.UTC(2025, 2, 1) + i * 3_600_000).toISOString(), `bulkword number ${n}`));
  }
  put('ben', 'Inbox', 'secret.eml', msg(ann, ben, 'Quarterly report for ben only', '2026-01-10T10:00:00Z', 'bensecret figures.'));
  return dir;
}

/** What the five "quarterly" messages in ann's default scope are (Junk Email and Deleted Items are left out). */
const QUARTERLY_DEFAULT = ['Quarterly report final', 'Quarterly plan', 'Re: Quarterly report draft', 'Quarterly report draft', 'Quarterly report archive'];

interface Device { c: EasClient; folders: Map<string, string>; version: string }

interface StoreAnswer {
  http: number;
  searchStatus?: string;
  status?: string;
  results: WbxmlElement[];
  range?: string;
  total?: string;
  reason: string | null;
}

function readStore(r: EasResponse): StoreAnswer {
  const store = child(child(r.body, 'Search:Response'), 'Search:Store');
  return {
    http: r.status,
    searchStatus: childText(r.body, 'Search:Status'),
    status: childText(store, 'Search:Status'),
    results: childrenOf(store, 'Search:Result'),
    range: childText(store, 'Search:Range'),
    total: childText(store, 'Search:Total'),
    reason: r.headers.get('x-easmime-reason'),
  };
}

const props = (r: WbxmlElement): WbxmlElement | undefined => child(r, 'Search:Properties');
const subjects = (a: StoreAnswer): string[] => a.results.map((r) => childText(props(r), 'Email:Subject') ?? '');
const galNames = (a: StoreAnswer): string[] => a.results.map((r) => childText(props(r), 'GAL:DisplayName') ?? '');

function mailbox(and: Content[], options: Content[] = []): WbxmlElement {
  return SR('Store', SR('Name', 'Mailbox'), SR('Query', SR('And', ...and)), options.length > 0 && SR('Options', ...options));
}

function gal(query: string, options: Content[] = []): WbxmlElement {
  return SR('Store', SR('Name', 'GAL'), SR('Query', query), options.length > 0 && SR('Options', ...options));
}

const freeText = (t: string): WbxmlElement => SR('FreeText', t);
const dateIs = (op: 'GreaterThan' | 'LessThan', iso: string): WbxmlElement => SR(op, E('DateReceived'), SR('Value', iso));

interface FindAnswer { http: number; status?: string; responseStatus?: string; store?: string; results: WbxmlElement[]; range?: string; total?: string; hasResponse: boolean; reason: string | null }

function readFind(r: EasResponse): FindAnswer {
  const response = child(r.body, 'Find:Response');
  return {
    http: r.status,
    status: childText(r.body, 'Find:Status'),
    responseStatus: childText(response, 'Find:Status'),
    store: childText(response, 'ItemOperations:Store'),
    results: childrenOf(response, 'Find:Result'),
    range: childText(response, 'Find:Range'),
    total: childText(response, 'Find:Total'),
    hasResponse: response !== undefined,
    reason: r.headers.get('x-easmime-reason'),
  };
}

function findMail(searchId: string, query: Content[], options: Content[] = []): WbxmlElement {
  return FD('Find', FD('SearchId', searchId), FD('ExecuteSearch', FD('MailBoxSearchCriterion', FD('Query', ...query), options.length > 0 && FD('Options', ...options))));
}

describe('end to end: Search and Find', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let fixtures: string;
  let counter = 0;

  async function device(srv: ServerProcess, user: string, version: string): Promise<Device> {
    const c = new EasClient({ baseUrl: srv.baseUrl, user: `${user}@${DOMAIN}`, password: 'demo', deviceId: `SearchDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(r.status, 200);
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders, version };
  }

  const search = async (d: Device, store: WbxmlElement | WbxmlElement[]): Promise<StoreAnswer> =>
    readStore(await d.c.send('Search', SR('Search', store)));

  before(async () => {
    fixtures = writeFixture();
    server = await startServerProcess({ fixtures });
  });
  after(async () => { await server?.stop(); });

  for (const version of ['12.1', '14.1', '16.1']) {
    describe(`Mailbox search in ${version}`, () => {
      let ann: Device;
      before(async () => { ann = await device(server, 'ann', version); });

      it('FreeText searches the kept mail, newest first, with Class, LongId, CollectionId and the email properties', async () => {
        const a = await search(ann, mailbox([freeText('QUARTERLY')]));
        assert.equal(a.http, 200);
        assert.equal(a.searchStatus, '1');
        assert.equal(a.status, '1');
        // Case-insensitive, Junk Email and Deleted Items left out, newest first.
        assert.deepEqual(subjects(a), QUARTERLY_DEFAULT);
        assert.equal(a.total, '5');
        assert.equal(a.range, '0-4');
        const first = a.results[0]!;
        assert.equal(first.children.map((c) => c.tag).slice(0, 4).join(','), 'AirSync:Class,Search:LongId,AirSync:CollectionId,Search:Properties');
        assert.equal(childText(first, 'AirSync:Class'), 'Email');
        assert.equal(childText(first, 'AirSync:CollectionId'), ann.folders.get('Projects'));
        assert.match(childText(first, 'Search:LongId') ?? '', new RegExp(`^${ann.folders.get('Projects')}:\\d+$`));
        const p = props(first)!;
        assert.equal(childText(p, 'Email:From'), `"Ben Baker" <ben@${DOMAIN}>`);
        assert.equal(childText(p, 'Email:DateReceived'), '2026-02-01T08:00:00.000Z');
        assert.ok(child(p, 'AirSyncBase:Body'), 'bodies come as AirSyncBase:Body from 12.0');
        assert.equal(child(p, 'Email:Body'), undefined);
      });

      it('CollectionId limits the folders; DeepTraversal adds their subfolders', async () => {
        const inbox = ann.folders.get('Inbox')!;
        const shallow = await search(ann, mailbox([A('CollectionId', inbox), freeText('quarterly')]));
        assert.deepEqual(subjects(shallow), ['Quarterly report draft']);
        const deep = await search(ann, mailbox([A('CollectionId', inbox), freeText('quarterly')], [SR('DeepTraversal')]));
        assert.deepEqual(subjects(deep), ['Quarterly report final', 'Quarterly report draft', 'Quarterly report archive']);
        const two = await search(ann, mailbox([A('CollectionId', ann.folders.get('Sent Items')!), A('CollectionId', ann.folders.get('Drafts')!), freeText('quarterly')]));
        assert.deepEqual(subjects(two), ['Quarterly plan', 'Re: Quarterly report draft']);
        // Junk Email and Deleted Items are searched when named.
        const junk = await search(ann, mailbox([A('CollectionId', ann.folders.get('Junk Email')!), A('CollectionId', ann.folders.get('Deleted Items')!), freeText('quarterly')]));
        assert.deepEqual(subjects(junk), ['Quarterly prize winner', 'Old quarterly report']);
        const viaEqualTo = await search(ann, mailbox([SR('EqualTo', A('CollectionId'), SR('Value', ann.folders.get('Projects')!)), freeText('report')], [SR('DeepTraversal'), SR('RebuildResults')]));
        assert.deepEqual(subjects(viaEqualTo), ['Quarterly report final', 'Quarterly report archive']);
      });

      it('GreaterThan and LessThan on DateReceived, EqualTo on a property, and Class', async () => {
        const window = await search(ann, mailbox([freeText('quarterly'), dateIs('GreaterThan', '2026-01-10T12:00:00.000Z'), dateIs('LessThan', '2026-02-15T00:00:00.000Z')]));
        assert.deepEqual(subjects(window), ['Quarterly report final', 'Quarterly plan', 'Re: Quarterly report draft']);
        const datesOnly = await search(ann, mailbox([A('CollectionId', ann.folders.get('Inbox')!), dateIs('GreaterThan', '2026-01-12T00:00:00Z'), dateIs('LessThan', '2026-01-13T12:00:00Z')]));
        assert.deepEqual(subjects(datesOnly), ['Figures attached', 'Lunch on Friday']);
        const exact = await search(ann, mailbox([SR('EqualTo', E('Subject'), SR('Value', 'lunch on friday'))]));
        assert.deepEqual(subjects(exact), ['Lunch on Friday']);
        const at = await search(ann, mailbox([SR('EqualTo', E('DateReceived'), SR('Value', '2026-01-12T11:30:00.000Z'))]));
        assert.deepEqual(subjects(at), ['Lunch on Friday']);
        const email = await search(ann, mailbox([A('Class', 'Email'), A('CollectionId', ann.folders.get('Inbox')!), freeText('quarterly')]));
        assert.deepEqual(subjects(email), ['Quarterly report draft']);
        const calendar = await search(ann, mailbox([A('Class', 'Calendar'), freeText('quarterly')]));
        assert.equal(calendar.status, '1');
        assert.equal(calendar.total, '0');
        // Several classes widen the search.
        const either = await search(ann, mailbox([A('Class', 'Calendar'), A('Class', 'Email'), A('Class', 'Tasks'), freeText('lunch')]));
        assert.deepEqual(subjects(either), ['Lunch on Friday']);
        const byClass = await search(ann, mailbox([SR('EqualTo', A('Class'), SR('Value', 'Contacts')), freeText('lunch')]));
        assert.equal(byClass.total, '0');
      });

      it('no match: Status 1, one empty Result, Total 0', async () => {
        const a = await search(ann, mailbox([freeText('nothing-matches-this')]));
        assert.equal(a.status, '1');
        assert.equal(a.results.length, 1);
        assert.equal(a.results[0]!.children.length, 0);
        assert.equal(a.total, '0');
        assert.equal(a.range, undefined);
      });

      it('Range pages through up to 100 results at a time; beyond, Status 12', async () => {
        const first = await search(ann, mailbox([freeText('bulkword')]));
        assert.equal(first.results.length, 100);
        assert.equal(first.range, '0-99');
        assert.equal(first.total, String(BULK));
        assert.equal(subjects(first)[0], `Bulk message ${BULK}`);
        const rest = await search(ann, mailbox([freeText('bulkword')], [SR('Range', '100-199')]));
        assert.equal(rest.results.length, BULK - 100);
        assert.equal(rest.range, `100-${BULK - 1}`);
        assert.equal(subjects(rest).at(-1), 'Bulk message 001');
        const one = await search(ann, mailbox([freeText('bulkword')], [SR('Range', '0-0')]));
        assert.equal(one.results.length, 1);
        assert.equal(one.range, '0-0');
        for (const [range, why] of [['0-100', /at most 100/], [`${BULK}-${BULK + 9}`, /past the 130 matches/], ['1000-1009', /past index 999/]] as const) {
          const a = await search(ann, mailbox([freeText('bulkword')], [SR('Range', range)]));
          assert.equal(a.status, '12', range);
          assert.match(a.reason ?? '', why);
          assert.equal(a.results.length, 0);
        }
      });

      it('BodyPreference shapes the bodies: truncation, HTML, MIME with MIMESupport', async () => {
        const whole = await search(ann, mailbox([freeText('lunch')], [B('BodyPreference', B('Type', 1))]));
        const full = childText(child(props(whole.results[0]!), 'AirSyncBase:Body'), 'AirSyncBase:Data') ?? '';
        assert.match(full, /^Pizza place downtown, noon\.\s*$/);
        const truncated = await search(ann, mailbox([freeText('lunch')], [B('BodyPreference', B('Type', 1), B('TruncationSize', 5), version >= '14' ? B('Preview', 11) : false)]));
        const body = child(props(truncated.results[0]!), 'AirSyncBase:Body')!;
        assert.equal(childText(body, 'AirSyncBase:Type'), '1');
        assert.equal(childText(body, 'AirSyncBase:Truncated'), '1');
        assert.equal(childText(body, 'AirSyncBase:Data'), 'Pizza');
        assert.equal(childText(body, 'AirSyncBase:EstimatedDataSize'), String(Buffer.byteLength(full)));
        if (version >= '14') assert.equal(childText(body, 'AirSyncBase:Preview'), 'Pizza place');
        else assert.equal(child(body, 'AirSyncBase:Preview'), undefined);
        const html = await search(ann, mailbox([freeText('newsletter')], [B('BodyPreference', B('Type', 2))]));
        const hbody = child(props(html.results[0]!), 'AirSyncBase:Body')!;
        assert.equal(childText(hbody, 'AirSyncBase:Type'), '2');
        assert.match(childText(hbody, 'AirSyncBase:Data') ?? '', /<b>highlights<\/b>/);
        const mime = await search(ann, mailbox([freeText('lunch')], [A('MIMESupport', 2), B('BodyPreference', B('Type', 4))]));
        const mbody = child(props(mime.results[0]!), 'AirSyncBase:Body')!;
        assert.equal(childText(mbody, 'AirSyncBase:Type'), '4');
        assert.match(childText(mbody, 'AirSyncBase:Data') ?? '', /^From: "Ben Baker"[\s\S]*\r\nSubject: Lunch on Friday\r\n/);
        const attached = await search(ann, mailbox([freeText('attached')]));
        assert.equal(childText(child(child(props(attached.results[0]!), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment'), 'AirSyncBase:DisplayName'), 'report.pdf');
      });

      it('a LongId from the results fetches the item with ItemOperations', async () => {
        const a = await search(ann, mailbox([freeText('lunch')]));
        const longId = childText(a.results[0], 'Search:LongId')!;
        const r = await ann.c.send('ItemOperations', IO('ItemOperations', IO('Fetch', IO('Store', 'Mailbox'), SR('LongId', longId))));
        const fetch = child(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch');
        assert.equal(childText(fetch, 'ItemOperations:Status'), '1');
        assert.equal(childText(child(fetch, 'ItemOperations:Properties'), 'Email:Subject'), 'Lunch on Friday');
      });

      it('Status 8: anything beside or instead of the one And, nesting, Or, and oversized text', async () => {
        const inbox = ann.folders.get('Inbox')!;
        const tooComplex: Array<[string, WbxmlElement]> = [
          ['two And', SR('Store', SR('Name', 'Mailbox'), SR('Query', SR('And', freeText('a')), SR('And', freeText('b'))))],
          ['FreeText beside And', SR('Store', SR('Name', 'Mailbox'), SR('Query', freeText('a'), SR('And', A('CollectionId', inbox))))],
          ['Class beside And', SR('Store', SR('Name', 'Mailbox'), SR('Query', A('Class', 'Email'), SR('And', freeText('a'))))],
          ['CollectionId beside And', SR('Store', SR('Name', 'Mailbox'), SR('Query', A('CollectionId', inbox), SR('And', freeText('a'))))],
          ['GreaterThan beside And', SR('Store', SR('Name', 'Mailbox'), SR('Query', dateIs('GreaterThan', '2026-01-01T00:00:00Z'), SR('And', freeText('a'))))],
          ['FreeText alone', SR('Store', SR('Name', 'Mailbox'), SR('Query', freeText('a')))],
          ['Or', SR('Store', SR('Name', 'Mailbox'), SR('Query', SR('Or', A('Class', 'Email'), freeText('a'))))],
          ['And in And', mailbox([SR('And', freeText('a'))])],
          ['Or in And', mailbox([SR('Or', freeText('a'), freeText('b'))])],
          ['long FreeText', mailbox([freeText('x'.repeat(257))])],
          ['many words', mailbox([freeText(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '))])],
          ['EqualTo on a property it cannot compare', mailbox([SR('EqualTo', E('Categories'), SR('Value', 'x'))])],
          ['too many conditions', mailbox(Array.from({ length: 33 }, () => freeText('a')))],
        ];
        for (const [what, store] of tooComplex) {
          const a = await search(ann, store);
          assert.equal(a.http, 200, what);
          assert.equal(a.searchStatus, '1', what);
          assert.equal(a.status, '8', what);
          assert.ok(a.reason, what);
        }
      });

      it('Status 2: malformed queries, options and values', async () => {
        const invalid: Array<[string, WbxmlElement | WbxmlElement[]]> = [
          ['empty Query', SR('Store', SR('Name', 'Mailbox'), SR('Query'))],
          ['no Query', SR('Store', SR('Name', 'Mailbox'))],
          ['empty And', mailbox([])],
          ['email:To in And', mailbox([E('To', `ann@${DOMAIN}`), freeText('a')])],
          ['empty FreeText', mailbox([freeText('  ')])],
          ['unknown class', mailbox([A('Class', 'Gadgets'), freeText('a')])],
          ['bad date', mailbox([freeText('a'), dateIs('GreaterThan', 'last tuesday')])],
          ['GreaterThan on Subject', mailbox([SR('GreaterThan', E('Subject'), SR('Value', 'a'))])],
          ['bad range', mailbox([freeText('a')], [SR('Range', '9-2')])],
          ['not a range', mailbox([freeText('a')], [SR('Range', 'first ten')])],
          ['Picture in a mailbox search', mailbox([freeText('a')], [SR('Picture')])],
          ['bad BodyPreference', mailbox([freeText('a')], [B('BodyPreference', B('Type', 9))])],
          ['unknown store', SR('Store', SR('Name', 'Archive'), SR('Query', 'a'))],
          ['no store name', SR('Store', SR('Query', 'a'))],
          ['no Store', []],
        ];
        if (version === '12.1') {
          invalid.push(['ConversationId in 12.1', mailbox([SR('ConversationId', Buffer.from('0123456789abcdef')), freeText('a')])]);
          invalid.push(['SMS in 12.1', mailbox([A('Class', 'SMS'), freeText('a')])]);
        } else {
          invalid.push(['two ConversationIds', mailbox([SR('ConversationId', Buffer.from('0123456789abcdef')), SR('ConversationId', Buffer.from('0123456789abcdef')), freeText('a')])]);
        }
        for (const [what, store] of invalid) {
          const a = await search(ann, store);
          assert.equal(a.status, '2', what);
          assert.ok(a.reason, what);
        }
        if (version !== '12.1') {
          const sms = await search(ann, mailbox([A('Class', 'SMS'), freeText('lunch')]));
          assert.equal(sms.status, '1');
          assert.equal(sms.total, '0');
        }
      });

      it('Status 11 for a folder the user does not have; 4 and 5 for document library links', async () => {
        for (const id of ['999999', 'inbox']) {
          const a = await search(ann, mailbox([A('CollectionId', id), freeText('a')]));
          assert.equal(a.status, '11', id);
        }
        const link = (value: string): WbxmlElement => SR('Store', SR('Name', 'DocumentLibrary'), SR('Query', SR('EqualTo', DL('LinkId'), SR('Value', value))));
        assert.equal((await search(ann, link('not a link'))).status, '4');
        assert.equal((await search(ann, link('\\\\fileserver\\share\\plan.docx'))).status, '5');
        assert.equal((await search(ann, link('http://fileserver/share/plan.docx'))).status, '5');
        assert.equal((await search(ann, SR('Store', SR('Name', 'DocumentLibrary'), SR('Query', 'plan')))).status, '2');
      });

      it('a second Store is ignored and the first answered', async () => {
        const a = await search(ann, [mailbox([freeText('lunch')]), gal('ann')]);
        assert.equal(a.status, '1');
        assert.deepEqual(subjects(a), ['Lunch on Friday']);
      });
    });
  }

  it('14.1: RebuildResults finds mail delivered since the last search', async () => {
    const ann = await device(server, 'ann', '14.1');
    const before = await search(ann, mailbox([freeText('freshword')], [SR('RebuildResults')]));
    assert.equal(before.total, '0');
    await sendRaw(server.smtpPort, { from: 'news@other.test', to: [`ann@${DOMAIN}`] },
      await compose({ from: 'news@other.test', to: `ann@${DOMAIN}`, subject: 'Fresh news', text: 'freshword inside' }));
    let after = before;
    for (let i = 0; i < 50 && after.total === '0'; i++) {
      after = await search(ann, mailbox([freeText('freshword')], [SR('RebuildResults')]));
      if (after.total === '0') await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(subjects(after), ['Fresh news']);
  });

  it('searching never returns another user\'s mail, nor reaches another user\'s folders or items', async () => {
    const ann = await device(server, 'ann', '14.1');
    const ben = await device(server, 'ben', '14.1');
    const benOwn = await search(ben, mailbox([freeText('bensecret')]));
    assert.deepEqual(subjects(benOwn), ['Quarterly report for ben only']);
    const benLongId = childText(benOwn.results[0], 'Search:LongId')!;

    const annLooks = await search(ann, mailbox([freeText('bensecret')]));
    assert.equal(annLooks.status, '1');
    assert.equal(annLooks.total, '0');
    // Every message ann can find is hers: ben's one "quarterly" message is not among them.
    const annQuarterly = await search(ann, mailbox([freeText('quarterly')], [SR('DeepTraversal')]));
    assert.ok(!subjects(annQuarterly).includes('Quarterly report for ben only'));
    const intoBen = await search(ann, mailbox([A('CollectionId', ben.folders.get('Inbox')!), freeText('quarterly')]));
    assert.equal(intoBen.status, '11');
    assert.equal(intoBen.results.length, 0);
    const fetch = await ann.c.send('ItemOperations', IO('ItemOperations', IO('Fetch', IO('Store', 'Mailbox'), SR('LongId', benLongId))));
    assert.equal(childText(child(child(fetch.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Status'), '6');
    const ann161 = await device(server, 'ann', '16.1');
    const found = readFind(await ann161.c.send('Find', findMail('iso-1', [FD('FreeText', 'bensecret')])));
    assert.equal(found.responseStatus, '1');
    assert.equal(found.total, '0');
    const foundInBen = readFind(await ann161.c.send('Find', findMail('iso-2', [A('CollectionId', ben.folders.get('Inbox')!), FD('FreeText', 'quarterly')])));
    assert.equal(foundInBen.status, '3');
  });

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    describe(`GAL search in ${version}`, () => {
      let ben: Device;
      before(async () => { ben = await device(server, 'ben', version); });

      it('finds users, groups and contacts by prefix of name, word, alias or address, with their properties', async () => {
        const ann = await search(ben, gal('arch'));
        assert.equal(ann.status, '1');
        assert.deepEqual(galNames(ann), ['Ann Archer']);
        const p = props(ann.results[0]!)!;
        assert.deepEqual(p.children.map((c) => c.tag), ['GAL:DisplayName', 'GAL:Company', 'GAL:Alias', 'GAL:EmailAddress']);
        assert.equal(childText(p, 'GAL:EmailAddress'), `ann@${DOMAIN}`);
        assert.equal(childText(p, 'GAL:Alias'), 'ann');
        assert.equal(childText(p, 'GAL:Company'), ORG);
        assert.equal(ann.total, '1');
        assert.equal(ann.range, '0-0');
        assert.deepEqual(galNames(await search(ben, gal('TEAM'))), ['Team']);
        const zed = await search(ben, gal('zed@other'));
        assert.deepEqual(galNames(zed), ['Zed Zimmer']);
        // Only the properties an entry has: a contact has no alias or company.
        assert.deepEqual(props(zed.results[0]!)!.children.map((c) => c.tag), ['GAL:DisplayName', 'GAL:EmailAddress']);
        const none = await search(ben, gal('nobody-by-this-name'));
        assert.equal(none.status, '1');
        assert.equal(none.total, '0');
        assert.equal(none.results.length, 1);
        assert.equal(none.results[0]!.children.length, 0);
      });

      it('pages by Range, at most 100 entries at once; Status 12 beyond', async () => {
        const first = await search(ben, gal('probe'));
        assert.equal(first.results.length, 100);
        assert.equal(first.range, '0-99');
        assert.equal(first.total, String(PROBES));
        assert.equal(galNames(first)[0], 'Probe 001');
        const rest = await search(ben, gal('probe', [SR('Range', '100-149')]));
        assert.equal(rest.results.length, PROBES - 100);
        assert.equal(rest.range, `100-${PROBES - 1}`);
        assert.equal(galNames(rest).at(-1), `Probe ${PROBES}`);
        assert.equal((await search(ben, gal('probe', [SR('Range', '0-100')]))).status, '12');
        assert.equal((await search(ben, gal('probe', [SR('Range', `${PROBES}-${PROBES + 5}`)]))).status, '12');
        assert.equal((await search(ben, gal('probe', [SR('Range', '3-1')]))).status, '2');
      });

      it('Status 2 for an empty query, 8 for an oversized one; Picture only from 14.1, then 173 for each entry', async () => {
        assert.equal((await search(ben, gal(' '))).status, '2');
        assert.equal((await search(ben, gal('x'.repeat(257)))).status, '8');
        assert.equal((await search(ben, SR('Store', SR('Name', 'GAL'), SR('Query', SR('And', freeText('ann')))))).status, '2');
        const pictured = await search(ben, gal('probe', [SR('Range', '0-4'), SR('Picture', SR('MaxSize', 10240), SR('MaxPictures', 2))]));
        if (version === '14.1' || version === '16.1') {
          assert.equal(pictured.status, '1');
          assert.equal(pictured.results.length, 5);
          for (const r of pictured.results) assert.equal(childText(child(props(r), 'GAL:Picture'), 'GAL:Status'), '173');
          const big = await search(ben, gal('probe', [SR('Picture', SR('MaxSize', 200000))]));
          assert.equal(big.status, '2');
        } else {
          assert.equal(pictured.status, '2');
          assert.match(pictured.reason ?? '', /14\.1/);
        }
      });
    });
  }

  it('2.5: the Mailbox store is not searchable (Status 2); the answer is in the 2.5 form', async () => {
    const d = await device(server, 'ann', '2.5');
    const a = await search(d, mailbox([freeText('quarterly')]));
    assert.equal(a.http, 200);
    assert.equal(a.status, '2');
    assert.match(a.reason ?? '', /only the GAL/);
    const lib = await search(d, SR('Store', SR('Name', 'DocumentLibrary'), SR('Query', SR('EqualTo', DL('LinkId'), SR('Value', 'http://x/y')))));
    assert.equal(lib.status, '2');
  });

  describe('Find (16.1)', () => {
    let ann: Device;
    before(async () => { ann = await device(server, 'ann', '16.1'); });
    const find = async (body: WbxmlElement): Promise<FindAnswer> => readFind(await ann.c.send('Find', body));

    it('finds mail with its Find properties, newest first, in pages of the same search', async () => {
      const all = await find(findMail('q-all', [FD('FreeText', 'quarterly')]));
      assert.equal(all.http, 200);
      assert.equal(all.status, '1');
      assert.equal(all.responseStatus, '1');
      assert.equal(all.store, 'Mailbox');
      assert.equal(all.total, '5');
      assert.deepEqual(all.results.map((r) => childText(child(r, 'Find:Properties'), 'Email:Subject')), QUARTERLY_DEFAULT);
      const plan = all.results.find((r) => childText(child(r, 'Find:Properties'), 'Email:Subject') === 'Quarterly plan')!;
      assert.equal(childText(plan, 'AirSync:CollectionId'), ann.folders.get('Drafts'));
      assert.match(childText(plan, 'AirSync:ServerId') ?? '', new RegExp(`^${ann.folders.get('Drafts')}:\\d+$`));
      const p = child(plan, 'Find:Properties')!;
      assert.deepEqual(p.children.map((c) => c.tag), ['Email:Subject', 'Email:DateReceived', 'Email:DisplayTo', 'Find:DisplayCc', 'Find:DisplayBcc',
        'Email:Importance', 'Email:Read', 'Email2:IsDraft', 'Find:Preview', 'Find:HasAttachments', 'Email:From']);
      assert.equal(childText(p, 'Email2:IsDraft'), '1');
      assert.equal(childText(p, 'Find:DisplayBcc'), 'Zed Zimmer; cara@other.test');
      const displayBcc = (subject: string): string | undefined =>
        childText(child(all.results.find((r) => childText(child(r, 'Find:Properties'), 'Email:Subject') === subject)!, 'Find:Properties'), 'Find:DisplayBcc');
      assert.equal(displayBcc('Re: Quarterly report draft'), 'Zed Zimmer', 'a Sent Items copy');
      assert.equal(displayBcc('Quarterly report final') ?? '', '', 'received mail has no Bcc to show');
      assert.equal(childText(p, 'Find:Preview'), 'Half written.');

      const page1 = await find(findMail('q-paged', [FD('FreeText', 'quarterly')], [FD('Range', '0-1')]));
      assert.equal(page1.range, '0-1');
      assert.equal(page1.total, '5');
      const page2 = await find(findMail('q-paged', [FD('FreeText', 'quarterly')], [FD('Range', '2-4')]));
      assert.equal(page2.responseStatus, '1');
      assert.equal(page2.range, '2-4');
      assert.deepEqual([...page1.results, ...page2.results].map((r) => childText(child(r, 'Find:Properties'), 'Email:Subject')), QUARTERLY_DEFAULT);
      // A Range asks for at most what is there; Find may answer fewer.
      const big = await find(findMail('q-big', [FD('FreeText', 'bulkword')], [FD('Range', '0-999')]));
      assert.equal(big.results.length, 100);
      assert.equal(big.range, '0-99');
      assert.equal(big.total, String(BULK));
    });

    it('KQL properties, Class, CollectionId and DeepTraversal narrow the search', async () => {
      const subjectsOf = (a: FindAnswer): string[] => a.results.map((r) => childText(child(r, 'Find:Properties'), 'Email:Subject') ?? '');
      assert.deepEqual(subjectsOf(await find(findMail('k1', [FD('FreeText', 'subject:lunch')]))), ['Lunch on Friday']);
      assert.deepEqual(subjectsOf(await find(findMail('k2', [FD('FreeText', 'subject:pizza')]))), []);
      const attached = await find(findMail('k3', [FD('FreeText', 'attachment:report')]));
      assert.deepEqual(subjectsOf(attached), ['Figures attached']);
      const p = child(attached.results[0], 'Find:Properties');
      assert.equal(childText(p, 'Find:HasAttachments'), '1');
      assert.equal(childText(p, 'Find:DisplayCc'), 'Zed Zimmer');
      assert.deepEqual(subjectsOf(await find(findMail('k4', [FD('FreeText', 'from:ben AND subject:quarterly'), A('CollectionId', ann.folders.get('Inbox')!)]))), ['Quarterly report draft']);
      assert.deepEqual(subjectsOf(await find(findMail('k5', [A('Class', 'Email'), A('CollectionId', ann.folders.get('Inbox')!), FD('FreeText', 'quarterly')], [FD('DeepTraversal')]))),
        ['Quarterly report final', 'Quarterly report draft', 'Quarterly report archive']);
      assert.equal((await find(findMail('k6', [A('Class', 'Tasks'), FD('FreeText', 'quarterly')]))).total, '0');
    });

    it('finds GAL entries, at most 100 at once', async () => {
      const r = await find(FD('Find', FD('SearchId', 'g1'), FD('ExecuteSearch', FD('GalSearchCriterion', FD('Query', FD('FreeText', 'probe')),
        FD('Options', FD('Range', '0-999'), FD('Picture', FD('MaxPictures', 3)))))));
      assert.equal(r.status, '1');
      assert.equal(r.store, 'GAL');
      assert.equal(r.results.length, 100);
      assert.equal(r.total, String(PROBES));
      const first = child(r.results[0], 'Find:Properties');
      assert.equal(childText(first, 'GAL:DisplayName'), 'Probe 001');
      assert.equal(childText(child(first, 'GAL:Picture'), 'GAL:Status'), '173');
    });

    it('Status 4 (in the Response) when a new search does not start at 0; 3 for an unknown folder; 2 for bad requests', async () => {
      const late = await find(findMail('fresh-search', [FD('FreeText', 'quarterly')], [FD('Range', '2-4')]));
      assert.equal(late.status, '1');
      assert.equal(late.responseStatus, '4');
      assert.equal(late.results.length, 0);
      const unknown = await find(findMail('f3', [A('CollectionId', '999999'), FD('FreeText', 'quarterly')]));
      assert.equal(unknown.status, '3');
      assert.equal(unknown.hasResponse, false);
      const bad: Array<[string, WbxmlElement]> = [
        ['no SearchId', FD('Find', FD('ExecuteSearch', FD('MailBoxSearchCriterion', FD('Query', FD('FreeText', 'a')))))],
        ['long SearchId', findMail('s'.repeat(65), [FD('FreeText', 'a')])],
        ['no FreeText', findMail('b1', [A('Class', 'Email')])],
        ['two FreeTexts', findMail('b2', [FD('FreeText', 'a'), FD('FreeText', 'b')])],
        ['empty FreeText', findMail('b3', [FD('FreeText', ' ')])],
        ['long FreeText', findMail('b4', [FD('FreeText', 'y'.repeat(257))])],
        ['unknown class', findMail('b5', [A('Class', 'Gadgets'), FD('FreeText', 'a')])],
        ['bad range', findMail('b6', [FD('FreeText', 'a')], [FD('Range', '5-2')])],
        ['range past 999', findMail('b7', [FD('FreeText', 'a')], [FD('Range', '0-1000')])],
        ['both criteria', FD('Find', FD('SearchId', 'b8'), FD('ExecuteSearch', FD('MailBoxSearchCriterion', FD('Query', FD('FreeText', 'a'))), FD('GalSearchCriterion', FD('Query', FD('FreeText', 'a')))))],
        ['no criterion', FD('Find', FD('SearchId', 'b9'), FD('ExecuteSearch'))],
        ['Picture in a mailbox Find', findMail('b10', [FD('FreeText', 'a')], [FD('Picture')])],
      ];
      for (const [what, body] of bad) {
        const a = await find(body);
        assert.equal(a.http, 200, what);
        assert.equal(a.status, '2', what);
        assert.equal(a.hasResponse, false, what);
        assert.ok(a.reason, what);
      }
    });

    it('exists only in 16.1: Status 138 from 14.0, HTTP 400 before', async () => {
      for (const version of ['12.1', '14.1', '16.0']) {
        const d = await device(server, 'ann', version);
        const r = await d.c.send('Find', findMail('v', [FD('FreeText', 'quarterly')]));
        if (version === '12.1') {
          assert.equal(r.status, 400);
        } else {
          assert.equal(r.status, 200);
          assert.equal(childText(r.body, 'Find:Status'), '138');
        }
        assert.match(r.headers.get('x-easmime-reason') ?? '', new RegExp(`Find does not exist in protocol version ${version.replace('.', '\\.')}`));
      }
    });
  });

  describe('with a scan time limit of 0 and then a damaged store', () => {
    let faulty: ServerProcess;
    const devices = new Map<string, Device>();
    before(async () => {
      faulty = await startServerProcess({ fixtures, env: { EASMIME_SEARCH_TIMEOUT_MS: '0' } });
      for (const v of ['12.1', '14.1', '16.1']) devices.set(v, await device(faulty, 'ann', v));
    });
    after(async () => { await faulty?.stop(); });

    it('Status 10 when the scan runs out of time (Find: 111, retry later); the GAL still answers', async () => {
      for (const [v, d] of devices) {
        const a = await search(d, mailbox([freeText('quarterly')]));
        assert.equal(a.status, '10', v);
        assert.equal(a.searchStatus, '1', v);
        assert.match(a.reason ?? '', /longer than 0 ms/);
        assert.equal((await search(d, mailbox([A('CollectionId', d.folders.get('Inbox')!), dateIs('GreaterThan', '2020-01-01T00:00:00Z')]))).status, '10', v);
        assert.deepEqual(galNames(await search(d, gal('ann'))), ['Ann Archer']);
      }
      const f = readFind(await devices.get('16.1')!.c.send('Find', findMail('t1', [FD('FreeText', 'quarterly')])));
      assert.equal(f.status, '111');
    });

    it('Status 3 in Search and Store when the store fails under the search (Find: 110)', async () => {
      // Damage the store as a bad migration would: the column every scan starts from is gone.
      const db = new Database(path.join(faulty.data, 'easmime.sqlite'));
      try {
        db.exec('ALTER TABLE messages RENAME COLUMN received_at TO received_at_gone');
      } finally {
        db.close();
      }
      for (const [v, d] of devices) {
        const a = await search(d, mailbox([freeText('quarterly')]));
        assert.equal(a.http, 200, v);
        assert.equal(a.searchStatus, '3', v);
        assert.equal(a.status, '3', v);
      }
      const f = readFind(await devices.get('16.1')!.c.send('Find', findMail('t2', [FD('FreeText', 'quarterly')])));
      assert.equal(f.status, '110');
    });
  });
});
