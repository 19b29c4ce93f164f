// XML views of the element tree, in two dialects.
//
// 1. The readable dialect (toXml / fromXml), for logs, traces and hand-written fixtures. It follows the
//    MS-ASCMD examples: the root element's namespace is the default namespace, every other namespace
//    used in the document is declared once on the root with its lower-cased name as prefix:
//
//      <Sync xmlns="AirSync" xmlns:email="Email" xmlns:airsyncbase="AirSyncBase">
//        <Collections>...<email:Subject>Hi</email:Subject>...
//
//    Opaque content is base64. For the opaque-valued tags (OPAQUE_TAGS) that is implied, as in
//    libwbxml; any other element holding opaque data carries opaque="base64". `<A/>` has no content,
//    `<A></A>` has the empty text "". Whitespace-only text between child elements is indentation and
//    is dropped (unless written as CDATA or character references); the text of an element without
//    children is kept byte for byte. Characters XML 1.0 cannot carry (C0 controls except tab and
//    newline, lone surrogates, U+FFFE/U+FFFF) and CR are written as character references; fromXml
//    accepts those for any code point, strict XML parsers will not (the price of logging arbitrary
//    device data losslessly).
//
// 2. The dialect of libwbxml's `wbxml2xml -l ACTIVESYNC` / `xml2wbxml` (toLibwbxmlXml /
//    fromLibwbxmlXml), used to cross-check the codec against that independent implementation: a
//    DOCTYPE, namespace URIs with a trailing colon ("AirSync:", but "Gal:" for GAL), an unprefixed
//    xmlns="Ns:" on every element whose namespace differs from its parent's, libwbxml's own labels
//    for 67 tags (LIBWBXML_LABELS), base64 for opaque-valued tags, and no way to tell an empty
//    element from an empty opaque value or empty text.

import { CODE_PAGES, allTags, isKnownTag, isOpaqueTag, splitTag, type WbxmlNamespace, type WbxmlTag } from './codepages.js';
import { WbxmlError } from './errors.js';
import type { WbxmlElement } from './tree.js';

// ---------------------------------------------------------------------------------------------------
// libwbxml 0.11.8 labels that differ from the MS-ASWBXML names. Measured by decoding one element of
// every token with the Debian wbxml2xml; docs/eas-protocol.md Appendix B lists most of them but misses
// the DTStamp, UTCDueDate/UTCStartDate, Compressed_RTF, DeviceEncryptionEnabled and MIME spellings.

const REC = ['Type', 'Until', 'Occurrences', 'Interval', 'DayOfWeek', 'DayOfMonth', 'WeekOfMonth', 'MonthOfYear'] as const;

export const LIBWBXML_LABELS: Readonly<Partial<Record<WbxmlTag, string>>> = {
  'Contacts:AssistantPhoneNumber': 'AssistantTelephoneNumber',
  'Contacts:BusinessAddressCity': 'BusinessCity',
  'Contacts:BusinessAddressCountry': 'BusinessCountry',
  'Contacts:BusinessAddressPostalCode': 'BusinessPostalCode',
  'Contacts:BusinessAddressState': 'BusinessState',
  'Contacts:BusinessAddressStreet': 'BusinessStreet',
  'Contacts:HomeAddressCity': 'HomeCity',
  'Contacts:HomeAddressCountry': 'HomeCountry',
  'Contacts:HomeAddressPostalCode': 'HomePostalCode',
  'Contacts:HomeAddressState': 'HomeState',
  'Contacts:HomeAddressStreet': 'HomeStreet',
  'Contacts:OtherAddressCity': 'OtherCity',
  'Contacts:OtherAddressCountry': 'OtherCountry',
  'Contacts:OtherAddressPostalCode': 'OtherPostalCode',
  'Contacts:OtherAddressState': 'OtherState',
  'Contacts:OtherAddressStreet': 'OtherStreet',
  'Email:ReplyTo': 'Reply-To',
  'Email:DtStamp': 'DTStamp',
  'Email:Status': 'FlagStatus',
  ...recurrence('Email', REC),
  'Calendar:Timezone': 'TimeZone',
  'Calendar:Email': 'Attendee_Email',
  'Calendar:Name': 'Attendee_Name',
  'Calendar:CompressedRTF': 'Compressed_RTF',
  'Calendar:DtStamp': 'DTStamp',
  'Calendar:Deleted': 'Exception_Deleted',
  'Calendar:ExceptionStartTime': 'Exception_StartTime',
  'Calendar:OrganizerEmail': 'Organizer_Email',
  'Calendar:OrganizerName': 'Organizer_Name',
  ...recurrence('Calendar', REC),
  'Calendar:AttendeeStatus': 'Attendee_Status',
  'Calendar:AttendeeType': 'Attendee_Type',
  'Tasks:UtcDueDate': 'UTCDueDate',
  'Tasks:UtcStartDate': 'UTCStartDate',
  ...recurrence('Tasks', [...REC, 'Start', 'Regenerate', 'DeadOccur'] as const),
  'Provision:RequireStorageCardEncryption': 'DeviceEncryptionEnabled',
  'Settings:SMTPAddress': 'SmtpAddress',
  'Settings:RightsManagementInformation': 'ihsManagementInformation',
  'ComposeMail:Mime': 'MIME',
  'ComposeMail:Name': 'ForwardeeName',
  'ComposeMail:Email': 'ForwardeeEmail',
  'RightsManagement:Owner': 'RMOwner',
  'RightsManagement:RemoveRightsManagementProtection': 'RemoveRightsManagementDistribution',
};

