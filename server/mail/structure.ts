// Finds the charset of the message's main text part for EAS InternetCPID.
// mailparser decodes bodies but does not say which charset it decoded from,
// so the MIME tree is walked here, bounded in depth and in parts visited.

import { firstHeader, multipartParts, parseStructuredValue, readEntity, type HeaderField, type ScanBudget } from '../../smime/mime-split.js';

const MAX_DEPTH = 32;
const MAX_ENTITIES = 1000;
const MAX_DELIMITER_CANDIDATES = 20_000;
// About 150 ms of native scanning; an ordinary message needs one pass over its bytes at most.
const MAX_SCAN_BYTES = 64 * 1024 * 1024;
const PART_HEADER_LIMIT = 64 * 1024;

interface Budget extends ScanBudget {
  entities: number;
}

interface Found {
  plain?: string;
  html?: string;
}

/**
 * Charset of the first inline text/plain part in document order, else of the
 * first inline text/html part; '' when that part names none; undefined when
 * the message has no text part (encrypted, attachment-only). Only the signed
 * content of a multipart/signed is looked at, and embedded messages are not
 * entered: their text belongs to an attachment.
 */
export function mainTextCharset(fields: ReadonlyArray<HeaderField>, body: Uint8Array): string | undefined {
  const found: Found = {};
  const budget: Budget = { entities: MAX_ENTITIES, candidates: MAX_DELIMITER_CANDIDATES, bytes: MAX_SCAN_BYTES };
  walk(fields, body, 0, found, budget);
  return found.plain ?? found.html;
}

function walk(fields: ReadonlyArray<HeaderField>, body: Uint8Array, depth: number, found: Found, budget: Budget): void {
  if (found.plain !== undefined || depth > MAX_DEPTH || --budget.entities < 0) return;
  const ct = parseStructuredValue(firstHeader(fields, 'content-type') ?? 'text/plain');
  const type = ct.value;
  if (type.startsWith('multipart/')) {
    let index = 0;
    for (const part of multipartParts(body, ct.params.get('boundary') ?? '', budget)) {
      if (type === 'multipart/signed' && index++ > 0) break; // only the signed content
      budget.bytes -= Math.min(part.end - part.start, PART_HEADER_LIMIT);
      const entity = readEntity(body.subarray(part.start, part.end), PART_HEADER_LIMIT);
      if (entity) walk(entity.fields, entity.body, depth + 1, found, budget);
      if (found.plain !== undefined || budget.entities < 0) return;
    }
    return;
  }
  const disposition = parseStructuredValue(firstHeader(fields, 'content-disposition') ?? '').value;
  if (disposition === 'attachment') return;
  const charset = (ct.params.get('charset') ?? '').trim();
  if (type === 'text/plain') found.plain = charset;
  else if (type === 'text/html' && found.html === undefined) found.html = charset;
}
