import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  LIBWBXML_LABELS, LIBWBXML_UNKNOWN_TAGS, WbxmlError, allTags, fromLibwbxmlXml, fromXml, libwbxmlLabel,
  toLibwbxmlXml, toXml, x, type WbxmlElement, type WbxmlErrorCode,
} from '../../eas/wbxml/index.js';
import { COMMAND_DOCS, canonical, libwbxmlCanonical } from './wbxml-fixtures.js';

function expectError(fn: () => unknown, code: WbxmlErrorCode, message?: RegExp): WbxmlError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof WbxmlError, `expected WbxmlError(${code}), got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

const sample = x('AirSync:Sync', x('AirSync:Collections', x('AirSync:Collection',
  x('AirSync:SyncKey', '2'),
  x('AirSync:Commands', x('AirSync:Add', x('AirSync:ServerId', '1:1'), x('AirSync:ApplicationData',
    x('Email:To', 'bob'), x('Email:Flag'),
    x('AirSyncBase:Body', x('AirSyncBase:Type', 4), x('AirSyncBase:Data', 'hi')),
    x('Email2:ConversationId', Buffer.from([1, 2, 255]))))))));

describe('WBXML readable XML (toXml / fromXml)', () => {
  it('writes the root namespace as default and the others as lower-case prefixes declared on the root', () => {
    assert.equal(toXml(sample), [
      '<Sync xmlns="AirSync" xmlns:email="Email" xmlns:airsyncbase="AirSyncBase" xmlns:email2="Email2">',
      '  <Collections>',
      '    <Collection>',
      '      <SyncKey>2</SyncKey>',
      '      <Commands>',
      '        <Add>',
      '          <ServerId>1:1</ServerId>',
      '          <ApplicationData>',
      '            <email:To>bob</email:To>',
      '            <email:Flag/>',
      '            <airsyncbase:Body>',
      '              <airsyncbase:Type>4</airsyncbase:Type>',
      '              <airsyncbase:Data>hi</airsyncbase:Data>',
      '            </airsyncbase:Body>',
      '            <email2:ConversationId>AQL/</email2:ConversationId>',
      '          </ApplicationData>',
      '        </Add>',
      '      </Commands>',
      '    </Collection>',
      '  </Collections>',
      '</Sync>',
    ].join('\n'));
  });

  it('has options for compact output, a declaration and cut content', () => {
    const doc = x('Ping:Ping', x('Ping:Status', 1), x('Email2:ConversationId', Buffer.alloc(10, 0xff)), x('Email:Subject', 'abcdefgh'));
    assert.equal(toXml(doc, { indent: 0, declaration: true }),
      '<?xml version="1.0" encoding="utf-8"?><Ping xmlns="Ping" xmlns:email2="Email2" xmlns:email="Email"><Status>1</Status>' +
      '<email2:ConversationId>/////////////w==</email2:ConversationId><email:Subject>abcdefgh</email:Subject></Ping>');
    assert.equal(toXml(doc, { indent: '\t', maxContent: 3 }),
      '<Ping xmlns="Ping" xmlns:email2="Email2" xmlns:email="Email">\n\t<Status>1</Status>\n' +
      '\t<email2:ConversationId>////…[10 bytes]</email2:ConversationId>\n\t<email:Subject>abc…[8 chars]</email:Subject>\n</Ping>');
  });

  it('marks opaque data of ordinary elements and escapes what XML cannot carry', () => {
    const doc = x('AirSync:Sync', x('AirSync:SyncKey', Buffer.from('hi')),
      x('AirSync:Class', 'a<b>&c "d" \r\n\t\x01\x1F\uFFFE \uD800x \uD83D\uDE00'), x('AirSync:Status', ''));
    const xml = toXml(doc, { indent: 0 });
    assert.equal(xml, '<Sync xmlns="AirSync"><SyncKey opaque="base64">aGk=</SyncKey>' +
      '<Class>a&lt;b&gt;&amp;c "d" &#xD;\n\t&#x1;&#x1F;&#xFFFE; &#xD800;x \uD83D\uDE00</Class><Status></Status></Sync>');
    assert.deepEqual(fromXml(xml), doc);
  });

  it('reads back every command document', () => {
    for (const { name, doc } of COMMAND_DOCS) {
      assert.deepEqual(fromXml(toXml(doc)), canonical(doc), name);
      assert.deepEqual(fromXml(toXml(doc, { indent: 0 })), canonical(doc), name);
    }
  });

  it('reads back random trees exactly (up to opaque-valued text), whitespace and mixed content included', () => {
    const tags = allTags();
    const content = fc.oneof(
      fc.constant(undefined),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('', ' ', '\n  ', '\r\n', ']]>', '&amp;'),
      fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
    );
    const tree = (d: number): fc.Arbitrary<WbxmlElement> =>
      fc.tuple(fc.constantFrom(...tags), content, d === 0 ? fc.constant<WbxmlElement[]>([]) : fc.array(tree(d - 1), { maxLength: 3 }))
        .map(([tag, c, children]) => {
          const el: WbxmlElement = { tag, children: [...children] };
          if (typeof c === 'string') el.text = c;
          else if (c !== undefined) el.opaque = c;
          return el;
        });
    fc.assert(fc.property(tree(3), fc.constantFrom(0, 2), (t, indent) => {
      assert.deepEqual(fromXml(toXml(t, { indent })), canonical(t));
    }), { seed: 42, numRuns: 1000 });
  });

  it('accepts hand-written XML: declaration, DOCTYPE, comments, CDATA, any prefixes, CRLF, references', () => {
    const xml = '\uFEFF<?xml version="1.0"?>\r\n<!DOCTYPE x [ <!ENTITY a "]>"> ]>\r\n<!-- c -->' +
      "<a:Sync xmlns:a='AirSync:' xmlns:b=\"email\">\r\n  <a:SyncKey>x\r\ny&#65;&#x42;&quot;&apos;</a:SyncKey>\r\n" +
      '  <b:Subject><![CDATA[<raw> & ]]></b:Subject><Status xmlns="AirSync"/><?pi?>\n</a:Sync>\n<!-- end -->\n';
    assert.deepEqual(fromXml(xml), x('AirSync:Sync', x('AirSync:SyncKey', 'x\nyAB"\''), x('Email:Subject', '<raw> & '), x('AirSync:Status')));
  });

  const bad: [string, string, WbxmlErrorCode, RegExp][] = [
    ['unknown tag', '<Sync xmlns="AirSync"><Nope/></Sync>', 'unknown-tag', /AirSync:Nope/],
    ['unknown namespace', '<Sync xmlns="AirSink"/>', 'unknown-tag', /AirSink/],
    ['no namespace', '<Sync/>', 'bad-xml', /no namespace/],
    ['undeclared prefix', '<a:Sync/>', 'bad-xml', /prefix "a"/],
    ['mismatched end tag', '<Sync xmlns="AirSync"><Status></Sync>', 'bad-xml', /does not match/],
    ['unterminated element', '<Sync xmlns="AirSync"><Status>', 'bad-xml', /ends inside/],
    ['unknown entity', '<Sync xmlns="AirSync">&nbsp;</Sync>', 'bad-xml', /&nbsp;/],
    ['bare ampersand', '<Sync xmlns="AirSync">a & b</Sync>', 'bad-xml', /entity/],
    ['text outside the root', 'x<Sync xmlns="AirSync"/>', 'bad-xml', /outside/],
    ['two roots', '<Sync xmlns="AirSync"/><Sync xmlns="AirSync"/>', 'bad-xml', /second/],
    ['no root', '<!-- nothing -->', 'bad-xml', /no document element/],
    ['bad base64', '<ConversationId xmlns="Email2">a*b=</ConversationId>', 'bad-xml', /base64/],
    ['unexpected attribute', '<Sync xmlns="AirSync" id="1"/>', 'bad-xml', /attribute id/],
    ['unterminated comment', '<Sync xmlns="AirSync"><!-- </Sync>', 'bad-xml', /comment/],
    ['unquoted attribute', '<Sync xmlns=AirSync/>', 'bad-xml', /quoted/],
  ];
  for (const [name, xml, code, msg] of bad) {
    it(`rejects ${name}`, () => {
      const e = expectError(() => fromXml(xml), code, msg);
      assert.ok(e.offset >= 0 && e.offset <= xml.length, `offset ${e.offset}`);
    });
  }

  it('never throws when logging a malformed tree', () => {
    assert.equal(toXml(x('Bogus', x('Other:Thing', 'a')), { indent: 0 }),
      '<Bogus xmlns="" xmlns:other="Other"><other:Thing>a</other:Thing></Bogus>');
  });

  it('writes a cyclic tree without looping', () => {
    const a = x('AirSync:Sync', x('AirSync:Status', 1));
    a.children.push(a);
    assert.equal(toXml(a, { indent: 0 }), '<Sync xmlns="AirSync"><Status>1</Status><!-- Sync contains itself --></Sync>');
  });

  it('handles deep trees iteratively', () => {
    let el = x('AirSync:Status', '1');
    for (let i = 0; i < 50_000; i++) el = x('AirSync:Collection', el);
    const xml = toXml(el, { indent: 0 });
    let back: WbxmlElement | undefined = fromXml(xml);
    let depth = 0;
    while (back && back.children.length) {
      back = back.children[0];
      depth++;
    }
    assert.equal(depth, 50_000);
    assert.equal(back?.text, '1');
  });
});

// Captured from `wbxml2xml -l ACTIVESYNC -k -m 0` and `-m 1 -i 2` (libwbxml 0.11.8) for `sample`.
const WBXML2XML_M0 = '<?xml version="1.0"?><!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">' +
  '<Sync xmlns="AirSync:"><Collections><Collection><SyncKey>2</SyncKey><Commands><Add><ServerId>1:1</ServerId><ApplicationData>' +
  '<To xmlns="Email:">bob</To><Flag xmlns="Email:"/><Body xmlns="AirSyncBase:"><Type>4</Type><Data>hi</Data></Body>' +
  '<ConversationId xmlns="Email2:">AQL/</ConversationId></ApplicationData></Add></Commands></Collection></Collections></Sync>';
const WBXML2XML_M1 = `<?xml version="1.0"?>
<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">
<Sync xmlns="AirSync:">
  <Collections>
    <Collection>
      <SyncKey>2</SyncKey>
      <Commands>
        <Add>
          <ServerId>1:1</ServerId>
          <ApplicationData>
            <To xmlns="Email:">bob</To>
            <Flag xmlns="Email:"/>
            <Body xmlns="AirSyncBase:">
              <Type>4</Type>
              <Data>hi</Data>
            </Body>
            <ConversationId xmlns="Email2:">AQL/</ConversationId>
          </ApplicationData>
        </Add>
      </Commands>
    </Collection>
  </Collections>