function recurrence<N extends 'Email' | 'Calendar' | 'Tasks', T extends string>(
  ns: N, names: readonly T[],
): Partial<Record<`${N}:${T}`, string>> {
  const out: Partial<Record<string, string>> = {};
  for (const n of names) out[`${ns}:${n}`] = `Recurrence_${n}`;
  return out as Partial<Record<`${N}:${T}`, string>>;
}

/**
 * Tags the Debian libwbxml 0.11.8 build does not know (wbxml2xml prints them as <unknown>, xml2wbxml
 * rejects them): the Find page, two 16.1 MeetingResponse tags, Provision:AccountOnlyRemoteWipe, and
 * rows only Z-Push-family code or TbSync define.
 */
export const LIBWBXML_UNKNOWN_TAGS: readonly WbxmlTag[] = [
  ...(Object.keys(CODE_PAGES.Find.tokens) as (keyof typeof CODE_PAGES.Find.tokens)[]).map((n) => `Find:${n}` as const),
  'MeetingResponse:ProposedStartTime', 'MeetingResponse:ProposedEndTime',
  'Provision:AccountOnlyRemoteWipe',
  'Calendar:Attachment', 'Calendar:Attachments', 'Calendar:AttName', 'Calendar:AttSize', 'Calendar:AttOid',
  'Calendar:AttMethod', 'Calendar:AttRemoved', 'Calendar:DisplayName',
  'Ping:Version', 'Search:Stores', 'ComposeMail:Type',
];

/**
 * Namespace URIs in libwbxml's dialect are "Namespace:", with one spelling of its own: page 16 is "Gal:".
 * xml2wbxml does not know "GAL:" and silently falls back to looking each name up on every page
 * (GAL:DisplayName becomes Email:DisplayName, GAL:Data becomes ResolveRecipients:Data, ...).
 */
export function libwbxmlNamespaceUri(ns: WbxmlNamespace): string {
  return ns === 'GAL' ? 'Gal:' : `${ns}:`;
}

/** Label libwbxml uses for a tag's local name. */
export function libwbxmlLabel(tag: WbxmlTag): string {
  return LIBWBXML_LABELS[tag] ?? splitTag(tag).name;
}

// Per namespace: libwbxml label -> spec tag. Tags libwbxml lacks keep their spec names (toLibwbxmlXml
// writes them that way); other spec names are not accepted, because xml2wbxml would read them
// differently (it resolves <Status xmlns="Email:"> to AirSync:Status, Email's being "FlagStatus").
const LIBWBXML_LOOKUP: ReadonlyMap<string, ReadonlyMap<string, WbxmlTag>> = (() => {
  const byNs = new Map<string, Map<string, WbxmlTag>>();
  const get = (ns: string): Map<string, WbxmlTag> => {
    let m = byNs.get(ns);
    if (!m) byNs.set(ns, (m = new Map()));
    return m;
  };
  for (const tag of allTags()) {
    const { ns } = splitTag(tag);
    const label = libwbxmlLabel(tag);
    const m = get(ns);
    const prev = m.get(label);
    if (prev !== undefined && prev !== tag) throw new Error(`libwbxml label ${ns}:${label} is ambiguous`);
    m.set(label, tag);
  }
  return byNs;
})();

