// The in-memory form of an EAS WBXML document. A tag is written "Namespace:Name"
// with the code-page namespace names of MS-ASWBXML (AirSync, Email, AirSyncBase, ...),
// so command code never deals with page numbers or token bytes.

export interface WbxmlElement {
  /** Qualified tag, e.g. "AirSync:SyncKey". */
  tag: string;
  children: WbxmlElement[];
  /** Inline string content (STR_I). */
  text?: string;
  /** Opaque content (OPAQUE). */
  opaque?: Buffer;
}

export type Content = WbxmlElement | string | Buffer | number | null | undefined | false | Content[];

/**
 * Builds an element: x("AirSync:SyncKey", "1"), x("AirSync:Collections", [...]).
 * Strings and numbers become text, Buffers become opaque data, null/undefined/false are skipped
 * so optional children can be written inline.
 */
export function x(tag: string, ...content: Content[]): WbxmlElement {
  const el: WbxmlElement = { tag, children: [] };
  const add = (c: Content): void => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(add); return; }
    if (typeof c === 'string') el.text = (el.text ?? '') + c;
    else if (typeof c === 'number') el.text = (el.text ?? '') + String(c);
    else if (Buffer.isBuffer(c)) el.opaque = c;
    else el.children.push(c);
  };
  content.forEach(add);
  return el;
}

/** First child with the tag, or undefined. */
export function child(el: WbxmlElement | undefined, tag: string): WbxmlElement | undefined {
  return el?.children.find((c) => c.tag === tag);
}

/** All children with the tag. */
export function childrenOf(el: WbxmlElement | undefined, tag: string): WbxmlElement[] {
  return el ? el.children.filter((c) => c.tag === tag) : [];
}

/** Text of the first child with the tag (opaque content read as UTF-8), or undefined. */
export function childText(el: WbxmlElement | undefined, tag: string): string | undefined {
  const c = child(el, tag);
  if (!c) return undefined;
  if (c.text !== undefined) return c.text;
  if (c.opaque !== undefined) return c.opaque.toString('utf8');
  return '';
}
