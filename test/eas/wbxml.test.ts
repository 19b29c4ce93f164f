import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  CODE_PAGES, DEFAULT_WBXML_LIMITS, LEGACY_TAGS, OPAQUE_TAGS, PAGE_COUNT, WbxmlError, allTags, codeOf,
  decodeWbxml, decodeWbxmlDocument, encodeWbxml, isKnownTag, isOpaqueTag, namespaceOfPage, pageOfNamespace,
  tagOf, x, type WbxmlElement, type WbxmlErrorCode,
} from '../../eas/wbxml/index.js';
import { COMMAND_DOCS, canonical } from './wbxml-fixtures.js';

/** Bytes from hex with optional whitespace. */
const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const HDR = '03 01 6A 00';

function expectError(fn: () => unknown, code: WbxmlErrorCode, offset?: number, message?: RegExp): WbxmlError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof WbxmlError, `expected WbxmlError(${code}), got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

describe('WBXML code pages', () => {
  it('has the 26 pages of MS-ASWBXML section 2.3 with their namespace names', () => {
    const names = ['AirSync', 'Contacts', 'Email', 'AirNotify', 'Calendar', 'Move', 'GetItemEstimate',
      'FolderHierarchy', 'MeetingResponse', 'Tasks', 'ResolveRecipients', 'ValidateCert', 'Contacts2', 'Ping',
      'Provision', 'Search', 'GAL', 'AirSyncBase', 'Settings', 'DocumentLibrary', 'ItemOperations', 'ComposeMail',
      'Email2', 'Notes', 'RightsManagement', 'Find'];
    assert.equal(PAGE_COUNT, 26);
    names.forEach((n, i) => {
      assert.equal(namespaceOfPage(i), n);
      assert.equal(pageOfNamespace(n), i);
    });
    assert.equal(pageOfNamespace('toString'), undefined);
  });

  it('knows all 655 rows of the token tables, legacy rows included', () => {
    assert.equal(allTags().length, 655);
    assert.equal(LEGACY_TAGS.length, 69);
    for (const t of LEGACY_TAGS) assert.ok(isKnownTag(t));
  });

  it('maps tags and codes both ways, with tokens in 0x05..0x3F', () => {
    for (const tag of allTags()) {
      const c = codeOf(tag)!;
      assert.ok(c.token >= 0x05 && c.token <= 0x3f, tag);
      assert.equal(tagOf(c.page, c.token), tag);
    }
    assert.deepEqual(codeOf('AirSyncBase:Body'), { page: 17, token: 0x0a });
    assert.deepEqual(codeOf('Provision:AccountOnlyRemoteWipe'), { page: 14, token: 0x3b });
    assert.deepEqual(codeOf('Find:Picture'), { page: 25, token: 0x22 });
    assert.deepEqual(codeOf('Email:Status'), { page: 2, token: 0x3b });
    assert.equal(tagOf(0, 0x04), undefined);
    assert.equal(tagOf(26, 0x05), undefined);
    assert.equal(tagOf(8, 0x0f), undefined);
    assert.equal(codeOf('AirSync:Nope'), undefined);
  });

  it('marks exactly the eight opaque-valued tags of section 2.2', () => {
    assert.deepEqual([...OPAQUE_TAGS].sort(), [
      'AirSyncBase:Content', 'ComposeMail:Mime', 'Email2:ConversationId', 'Email2:ConversationIndex', 'GAL:Data',
      'ItemOperations:ConversationId', 'ResolveRecipients:Data', 'Search:ConversationId',
    ]);
    assert.equal(isOpaqueTag('ItemOperations:Data'), false);
    assert.equal(isOpaqueTag('AirSyncBase:Data'), false);
  });

  it('types tag names so a typo does not compile', () => {
    // The assignments below are checked by tsc; the @ts-expect-error line must stay an error.
    const ok: keyof typeof CODE_PAGES.AirSync.tokens = 'SyncKey';
    // @ts-expect-error misspelt tag name
    const bad: keyof typeof CODE_PAGES.AirSync.tokens = 'Synckey';
    assert.ok(ok && bad);
  });
});

describe('WBXML known vectors', () => {
  it('encodes the FolderSync SyncKey 0 request of section 2.2 byte for byte', () => {
    const doc = x('FolderHierarchy:FolderSync', x('FolderHierarchy:SyncKey', '0'));
    const bytes = h(`${HDR} 00 07 56 52 03 30 00 01 01`);
    assert.deepEqual(encodeWbxml(doc), bytes);
    assert.deepEqual(decodeWbxml(bytes), doc);
  });

  it('encodes the Sync response of section 4.2 with the documented prefix, page switch and empty Flag', () => {
    const doc = x('AirSync:Sync', x('AirSync:Collections', x('AirSync:Collection',
      x('AirSync:SyncKey', '2'), x('AirSync:CollectionId', '1'), x('AirSync:Status', '1'),
      x('AirSync:Commands', x('AirSync:Add', x('AirSync:ServerId', '1:1'), x('AirSync:ApplicationData',
        x('Email:To', '"Bob" <bob@example.com>'), x('Email:From', 'alice@example.com'), x('Email:Subject', 'signed'),
        x('Email:DateReceived', '2024-01-02T03:04:05.000Z'), x('Email:DisplayTo', 'Bob'), x('Email:Importance', 1),
        x('Email:Read', 0), x('Email:MessageClass', 'IPM.Note.SMIME.MultipartSigned'),
        x('AirSyncBase:Body', x('AirSyncBase:Type', 4), x('AirSyncBase:EstimatedDataSize', 10),
          x('AirSyncBase:Truncated', 0), x('AirSyncBase:Data', 'MIME text')),
        x('Email:InternetCPID', 65001), x('Email:ContentClass', 'urn:content-classes:message'), x('Email:Flag'),
        x('AirSyncBase:NativeBodyType', 1)))))));
    const bytes = encodeWbxml(doc);
    const prefix = h(`${HDR} 45 5C 4F 4B 03 32 00 01 52 03 31 00 01 4E 03 31 00 01 56 47 4D`);
    assert.deepEqual(bytes.subarray(0, prefix.length), prefix);
    const to = h('00 02 56 03').toString('latin1') + '"Bob"';
    assert.ok(bytes.toString('latin1').includes(to), 'switch into the Email page before To');
    // Flag without content: the lone byte 3A, right after ContentClass' END and before the switch to page 17.
    assert.ok(bytes.toString('latin1').includes(h('6D 65 73 73 61 67 65 00 01 3A 00 11').toString('latin1')));
    assert.deepEqual(decodeWbxml(bytes), canonical(doc));
  });

  it('switches page only when it changes, and the page survives END', () => {
    const doc = x('AirSync:Sync', x('Email:To', 'a'), x('Email:Cc', 'b'), x('AirSync:Status', 1));
    assert.deepEqual(encodeWbxml(doc), h(`${HDR} 45 00 02 56 03 61 00 01 57 03 62 00 01 00 00 4E 03 31 00 01 01`));
    // A decoder that reset the page at END would read 57 as AirSync:Status... it must stay Email:Cc.
    assert.equal(decodeWbxml(h(`${HDR} 45 00 02 56 03 61 00 01 57 03 62 00 01 01`)).children[1]!.tag, 'Email:Cc');
  });

  it('writes empty elements without the content flag and empty text as an empty STR_I', () => {
    assert.deepEqual(encodeWbxml(x('Ping:Ping')), h(`${HDR} 00 0D 05`));
    assert.deepEqual(encodeWbxml(x('AirSync:Sync', x('AirSync:Partial'))), h(`${HDR} 45 26 01`));
    assert.deepEqual(encodeWbxml(x('AirSync:Sync', x('AirSync:SyncKey', ''))), h(`${HDR} 45 4B 03 00 01 01`));
    assert.deepEqual(decodeWbxml(h(`${HDR} 45 4B 03 00 01 01`)), x('AirSync:Sync', x('AirSync:SyncKey', '')));
  });

  it('writes opaque data as OPAQUE with an mb_u_int32 length, opaque-valued tags given as text too', () => {
    const d200 = Buffer.alloc(200, 7);
    const enc = encodeWbxml(x('Email2:ConversationId', d200));
    assert.deepEqual(enc.subarray(0, 10), h(`${HDR} 00 16 49 C3 81 48`));
    assert.equal(enc.length, 10 + 200 + 1);
    assert.deepEqual(encodeWbxml(x('Email2:ConversationId', 'AB')), h(`${HDR} 00 16 49 C3 02 41 42 01`));
    const d16k = Buffer.alloc(16384, 1);
    assert.deepEqual(encodeWbxml(x('ComposeMail:Mime', d16k)).subarray(4, 10), h('00 15 50 C3 81 80'));
    // Opaque on an ordinary tag stays opaque.
    assert.deepEqual(encodeWbxml(x('AirSync:SyncKey', Buffer.from([0, 1]))), h(`${HDR} 4B C3 02 00 01 01`));
  });

  it('writes UTF-8 text, including around the ASCII fast path boundary', () => {
    for (const s of ['é', 'a'.repeat(63) + 'é', 'a'.repeat(64), 'a'.repeat(64) + 'é', 'a'.repeat(65), '☃😀', 'x'.repeat(100_000) + 'ü']) {
      const bytes = encodeWbxml(x('AirSync:SyncKey', s));
      assert.deepEqual(bytes, Buffer.concat([h(`${HDR} 4B 03`), Buffer.from(s, 'utf8'), h('00 01')]));
      assert.equal(decodeWbxml(bytes).text, s);
    }
    // A lone surrogate has no UTF-8 form; the encoder writes U+FFFD like every UTF-8 writer in Node.
    assert.deepEqual(encodeWbxml(x('AirSync:SyncKey', 'a\uD800')), h(`${HDR} 4B 03 61 EF BF BD 00 01`));
  });
});

describe('WBXML decoding', () => {
  it('accepts versions 1.1 and 1.2 and reports the header', () => {
    for (const v of [1, 2, 3]) {
      const d = decodeWbxmlDocument(h(`0${v} 01 6A 00 00 0D 05`));
      assert.equal(d.version, v);
      assert.equal(d.publicId, 1);
      assert.equal(d.charset, 106);
      assert.equal(d.root.tag, 'Ping:Ping');
    }
  });

  it("accepts libwbxml's string-table public identifier and resolves STR_T references", () => {
    // What `xml2wbxml` writes without -a -n: public id 0 + index 0x18, a 0x39-byte string table holding a
    // repeated text at 0 and the DTD name at 0x18, and STR_T (0x83) references.
    const table = Buffer.concat([Buffer.from('hello world hello world\0'), Buffer.from('-//MICROSOFT//DTD ActiveSync//EN\0')]);
    assert.equal(table.length, 0x39);
    const bytes = Buffer.concat([h('03 00 18 6A 39'), table, h('45 4B 83 00 01 52 83 06 01 01')]);
    const d = decodeWbxmlDocument(bytes);
    assert.equal(d.publicId, 0);
    assert.equal(d.publicIdString, '-//MICROSOFT//DTD ActiveSync//EN');
    assert.equal(d.stringTableLength, 0x39);
    assert.deepEqual(d.root, x('AirSync:Sync', x('AirSync:SyncKey', 'hello world hello world'), x('AirSync:CollectionId', 'world hello world')));
  });

  it('concatenates several strings of one element; mixed text and opaque become text', () => {
    assert.equal(decodeWbxml(h(`${HDR} 4B 03 61 00 03 62 00 C3 02 63 64 03 65 00 01`)).text, 'abcde');
    const m = decodeWbxml(h(`${HDR} 4B C3 01 61 C3 01 62 01`));
    assert.deepEqual(m.opaque, Buffer.from('ab'));
    assert.equal(m.text, undefined);
  });

  it('keeps inline strings of opaque-valued tags as raw bytes, even when not UTF-8', () => {
    const el = decodeWbxml(h(`${HDR} 00 16 49 03 FF FE 41 00 C3 01 42 01`));
    assert.deepEqual(el, { tag: 'Email2:ConversationId', children: [], opaque: h('FF FE 41 42') });
  });

  it('treats a content-flagged element with no content as empty', () => {
    assert.deepEqual(decodeWbxml(h(`${HDR} 45 52 01 01`)), x('AirSync:Sync', x('AirSync:CollectionId')));
  });

  it('does not pin the input buffer in opaque values', () => {
    const input = h(`${HDR} 4B C3 02 61 62 01`);
    const el = decodeWbxml(input);
    input.fill(0);
    assert.deepEqual(el.opaque, Buffer.from('ab'));
  });

  it('accepts a plain Uint8Array and treats undefined limits as defaults', () => {
    const bytes = new Uint8Array(h(`${HDR} 00 07 56 52 03 30 00 01 01`));
    assert.equal(decodeWbxml(bytes, { maxBytes: undefined, maxDepth: undefined }).tag, 'FolderHierarchy:FolderSync');
    assert.equal(DEFAULT_WBXML_LIMITS.maxDepth, 64);
    assert.equal(DEFAULT_WBXML_LIMITS.maxBytes, 16 * 1024 * 1024);
    assert.equal(DEFAULT_WBXML_LIMITS.maxElements, 200_000);
    assert.equal(DEFAULT_WBXML_LIMITS.maxStringBytes, 16 * 1024 * 1024);
  });

  it('decodes every legacy tag', () => {
    for (const tag of LEGACY_TAGS) {
      const { page, token } = codeOf(tag)!;
      assert.equal(decodeWbxml(Buffer.from([3, 1, 0x6a, 0, 0, page, token])).tag, tag);
    }
  });
});

describe('WBXML decoder errors', () => {
  const cases: [string, string, WbxmlErrorCode, number, RegExp?][] = [
    ['header cut after version', '03', 'truncated', 1, /public identifier/],
    ['header cut in charset', '03 01', 'truncated', 2, /charset/],
    ['header cut in mb_u_int32', '03 01 81', 'truncated', 2],
    ['no string table length', '03 01 6A', 'truncated', 3],
    ['version 1.0', '00 01 6A 00 45 01', 'bad-header', 0, /version byte 0x00/],
    ['version 1.4', '04 01 6A 00 45 01', 'bad-header', 0],
    ['public id 5', '03 05 6A 00 45 01', 'bad-header', 1, /public identifier 5/],
    ['public id overflow', '03 8F FF FF FF FF 7F', 'bad-header', 1, /32 bits/],
    ['latin-1 charset', '03 01 04 00 45 01', 'bad-header', 2, /charset MIBenum 4 .*UTF-8/],
    ['charset 0', '03 01 00 00 45 01', 'bad-header', 2],
    ['string table past the end', '03 01 6A 05 41 42', 'truncated', 3, /string table/],
    ['public id index outside the table', '03 00 05 6A 02 41 00 45 01', 'bad-string-ref', 1],
    ['STR_T outside the table', `03 01 6A 02 41 00 45 83 02 01`, 'bad-string-ref', 7],
    ['STR_T entry without NUL', `03 01 6A 02 41 42 45 83 00 01`, 'bad-string-ref', 7, /NUL/],
    ['missing END', `${HDR} 45 4B 03 31 00 01`, 'truncated', 10, /AirSync:Sync/],
    ['STR_I without NUL', `${HDR} 45 4B 03 31 32`, 'truncated', 6],
    ['OPAQUE past the end', `${HDR} 45 4B C3 05 01 02 01 01`, 'truncated', 6, /opaque/],
    ['OPAQUE length cut', `${HDR} 45 4B C3 85`, 'truncated', 7],
    ['huge OPAQUE length', `${HDR} 45 4B C3 8F FF FF FF 7F 00`, 'too-large', 6],
    ['OPAQUE length over 32 bits', `${HDR} 45 4B C3 81 80 80 80 80 00`, 'too-large', 7, /32 bits/],
    ['SWITCH_PAGE at the end', `${HDR} 45 00`, 'truncated', 5],
    ['unknown page', `${HDR} 00 1A 45 01`, 'unknown-page', 4, /code page 26/],
    ['unknown token', `${HDR} 45 00 08 4F 01 01`, 'unknown-token', 7, /token 0x0F on code page 8 \(MeetingResponse\)/],
    ['unknown token on page 0', `${HDR} 7F 01`, 'unknown-token', 4, /0x3F on code page 0 \(AirSync\)/],
    ['attribute flag', `${HDR} 85 01`, 'unsupported-token', 4, /attribute/],
    ['attribute and content flags', `${HDR} 45 CB 01 01`, 'unsupported-token', 5],
    ['ENTITY', `${HDR} 45 4B 02 41 01 01`, 'unsupported-token', 6, /ENTITY/],
    ['LITERAL', `${HDR} 45 04 00 01`, 'unsupported-token', 5, /LITERAL/],
    ['EXT_I_0', `${HDR} 45 40 41 00 01`, 'unsupported-token', 5, /EXT_I_0/],
    ['PI', `${HDR} 45 43 01`, 'unsupported-token', 5, /PI/],
    ['LITERAL_C', `${HDR} 45 44 00 01`, 'unsupported-token', 5],
    ['EXT_T_0', `${HDR} 45 80 00 01`, 'unsupported-token', 5, /EXT_T_0/],
    ['LITERAL_A', `${HDR} 45 84 00 01`, 'unsupported-token', 5],
    ['EXT_0', `${HDR} 45 C0 01`, 'unsupported-token', 5, /EXT_0/],
    ['LITERAL_AC', `${HDR} 45 C4 00 01`, 'unsupported-token', 5],
    ['END before any element', `${HDR} 01`, 'unsupported-token', 4],
    ['text before the root', `${HDR} 03 41 00 45 01`, 'unsupported-token', 4],
    ['STR_T before the root', `03 01 6A 02 41 00 83 00 45 01`, 'unsupported-token', 6],
    ['opaque before the root', `${HDR} C3 00 45 01`, 'unsupported-token', 4],
    ['invalid UTF-8', `${HDR} 4B 03 FF 00 01`, 'bad-utf8', 5],
    ['overlong UTF-8', `${HDR} 4B 03 C0 AF 00 01`, 'bad-utf8', 5],
    ['UTF-8 surrogate', `${HDR} 4B 03 ED A0 80 00 01`, 'bad-utf8', 5],
    ['cut UTF-8 sequence', `${HDR} 4B 03 41 E2 98 00 01`, 'bad-utf8', 5],
    ['invalid UTF-8 in a long string', `${HDR} 4B 03 ${'41 '.repeat(40)} FF 00 01`, 'bad-utf8', 5],
    ['invalid UTF-8 via STR_T', `03 01 6A 02 FF 00 4B 83 00 01`, 'bad-utf8', 7],
    ['invalid UTF-8 in mixed content', `${HDR} 4B 03 41 00 C3 01 FF 01`, 'bad-utf8', 11, /mixed/],
    ['bytes after the root', `${HDR} 45 01 00`, 'trailing-bytes', 6],
    ['second root', `${HDR} 45 01 45 01`, 'trailing-bytes', 6],
    ['END after the root', `${HDR} 05 01`, 'trailing-bytes', 5],
    ['header only', HDR, 'empty', 4],
    ['switch page only', `${HDR} 00 01`, 'truncated', 6],
  ];
  for (const [name, hex, code, offset, msg] of cases) {
    it(`${name} -> ${code}`, () => {
      const e = expectError(() => decodeWbxml(h(hex)), code, offset, msg);
      assert.match(e.message, new RegExp(`offset ${offset}\\)$`));
    });
  }

  it('empty input -> empty', () => {
    expectError(() => decodeWbxml(Buffer.alloc(0)), 'empty', 0);
  });

  it('enforces maxBytes', () => {
    const bytes = h(`${HDR} 00 07 56 52 03 30 00 01 01`);
    expectError(() => decodeWbxml(bytes, { maxBytes: bytes.length - 1 }), 'too-large', 0);
    assert.ok(decodeWbxml(bytes, { maxBytes: bytes.length }));
  });

  it('enforces maxStringBytes per element, over all its parts, and for the string table', () => {
    expectError(() => decodeWbxml(h(`${HDR} 4B 03 41 42 43 00 01`), { maxStringBytes: 2 }), 'too-large', 5);
    expectError(() => decodeWbxml(h(`${HDR} 4B C3 03 41 42 43 01`), { maxStringBytes: 2 }), 'too-large', 5);
    expectError(() => decodeWbxml(h(`${HDR} 4B 03 41 00 C3 01 42 03 43 00 01`), { maxStringBytes: 2 }), 'too-large', 11);
    expectError(() => decodeWbxml(h(`03 01 6A 03 41 42 00 45 01`), { maxStringBytes: 2 }), 'too-large', 3);
    assert.equal(decodeWbxml(h(`${HDR} 4B 03 41 42 00 01`), { maxStringBytes: 2 }).text, 'AB');
  });

  it('enforces maxElements', () => {
    const bytes = h(`${HDR} 45 0B 0B 0B 01`);
    expectError(() => decodeWbxml(bytes, { maxElements: 3 }), 'too-many-elements', 7);
    assert.equal(decodeWbxml(bytes, { maxElements: 4 }).children.length, 3);
  });

  it('enforces maxDepth (64 by default), counting empty elements too', () => {
    const nest = (n: number, leaf = ''): Buffer => h(`${HDR} ${'5C '.repeat(n)} ${leaf} ${'01 '.repeat(n)}`);
    assert.ok(decodeWbxml(nest(64)));
    expectError(() => decodeWbxml(nest(65)), 'too-deep', 4 + 64);
    expectError(() => decodeWbxml(nest(64, '0B')), 'too-deep', 4 + 64);
    expectError(() => decodeWbxml(nest(3), { maxDepth: 2 }), 'too-deep', 6);
  });

  it('rejects 100k levels of nesting by depth, and decodes them iteratively when allowed', () => {
    const n = 100_000;
    const bytes = Buffer.concat([h(HDR), Buffer.alloc(n, 0x5c), Buffer.alloc(n, 0x01)]);
    expectError(() => decodeWbxml(bytes), 'too-deep', 4 + 64);
    const root = decodeWbxml(bytes, { maxDepth: Infinity });
    let depth = 0;
    for (let el: WbxmlElement | undefined = root; el; el = el.children[0]) depth++;
    assert.equal(depth, n);
    // The encoder refuses such a tree instead of overflowing the stack.
    expectError(() => encodeWbxml(root), 'invalid-element', undefined, /deeper than 1000/);
    // Without a closing END the same input is truncated, not a crash.
    expectError(() => decodeWbxml(bytes.subarray(0, 4 + n), { maxDepth: Infinity }), 'truncated', 4 + n);
  });

  it('bounds what string table references expand to, and resolves many of them quickly', () => {
    const entry = Buffer.concat([Buffer.alloc(1 << 20, 0x41), Buffer.from([0])]);
    const refs = (n: number, index: (i: number) => number): Buffer => Buffer.concat([
      h('03 01 6A'), Buffer.from([0x80 | ((entry.length >> 14) & 0x7f), 0x80 | ((entry.length >> 7) & 0x7f), entry.length & 0x7f]), entry,
      h('45'), ...Array.from({ length: n }, (_, i) => {
        const k = index(i);
        return Buffer.from([0x4b, 0x83, 0x80 | ((k >> 14) & 0x7f), 0x80 | ((k >> 7) & 0x7f), k & 0x7f, 0x01]);
      }), h('01'),
    ]);
    const t0 = Date.now();
    // 20,000 references to a 1 MiB entry would be 20 GiB of text.
    expectError(() => decodeWbxml(refs(20_000, () => 0)), 'too-large', undefined, /references expand/);
    expectError(() => decodeWbxml(refs(20_000, (i) => i)), 'too-large', undefined, /references expand/);
    // Many references near the end of the long entry are fine and fast.
    const ok = decodeWbxml(refs(20_000, (i) => entry.length - 2 - (i % 50)));
    assert.equal(ok.children.length, 20_000);
    assert.equal(ok.children[49]!.text, 'A'.repeat(50));
    assert.ok(Date.now() - t0 < 5000);
  });

  it('validates limits', () => {
    assert.throws(() => decodeWbxml(h(`${HDR} 05`), { maxDepth: -1 }), TypeError);
  });
});

describe('WBXML encoder errors', () => {
  it('rejects unknown tags', () => {
    expectError(() => encodeWbxml(x('AirSync:Nope')), 'unknown-tag', undefined, /AirSync:Nope/);
    expectError(() => encodeWbxml(x('AirSync:Sync', x('Sync'))), 'unknown-tag');
    expectError(() => encodeWbxml(x('airsync:Sync')), 'unknown-tag');
  });

  it('rejects NUL in text, which STR_I cannot carry', () => {
    expectError(() => encodeWbxml(x('AirSync:SyncKey', 'a\0b')), 'invalid-text', undefined, /NUL/);
    expectError(() => encodeWbxml(x('AirSync:SyncKey', 'é'.repeat(100) + '\0')), 'invalid-text');
    // Opaque-valued tags carry NUL fine.
    assert.ok(encodeWbxml(x('ComposeMail:Mime', 'a\0b')));
  });

  it('rejects malformed trees', () => {
    const bad = (el: unknown): void => {
      expectError(() => encodeWbxml(el as WbxmlElement), 'invalid-element');
    };
    bad({ tag: 'AirSync:Sync' });
    bad({ tag: 'AirSync:Sync', children: [], text: 5 });
    bad({ tag: 'AirSync:Sync', children: [], opaque: 'abc' });
    bad({ tag: 'AirSync:Sync', children: [undefined] });
    bad({ tag: 'AirSync:Sync', children: [x('AirSync:Status'), null] });
    const cyclic = x('AirSync:Sync');
    cyclic.children.push(cyclic);
    bad(cyclic);
  });

  it('keeps working after an error', () => {
    expectError(() => encodeWbxml(x('AirSync:Sync', x('AirSync:SyncKey', 'é'.repeat(100_000)), x('Bad:Tag'))), 'unknown-tag');
    assert.deepEqual(encodeWbxml(x('Ping:Ping')), h(`${HDR} 00 0D 05`));
  });
});

describe('WBXML round trips', () => {
  for (const { name, doc } of COMMAND_DOCS) {
    it(`decode(encode(x)) and encode(decode(bytes)) for: ${name}`, () => {
      const bytes = encodeWbxml(doc);
      const back = decodeWbxml(bytes);
      assert.deepEqual(back, canonical(doc));
      assert.deepEqual(encodeWbxml(back), bytes);
    });
  }

  it('handles large documents (several MiB, growing the output buffer)', () => {
    const big = x('AirSync:Sync', Array.from({ length: 50 }, (_, i) =>
      x('AirSync:Add', x('AirSync:ServerId', `1:${i}`), x('AirSyncBase:Data', 'ü'.repeat(40_000)),
        x('ComposeMail:Mime', Buffer.alloc(30_000, i)))));
    const bytes = encodeWbxml(big);
    assert.ok(bytes.length > 5_000_000);
    assert.deepEqual(decodeWbxml(bytes), canonical(big));
    // A following small document is still right (the scratch buffer is reused).
    assert.deepEqual(encodeWbxml(x('Ping:Ping')), h(`${HDR} 00 0D 05`));
  });
});

// ---- property tests ----

const TAGS = allTags();

/** Random trees over all known tags; text avoids NUL, which the encoder rejects by design. */
const contentArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\0/g, '')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
);
const treeOfDepth = (depth: number): fc.Arbitrary<WbxmlElement> =>
  fc.tuple(fc.constantFrom(...TAGS), contentArb, depth === 0 ? fc.constant<WbxmlElement[]>([]) : fc.array(treeOfDepth(depth - 1), { maxLength: 4 }))
    .map(([tag, content, children]) => {
      const el: WbxmlElement = { tag, children: [...children] };
      if (typeof content === 'string') el.text = content;
      else if (content !== undefined) el.opaque = content;
      return el;
    });
const treeArb = treeOfDepth(4);

const validDocs = COMMAND_DOCS.map(({ doc }) => encodeWbxml(doc));

function decodeOrWbxmlError(bytes: Buffer): void {
  try {
    decodeWbxml(bytes);
  } catch (e) {
    if (!(e instanceof WbxmlError)) throw e;
  }
}

describe('WBXML properties', () => {
  it('decode(encode(t)) equals the canonical tree and encode(decode(b)) == b', () => {
    fc.assert(fc.property(treeArb, (t) => {
      const bytes = encodeWbxml(t);
      const back = decodeWbxml(bytes, { maxDepth: 1000 });
      assert.deepEqual(back, canonical(t));
      assert.deepEqual(encodeWbxml(back), bytes);
    }), { seed: 20240601, numRuns: 1000 });
  });

  it('random bytes decode or throw WbxmlError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => decodeOrWbxmlError(Buffer.from(a))),
      { seed: 1, numRuns: 2000 });
    // With a valid header, so the body parser sees the random bytes.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => decodeOrWbxmlError(Buffer.concat([h(HDR), a]))),
      { seed: 2, numRuns: 2000 });
  });

  it('random mutations of valid documents decode or throw WbxmlError, nothing else', () => {
    const mutation = fc.record({
      doc: fc.nat({ max: validDocs.length - 1 }),
      edits: fc.array(fc.record({
        kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
        at: fc.nat(),
        byte: fc.integer({ min: 0, max: 255 }),
      }), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(fc.property(mutation, ({ doc, edits }) => {
      let bytes = Buffer.from(validDocs[doc]!);
      for (const { kind, at, byte } of edits) {
        const i = bytes.length ? at % bytes.length : 0;
        if (kind === 'flip') bytes[i] = bytes[i]! ^ (1 << (byte & 7));
        else if (kind === 'set') bytes[i] = byte;
        else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        else if (kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        else bytes = bytes.subarray(0, i);
      }
      decodeOrWbxmlError(bytes);
    }), { seed: 3, numRuns: 2000 });
  });
});