// ---------------------------------------------------------------------------------------------------
// Escaping.

const TEXT_SPECIAL = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/;
const TEXT_SPECIAL_G =
  /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ATTR_SPECIAL_G = /[&<>"\r\n\t\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '&': return '&amp;';
    case '<': return '&lt;';
    case '>': return '&gt;';
    case '"': return '&quot;';
    default: return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`;
  }
}

function escapeText(s: string): string {
  return TEXT_SPECIAL.test(s) ? s.replace(TEXT_SPECIAL_G, escapeChar) : s;
}

function escapeAttr(s: string): string {
  return s.replace(ATTR_SPECIAL_G, escapeChar);
}

// ---------------------------------------------------------------------------------------------------
// Readable dialect.

export interface ToXmlOptions {
  /** Indentation per level: spaces (number) or a string; 0 or '' writes everything on one line. Default 2. */
  indent?: number | string;
  /** Start with `<?xml version="1.0" encoding="utf-8"?>`. Default false. */
  declaration?: boolean;
  /**
   * For logs: cut text longer than this many characters and opaque data longer than this many bytes,
   * appending "…[N chars]" / "…[N bytes]". Output cut this way does not read back. Default: no limit.
   */
  maxContent?: number;
}

function prefixFor(ns: string): string {
  const p = ns.toLowerCase().replace(/[^a-z0-9_.-]/g, '_');
  return /^[a-z_]/.test(p) ? p : `ns_${p}`;
}

/**
 * Readable XML for an element tree (see the top of this file for the conventions). Meant for logs, so
 * it copes with trees the encoder would reject: unknown tags are written as they are, and an element
 * that contains itself is written once, with a comment where it recurs.
 */
export function toXml(root: WbxmlElement, options: ToXmlOptions = {}): string {
  const indentUnit = typeof options.indent === 'number' ? ' '.repeat(Math.max(0, options.indent)) : (options.indent ?? '  ');
  const max = options.maxContent ?? Infinity;
  const rootNs = splitTag(root.tag).ns;
  const kids = (el: WbxmlElement): WbxmlElement[] => (Array.isArray(el.children) ? el.children : []);

  // Namespaces other than the root's get prefixes in order of first appearance; they are declared on
  // the root, whose start tag is completed after the walk.
  const prefixes = new Map<string, string>();
  const used = new Set<string>();
  const qname = (tag: string): string => {
    const { ns, name } = splitTag(tag);
    if (ns === rootNs) return name;
    let p = prefixes.get(ns);
    if (p === undefined) {
      p = prefixFor(ns);
      while (used.has(p)) p += '_';
      used.add(p);
      prefixes.set(ns, p);
    }
    return `${p}:${name}`;
  };

  const out: string[] = [];
  if (options.declaration) out.push('<?xml version="1.0" encoding="utf-8"?>', indentUnit ? '\n' : '');
  const rootDeclAt = out.length + 1;

  const content = (el: WbxmlElement): { attrs: string; body: string | undefined } => {
    const opaqueTag = isOpaqueTag(el.tag);
    if (el.opaque !== undefined || (opaqueTag && el.text !== undefined)) {
      let bytes = el.opaque !== undefined ? Buffer.from(el.opaque) : Buffer.alloc(0);
      if (el.text !== undefined) bytes = Buffer.concat([Buffer.from(String(el.text), 'utf8'), bytes]);
      const cut = bytes.length > max;
      const b64 = (cut ? bytes.subarray(0, max) : bytes).toString('base64') + (cut ? `…[${bytes.length} bytes]` : '');
      return { attrs: opaqueTag ? '' : ' opaque="base64"', body: b64 };
    }
    if (el.text === undefined) return { attrs: '', body: undefined };
    const text = String(el.text);
    const t = text.length > max ? `${text.slice(0, max)}…[${text.length} chars]` : text;
    return { attrs: '', body: escapeText(t) };
  };

  // Iterative walk: frames of (element, next child index, depth).
  const stack: { el: WbxmlElement; i: number; depth: number; inline: boolean }[] = [];
  const onPath = new Set<WbxmlElement>();
  const open = (el: WbxmlElement, depth: number, inline: boolean): void => {
    if (!inline && depth > 0 && indentUnit) out.push('\n', indentUnit.repeat(depth));
    if (onPath.has(el)) {
      out.push(`<!-- ${qname(el.tag)} contains itself -->`);
      return;
    }
    const name = qname(el.tag);
    const { attrs, body } = content(el);
    const children = kids(el);
    if (children.length === 0) {
      out.push(`<${name}`, '', body === undefined ? `${attrs}/>` : `${attrs}>${body}</${name}>`);
      return;
    }
    // Text next to child elements that is empty or only whitespace would read back as indentation;
    // character references (or an empty CDATA section) mark it as content.
    let mixed = body ?? '';
    if (body !== undefined && el.opaque === undefined && typeof el.text === 'string' && !isOpaqueTag(el.tag) && !/\S/.test(el.text)) {
      mixed = el.text === '' ? '<![CDATA[]]>' : el.text.replace(/\s/g, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
    } else if (body === '') {
      mixed = '<![CDATA[]]>';
    }
    out.push(`<${name}`, '', `${attrs}>`, mixed);
    // An element with both text and children (never in EAS) is written without indentation inside, so
    // the text reads back unchanged.
    stack.push({ el, i: 0, depth, inline: inline || body !== undefined });
    onPath.add(el);
  };

  open(root, 0, false);
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    const children = kids(f.el);
    if (f.i < children.length) {
      open(children[f.i++]!, f.depth + 1, f.inline);
    } else {
      stack.pop();
      onPath.delete(f.el);
      if (!f.inline && indentUnit) out.push('\n', indentUnit.repeat(f.depth));
      out.push(`</${qname(f.el.tag)}>`);
    }
  }
  let decl = ` xmlns="${escapeAttr(rootNs)}"`;
  for (const [ns, p] of prefixes) decl += ` xmlns:${p}="${escapeAttr(ns)}"`;
  out[rootDeclAt] = decl;
  return out.join('');
}

const NS_BY_NAME: ReadonlyMap<string, WbxmlNamespace> = new Map(
  (Object.keys(CODE_PAGES) as WbxmlNamespace[]).map((ns) => [ns.toLowerCase(), ns]),
);

/** Namespace for an XML namespace URI: "AirSync", "AirSync:" (libwbxml) or any case of those. */
function namespaceOfUri(uri: string): WbxmlNamespace | undefined {
  const u = uri.endsWith(':') ? uri.slice(0, -1) : uri;
  return NS_BY_NAME.get(u.toLowerCase());
}

/** Parses the readable dialect (also accepts any prefixes, and libwbxml's "Ns:" URIs) into a tree. */
export function fromXml(xml: string): WbxmlElement {
  return parseXml(xml, {
    element(uri, local, attrs, at) {
      const ns = uri === undefined ? undefined : namespaceOfUri(uri);
      if (ns === undefined) {
        throw new WbxmlError(uri === undefined ? 'bad-xml' : 'unknown-tag',
          uri === undefined ? `element <${local}> has no namespace` : `unknown namespace "${uri}" of <${local}>`, at);
      }
      const tag = `${ns}:${local}`;
      if (!isKnownTag(tag)) throw new WbxmlError('unknown-tag', `unknown tag ${tag}`, at);
      let base64 = isOpaqueTag(tag);
      for (const [name, value] of attrs) {
        if (name === 'opaque' && value === 'base64') base64 = true;
        else throw new WbxmlError('bad-xml', `unexpected attribute ${name}="${value}" on ${tag}`, at);
      }
      return { tag, base64 };
    },
    emptyTextIsText: true,
  });
}

// ---------------------------------------------------------------------------------------------------
// libwbxml dialect.

const LIBWBXML_PROLOG =
  '<?xml version="1.0"?><!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">';

export interface ToLibwbxmlOptions {
  /**
   * Undefined (default): one line, exactly as `wbxml2xml -m 0` prints. A number: one element per line
   * indented by that many spaces per level, exactly as `wbxml2xml -m 1 -i N` prints. Feed xml2wbxml the
   * one-line form when it runs with -k, which would otherwise read the indentation as text.
   */
  indent?: number;
}

const LIB_SPECIAL_G = /[&<>"']/g;
const LIB_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * The XML that `xml2wbxml` reads and `wbxml2xml -l ACTIVESYNC` prints for a tree; for trees without
 * empty texts, empty opaque values or CR characters the output is identical to wbxml2xml's. Opaque data
 * of elements that are not opaque-valued is written as UTF-8 text, because libwbxml has no way to mark
 * it (and prints it raw). Tags in LIBWBXML_UNKNOWN_TAGS are written with their spec names, which
 * xml2wbxml 0.11.8 rejects. Throws WbxmlError('unknown-tag') for tags not in the code pages.
 */
export function toLibwbxmlXml(root: WbxmlElement, options: ToLibwbxmlOptions = {}): string {
  const indented = options.indent !== undefined;
  const unit = ' '.repeat(Math.max(0, options.indent ?? 0));
  const nl = indented ? '\n' : '';
  const out: string[] = [indented ? LIBWBXML_PROLOG.replace('?><', '?>\n<') + '\n' : LIBWBXML_PROLOG];
  const stack: { el: WbxmlElement; i: number; ns: string; depth: number }[] = [];
  const escape = (t: string): string => t.replace(LIB_SPECIAL_G, (c) => LIB_ESCAPES[c]!);

  const open = (el: WbxmlElement, parentNs: string, depth: number): void => {
    if (!isKnownTag(el.tag)) throw new WbxmlError('unknown-tag', `unknown tag "${el.tag}"`);
    const { ns } = splitTag(el.tag);
    const name = libwbxmlLabel(el.tag);
    const xmlns = ns !== parentNs ? ` xmlns="${libwbxmlNamespaceUri(ns as WbxmlNamespace)}"` : '';
    let body = '';
    if (isOpaqueTag(el.tag)) {
      const parts: Buffer[] = [];
      if (el.text !== undefined) parts.push(Buffer.from(el.text, 'utf8'));
      if (el.opaque !== undefined) parts.push(Buffer.from(el.opaque));
      body = Buffer.concat(parts).toString('base64');
    } else if (el.text !== undefined || el.opaque !== undefined) {
      body = escape((el.text ?? '') + (el.opaque !== undefined ? Buffer.from(el.opaque).toString('utf8') : ''));
    }
    const pad = indented ? unit.repeat(depth) : '';
    if (el.children.length === 0) {
      out.push(pad, body ? `<${name}${xmlns}>${body}</${name}>` : `<${name}${xmlns}/>`, nl);
      return;
    }
    out.push(pad, `<${name}${xmlns}>`, body, nl);
    stack.push({ el, i: 0, ns, depth });
  };

  open(root, '', 0);
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if (f.i < f.el.children.length) {
      open(f.el.children[f.i++]!, f.ns, f.depth + 1);
    } else {
      stack.pop();
      out.push(indented ? unit.repeat(f.depth) : '', `</${libwbxmlLabel(f.el.tag as WbxmlTag)}>`, nl);
    }
  }
  return out.join('');
}

/**
 * Parses `wbxml2xml -l ACTIVESYNC` output into a tree with spec tag names. Content of opaque-valued
 * tags is base64-decoded into `opaque`; everything else is text. Empty elements have neither (libwbxml
 * prints empty text and empty opaque data the same way). Throws WbxmlError('unknown-tag') for the
 * `<unknown>` elements libwbxml prints for tokens it does not know.
 */
export function fromLibwbxmlXml(xml: string): WbxmlElement {
  return parseXml(xml, {
    element(uri, local, attrs, at) {
      if (attrs.length) throw new WbxmlError('bad-xml', `unexpected attribute ${attrs[0]![0]} on <${local}>`, at);
      const ns = uri === undefined ? undefined : namespaceOfUri(uri);
      if (ns === undefined) throw new WbxmlError('bad-xml', `element <${local}> has no known namespace (${uri ?? 'none'})`, at);
      const tag = LIBWBXML_LOOKUP.get(ns)?.get(local);
      if (tag === undefined) {
        throw new WbxmlError('unknown-tag', local === 'unknown'
          ? `libwbxml printed <unknown> in ${ns}: a token its tables lack`
          : `"${local}" is not a libwbxml label in namespace ${ns}`, at);
      }
      return { tag, base64: isOpaqueTag(tag) };
    },
    emptyTextIsText: false,
  });
}

// ---------------------------------------------------------------------------------------------------
// A small XML parser: elements, attributes, namespaces, text, CDATA, character and the five predefined
// entity references; the XML declaration, processing instructions, comments and DOCTYPE are skipped.
// Written here rather than taken from xml2js because the tree is built directly with namespace
// resolution, it is synchronous and iterative (fixtures may nest deeply), and it accepts the character
// references toXml uses for characters XML forbids.

interface Dialect {
  element(uri: string | undefined, local: string, attrs: [string, string][], at: number): { tag: string; base64: boolean };
  /** Whether `<A></A>` means the empty text (readable dialect) or no content (libwbxml). */
  emptyTextIsText: boolean;
}

interface Frame {
  el: WbxmlElement;
  qname: string;
  base64: boolean;
  text: string[];
  /** Text came from CDATA or a character reference: keep it even when it is only whitespace next to child elements. */
  significant: boolean;
  scope: Map<string, string>; // prefix ('' = default) -> uri
  at: number;
}

const NAME_RE = /[^\s/>=<"'&]+/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeRefs(s: string, base: number): string {
  if (s.indexOf('&') < 0) return s.indexOf('\r') < 0 ? s : s.replace(/\r\n?/g, '\n');
  let out = '';
  let last = 0;
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', last)) {
    out += s.slice(last, i).replace(/\r\n?/g, '\n');
    const semi = s.indexOf(';', i);
    if (semi < 0 || semi - i > 12) throw new WbxmlError('bad-xml', 'unterminated entity reference', base + i);
    const ref = s.slice(i + 1, semi);
    let ch: string | undefined = PREDEFINED[ref];
    if (ch === undefined && ref[0] === '#') {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      const digits = ref[1] === 'x' ? /^#x[0-9a-fA-F]+$/ : /^#[0-9]+$/;
      if (digits.test(ref) && cp <= 0x10ffff) ch = String.fromCodePoint(cp);
    }
    if (ch === undefined) throw new WbxmlError('bad-xml', `unknown entity reference &${ref};`, base + i);
    out += ch;
    last = semi + 1;
  }
  return out + s.slice(last).replace(/\r\n?/g, '\n');
}

function parseXml(src: string, dialect: Dialect): WbxmlElement {
  let pos = src.charCodeAt(0) === 0xfeff ? 1 : 0;
  const len = src.length;
  const stack: Frame[] = [];
  let root: WbxmlElement | undefined;
  const rootScope = new Map<string, string>();

  const fail = (msg: string, at = pos): never => {
    throw new WbxmlError('bad-xml', msg, at);
  };
  const skipWs = (): void => {
    while (pos < len && /\s/.test(src[pos]!)) pos++;
  };
  const readName = (): string => {
    NAME_RE.lastIndex = pos;
    const m = NAME_RE.exec(src);
    if (!m) return fail('expected a name');
    pos += m[0].length;
    return m[0];
  };
  const skipPast = (end: string, what: string): number => {
    const i = src.indexOf(end, pos);
    if (i < 0) fail(`unterminated ${what}`);
    const start = pos;
    pos = i + end.length;
    return start;
  };

  const closeFrame = (f: Frame, selfClosing: boolean): void => {
    const { el } = f;
    let text: string | undefined;
    if (el.children.length === 0) {
      // <A></A> is the empty text in the readable dialect, nothing in libwbxml's.
      if (!selfClosing) text = f.text.join('');
    } else if (f.text.length) {
      // With child elements, whitespace-only text is indentation unless it was written as CDATA.
      const t = f.text.join('');
      if (f.significant || /\S/.test(t)) text = t;
    }
    if (text === '' && !dialect.emptyTextIsText) text = undefined;
    if (text !== undefined) {
      if (f.base64) {
        const compact = text.replace(/\s+/g, '');
        if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
          fail(`content of ${el.tag} is not base64`, f.at);
        }
        el.opaque = Buffer.from(compact, 'base64');
      } else {
        el.text = text;
      }
    }
  };

  while (pos < len) {
    const c = src[pos];
    if (c !== '<') {
      const next = src.indexOf('<', pos);
      const end = next < 0 ? len : next;
      const raw = src.slice(pos, end);
      if (stack.length === 0) {
        if (/\S/.test(raw)) fail('text outside the document element');
      } else {
        const f = stack[stack.length - 1]!;
        f.text.push(decodeRefs(raw, pos));
        if (raw.includes('&')) f.significant = true;
      }
      pos = end;
      continue;
    }
    if (src.startsWith('<?', pos)) {
      skipPast('?>', 'processing instruction');
      continue;
    }
    if (src.startsWith('<!--', pos)) {
      skipPast('-->', 'comment');
      continue;
    }
    if (src.startsWith('<![CDATA[', pos)) {
      if (stack.length === 0) fail('CDATA outside the document element');
      pos += 9;
      const start = skipPast(']]>', 'CDATA section');
      const f = stack[stack.length - 1]!;
      f.text.push(src.slice(start, pos - 3).replace(/\r\n?/g, '\n'));
      f.significant = true;
      continue;
    }
    if (src.startsWith('<!DOCTYPE', pos)) {
      if (root !== undefined || stack.length) fail('DOCTYPE after the document element started');
      // Skip to the closing '>', stepping over quoted strings and an internal subset in brackets.
      pos += 9;
      let bracket = 0;
      for (;;) {
        if (pos >= len) fail('unterminated DOCTYPE');
        const d = src[pos++];
        if (d === '"' || d === "'") {
          const q = src.indexOf(d, pos);
          if (q < 0) fail('unterminated DOCTYPE');
          pos = q + 1;
        } else if (d === '[') bracket++;
        else if (d === ']') bracket--;
        else if (d === '>' && bracket <= 0) break;
      }
      continue;
    }
    if (src.startsWith('</', pos)) {
      const at = pos;
      pos += 2;
      const name = readName();
      skipWs();
      if (src[pos] !== '>') fail(`expected ">" after </${name}`);
      pos++;
      const f = stack.pop();
      if (!f) return fail(`end tag </${name}> without a start tag`, at);
      if (f.qname !== name) fail(`end tag </${name}> does not match <${f.qname}>`, at);
      closeFrame(f, false);
      continue;
    }

    // Start tag.
    const at = pos;
    pos++;
    if (root !== undefined && stack.length === 0) fail('a second document element', at);
    const qname = readName();
    const rawAttrs: [string, string][] = [];
    let selfClosing = false;
    for (;;) {
      const before = pos;
      skipWs();
      if (src.startsWith('/>', pos)) {
        pos += 2;
        selfClosing = true;
        break;
      }
      if (src[pos] === '>') {
        pos++;
        break;
      }
      if (pos >= len) fail(`unterminated start tag <${qname}`, at);
      if (pos === before) fail(`expected whitespace before an attribute in <${qname}`);
      const an = readName();
      skipWs();
      if (src[pos] !== '=') fail(`expected "=" after attribute ${an}`);
      pos++;
      skipWs();
      const q = src[pos];
      if (q !== '"' && q !== "'") fail(`expected a quoted value for attribute ${an}`);
      const vEnd = src.indexOf(q!, pos + 1);
      if (vEnd < 0) fail(`unterminated value of attribute ${an}`);
      const value = decodeRefs(src.slice(pos + 1, vEnd), pos + 1);
      if (value.includes('<')) fail(`"<" in the value of attribute ${an}`);
      rawAttrs.push([an, value]);
      pos = vEnd + 1;
    }

    const parentScope = stack.length ? stack[stack.length - 1]!.scope : rootScope;
    let scope = parentScope;
    const attrs: [string, string][] = [];
    for (const [an, value] of rawAttrs) {
      if (an === 'xmlns' || an.startsWith('xmlns:')) {
        if (scope === parentScope) scope = new Map(parentScope);
        scope.set(an === 'xmlns' ? '' : an.slice(6), value);
      } else {
        attrs.push([an, value]);
      }
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const local = colon < 0 ? qname : qname.slice(colon + 1);
    const uri = scope.get(prefix);
    if (prefix && uri === undefined) fail(`undeclared namespace prefix "${prefix}"`, at);
    const { tag, base64 } = dialect.element(uri || undefined, local, attrs, at);
    const el: WbxmlElement = { tag, children: [] };
    if (stack.length) stack[stack.length - 1]!.el.children.push(el);
    else root = el;
    const frame: Frame = { el, qname, base64, text: [], significant: false, scope, at };
    if (selfClosing) closeFrame(frame, true);
    else stack.push(frame);
  }

  if (stack.length) fail(`document ends inside <${stack[stack.length - 1]!.qname}>`);
  if (root === undefined) fail('no document element');
  return root!;
}
