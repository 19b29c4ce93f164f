// The lean ingest parser: what mailparser would report for a message, computed directly from
// the bytes for the shapes ordinary mail comes in, several times faster than mailparser's
// streaming machinery. It answers only where it is sure to give mailparser's answer; for
// anything else it names the reason and parseMessage runs mailparser itself, so the result
// is the same by construction either way.

import type { HeaderBlock } from '../../smime/mime-split.js';
import { readBodies } from './lean-content.js';
import { LeanFallback } from './lean-fallback.js';
import { readTopLevelFields } from './lean-fields.js';
import { buildTree } from './lean-tree.js';
import type { MailContent } from './mail-content.js';

export interface LeanLimits {
  maxParts: number;
  maxHeaderBytes: number;
  maxHtmlToTextBytes: number;
  /** False for encrypted and opaque-signed mail: only the header fields are used. */
  withBodies: boolean;
}

export type LeanResult = { content: MailContent } | { fallback: string };

export function parseLean(raw: Buffer, header: HeaderBlock, limits: LeanLimits): LeanResult {
  try {
    const root = buildTree(raw, header, limits);
    const fields = readTopLevelFields(root.fields);
    const bodies = limits.withBodies ? readBodies(root, limits.maxHtmlToTextBytes) : { attachments: [] };
    return { content: { ...fields, ...bodies } };
  } catch (err) {
    // Anything unexpected is a reason to let mailparser answer, never a failed parse.
    return { fallback: err instanceof LeanFallback ? err.message : `lean parser failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
