// WBXML encode and decode of a large Sync response against JSON.stringify/JSON.parse of the same tree.
import { decodeWbxml, encodeWbxml } from '../eas/wbxml/index.js';
import { ns } from '../eas/wbxml/ns.js';
import type { WbxmlElement } from '../eas/wbxml/tree.js';
import { compareInterleaved, progress, type Figure } from './harness.js';

const A = ns('AirSync');
const E = ns('Email');
const B = ns('AirSyncBase');
const E2 = ns('Email2');

export function largeSyncResponse(items: number): WbxmlElement {
  const adds: WbxmlElement[] = [];
  for (let i = 0; i < items; i++) {
    adds.push(A('Add', A('ServerId', `5:${1000 + i}`), A('ApplicationData',
      E('To', '"Alice Anders" <alice@contoso.test>'), E('From', `"Sender ${i}" <sender${i}@fabrikam.test>`),
      E('Subject', `Quarterly figures, part ${i}`), E('DateReceived', new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString()),
      E('DisplayTo', 'Alice Anders'), E('ThreadTopic', `Quarterly figures, part ${i}`), E('Importance', 1), E('Read', i % 2),
      B('Body', B('Type', 1), B('EstimatedDataSize', 2048), B('Truncated', 1), B('Data', `Hello Alice, here are the figures for part ${i}. `.repeat(8))),
      E('MessageClass', 'IPM.Note'), E('InternetCPID', 65001), E('ContentClass', 'urn:content-classes:message'), E('Flag'),
      E('Categories'), B('NativeBodyType', 1), E2('ConversationId', Buffer.alloc(16, i % 256)), E2('ConversationIndex', Buffer.alloc(5, 1)))));
  }
  return A('Sync', A('Collections', A('Collection', A('SyncKey', '{0b7c3f0e-1111-4c1a-9d7e-1234567890ab}2'), A('CollectionId', '5'), A('Status', 1), A('Commands', adds))));
}

export async function wbxmlBenchmarks(): Promise<Figure[]> {
  const tree = largeSyncResponse(500);
  const bytes = encodeWbxml(tree);
  const json = JSON.stringify(tree);
  progress(`WBXML: a Sync response of 500 emails is ${bytes.length} bytes of WBXML, ${json.length} of JSON`);
  progress('WBXML: encode vs JSON.stringify, in alternating rounds');
  const enc = await compareInterleaved(() => encodeWbxml(tree), () => JSON.stringify(tree));
  progress('WBXML: decode vs JSON.parse, in alternating rounds');
  const dec = await compareInterleaved(() => decodeWbxml(bytes), () => JSON.parse(json));
  return [
    { name: 'wbxml encode (500-item Sync)', value: enc.value, unit: 'ops/s', baseline: enc.baseline, ratio: enc.ratio, target: '>= 0.5 of JSON.stringify', pass: enc.ratio >= 0.5 },
    { name: 'wbxml decode (500-item Sync)', value: dec.value, unit: 'ops/s', baseline: dec.baseline, ratio: dec.ratio, target: '>= 0.5 of JSON.parse', pass: dec.ratio >= 0.5 },
  ];
}