</Sync>
`;

describe('WBXML libwbxml XML dialect', () => {
  it("writes exactly what wbxml2xml prints, in both of its layouts", () => {
    assert.equal(toLibwbxmlXml(sample), WBXML2XML_M0);
    assert.equal(toLibwbxmlXml(sample, { indent: 2 }), WBXML2XML_M1);
  });

  it('reads what wbxml2xml prints', () => {
    assert.deepEqual(fromLibwbxmlXml(WBXML2XML_M0), sample);
    assert.deepEqual(fromLibwbxmlXml(WBXML2XML_M1), sample);
  });

  it("maps libwbxml's labels both ways", () => {
    const doc = x('Contacts:BusinessAddressCity', x('Email:ReplyTo', 'a'), x('Email:Status', 2), x('Calendar:Type', 1),
      x('Tasks:Type', 1), x('Email:Type', 1), x('Settings:RightsManagementInformation'), x('ComposeMail:Mime', 'hi'),
      x('RightsManagement:Owner', 1), x('Provision:RequireStorageCardEncryption', 0));
    const xml = toLibwbxmlXml(doc);
    assert.match(xml, /<BusinessCity xmlns="Contacts:"><Reply-To xmlns="Email:">a<\/Reply-To><FlagStatus xmlns="Email:">2<\/FlagStatus>/);
    assert.match(xml, /<Recurrence_Type xmlns="Calendar:">1<\/Recurrence_Type><Recurrence_Type xmlns="Tasks:">1<\/Recurrence_Type>/);
    assert.match(xml, /<ihsManagementInformation xmlns="Settings:"\/><MIME xmlns="ComposeMail:">aGk=<\/MIME>/);
    assert.match(xml, /<RMOwner xmlns="RightsManagement:">1<\/RMOwner><DeviceEncryptionEnabled xmlns="Provision:">0/);
    assert.deepEqual(fromLibwbxmlXml(xml), libwbxmlCanonical(doc));
    assert.equal(Object.keys(LIBWBXML_LABELS).length, 67);
    assert.equal(LIBWBXML_UNKNOWN_TAGS.length, 36);
    assert.equal(libwbxmlLabel('Calendar:Timezone'), 'TimeZone');
    assert.equal(libwbxmlLabel('AirSync:Sync'), 'Sync');
  });

  it('round-trips every command document through its own reader', () => {
    for (const { name, doc } of COMMAND_DOCS) {
      assert.deepEqual(fromLibwbxmlXml(toLibwbxmlXml(doc)), libwbxmlCanonical(doc), name);
      assert.deepEqual(fromLibwbxmlXml(toLibwbxmlXml(doc, { indent: 1 })), libwbxmlCanonical(doc), name);
    }
  });

  it("rejects libwbxml's <unknown> placeholder and labels it does not use", () => {
    expectError(() => fromLibwbxmlXml('<unknown xmlns="FolderHierarchy:"/>'), 'unknown-tag', /<unknown>/);
    expectError(() => fromLibwbxmlXml('<Sync xmlns="AirSync:"><Status xmlns="Email:"/></Sync>'), 'unknown-tag', /Status/);
    expectError(() => fromLibwbxmlXml('<Sync/>'), 'bad-xml', /namespace/);
    expectError(() => toLibwbxmlXml(x('AirSync:Nope')), 'unknown-tag');
  });
});
