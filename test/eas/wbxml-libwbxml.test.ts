// Cross-checks the codec against an independent implementation: Debian's libwbxml2-utils 0.11.8
// (`wbxml2xml -l ACTIVESYNC`, `xml2wbxml`). Without the binaries the suite is skipped locally and fails
// under CI (which installs them), so it cannot silently stop running there.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import {
  CODE_PAGES, LIBWBXML_UNKNOWN_TAGS, allTags, codeOf, decodeWbxml, decodeWbxmlDocument, encodeWbxml,
  fromLibwbxmlXml, isOpaqueTag, toLibwbxmlXml, x, type WbxmlElement, type WbxmlNamespace, type WbxmlTag,
} from '../../eas/wbxml/index.js';
import { COMMAND_DOCS, canonical, libwbxmlCanonical } from './wbxml-fixtures.js';

const available = ['wbxml2xml', 'xml2wbxml'].every((bin) => {
  const r = spawnSync(bin, [], { stdio: 'ignore' });
  return !(r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT');
});

/** `wbxml2xml -l ACTIVESYNC -k -m 0`: one line, whitespace in text kept. */
function wbxml2xml(bytes: Buffer): string {
  return execFileSync('wbxml2xml', ['-l', 'ACTIVESYNC', '-k', '-m', '0', '-o', '-', '-'], { input: bytes, stdio: ['pipe', 'pipe', 'pipe'] })
    .toString('utf8');
}

/** `xml2wbxml -k` plus flags: -a -n gives the EAS header 03 01 6A 00; without them libwbxml writes a string table. */
function xml2wbxml(xml: string, flags: string[] = ['-a', '-n']): Buffer {
  return execFileSync('xml2wbxml', [...flags, '-k', '-o', '-', '-'], { input: xml, stdio: ['pipe', 'pipe', 'pipe'] });
}

const UNKNOWN: ReadonlySet<string> = new Set(LIBWBXML_UNKNOWN_TAGS);
const KNOWN_TO_LIBWBXML = allTags().filter((t) => !UNKNOWN.has(t));

describe('WBXML interop with libwbxml 0.11.8', function () {
  this.timeout(120_000);

  before(function () {
    if (!available) {
      if (process.env.CI) throw new Error('libwbxml2-utils (wbxml2xml, xml2wbxml) must be installed in CI');
      this.skip();
    }
  });

  describe('real command documents', () => {
    for (const { name, doc } of COMMAND_DOCS) {
      it(`wbxml2xml reads what we encode: ${name}`, () => {
        const printed = wbxml2xml(encodeWbxml(doc));
        assert.deepEqual(fromLibwbxmlXml(printed), libwbxmlCanonical(doc));
        // Not only the same tree: the very text libwbxml prints.
        assert.equal(printed, toLibwbxmlXml(libwbxmlCanonical(doc)));
      });

      it(`xml2wbxml writes the same bytes, and we decode them: ${name}`, () => {
        const bytes = xml2wbxml(toLibwbxmlXml(doc));
        assert.deepEqual(decodeWbxml(bytes), canonical(doc));
        assert.deepEqual(bytes, encodeWbxml(doc));
      });

      it(`we decode xml2wbxml's string-table forms: ${name}`, () => {
        const xml = toLibwbxmlXml(doc);
        const full = decodeWbxmlDocument(xml2wbxml(xml, []));
        assert.equal(full.publicId, 0);
        assert.equal(full.publicIdString, '-//MICROSOFT//DTD ActiveSync//EN');
        assert.deepEqual(full.root, canonical(doc));
        const anon = decodeWbxmlDocument(xml2wbxml(xml, ['-a']));
        assert.equal(anon.publicId, 1);
        assert.deepEqual(anon.root, canonical(doc));
      });
    }
  });

  describe('one element of every tag libwbxml knows, page by page', () => {
    it('covers all 655 tags minus the 36 libwbxml 0.11.8 lacks', () => {
      assert.equal(KNOWN_TO_LIBWBXML.length, 619);
    });

    for (const ns of Object.keys(CODE_PAGES) as WbxmlNamespace[]) {
      const tags = KNOWN_TO_LIBWBXML.filter((t) => t.startsWith(`${ns}:`));
      if (tags.length === 0) continue; // Find: none in 0.11.8
      const page = CODE_PAGES[ns].page;
      const doc = x(tags[0]!, tags.map((t) => {
        const { token } = codeOf(t)!;
        return isOpaqueTag(t) ? x(t, Buffer.from([page, token, 0xff, 0])) : x(t, `${page}/${token} é & <x> "q"`);
      }));

      it(`page ${page} (${ns}): wbxml2xml decodes our encoding of all ${tags.length} tags`, () => {
        const printed = wbxml2xml(encodeWbxml(doc));
        assert.doesNotMatch(printed, /<unknown/);
        assert.deepEqual(fromLibwbxmlXml(printed), libwbxmlCanonical(doc));
        assert.equal(printed, toLibwbxmlXml(libwbxmlCanonical(doc)));
      });

      it(`page ${page} (${ns}): we decode xml2wbxml's encoding of all ${tags.length} tags`, () => {
        const bytes = xml2wbxml(toLibwbxmlXml(doc));
        assert.deepEqual(decodeWbxml(bytes), canonical(doc));
        assert.deepEqual(bytes, encodeWbxml(doc));
      });
    }

    it('libwbxml prints exactly the tags in LIBWBXML_UNKNOWN_TAGS as <unknown>', () => {
      const doc = x('AirSync:Sync', LIBWBXML_UNKNOWN_TAGS.map((t) => x(t)));
      const printed = wbxml2xml(encodeWbxml(doc));
      assert.equal(printed.match(/<unknown[ />]/g)?.length, LIBWBXML_UNKNOWN_TAGS.length);
    });
  });

  describe('random documents', () => {
    // Characters expat (inside xml2wbxml) accepts and that survive XML unchanged: no C0 controls, no CR.
    const chars = [...'abcXYZ019 :-_.,;!?/+=@#$%()[]{}\n\t&<>"\'', 'é', 'ß', '€', '☃', '😀', '中'];
    const text = fc.string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength: 30 });
    const content = fc.oneof(fc.constant(undefined), text, fc.uint8Array({ minLength: 1, maxLength: 30 }).map((a) => Buffer.from(a)));
    const tree = (d: number): fc.Arbitrary<WbxmlElement> =>
      fc.tuple(fc.constantFrom<WbxmlTag>(...KNOWN_TO_LIBWBXML), content,
        d === 0 ? fc.constant<WbxmlElement[]>([]) : fc.array(tree(d - 1), { maxLength: 3 }))
        .map(([tag, c, children]) => {
          const el: WbxmlElement = { tag, children: [...children] };
          // Opaque data of ordinary tags has no libwbxml XML form; text next to children neither (wbxml2xml
          // indents around it), so only leaves carry content and only opaque-valued tags carry bytes.
          if (children.length === 0 && c !== undefined) {
            if (typeof c === 'string') el.text = c;
            else if (isOpaqueTag(tag)) el.opaque = c;
          }
          return el;
        });

    it('agree both ways on random trees', () => {
      fc.assert(fc.property(tree(3), (t) => {
        const bytes = encodeWbxml(t);
        assert.deepEqual(fromLibwbxmlXml(wbxml2xml(bytes)), libwbxmlCanonical(t));
        assert.deepEqual(xml2wbxml(toLibwbxmlXml(t)), bytes);
      }), { seed: 7, numRuns: 60 });
    });
  });
});
