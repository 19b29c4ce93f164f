// ResolveRecipients (MS-ASCMD 2.2.1.15) and ValidateCert (2.2.1.22): recipients resolved against the
// GAL with their S/MIME encryption certificates (full, or as one mini-certificate blob), free/busy
// and photos; and certificate checks for what a device received. Both answer in their own Status
// elements in every version: neither uses the common status codes for its own errors.
import { childrenOf, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V140, V141 } from '../version.js';
import type { CertificateCheck, CertificateProblem, DirectoryRecipient } from '../ports/directory.js';
import type { CommandContext, CommandResult } from './context.js';

const RR = ns('ResolveRecipients');
const VC = ns('ValidateCert');

export const ResolveStatus = { Success: 1, ProtocolError: 5, ServerError: 6 } as const;
export const ResponseStatus = { Resolved: 1, Ambiguous: 2, AmbiguousPartial: 3, NotFound: 4 } as const;
export const CertificatesStatus = { Success: 1, NoValidCertificate: 7, LimitReached: 8 } as const;
export const AvailabilityStatus = { Success: 1, TooManyRecipients: 160, GroupTooLarge: 161 } as const;
export const PictureStatus = { NoPhoto: 173 } as const;
export const ValidateStatus = { Success: 1, ProtocolError: 2, ServerError: 17 } as const;

/** MS-ASCMD 3.1.5.8: more To elements than this is a protocol error (Status 5). */
export const MAX_TO = 100;
export const MAX_TO_LENGTH = 256;
/** MaxCertificates and MaxAmbiguousRecipients are limited to 0-9999. */
export const MAX_OPTION_VALUE = 9999;
/** Suggestions per ambiguous name when the client sets no MaxAmbiguousRecipients. */
export const DEFAULT_MAX_AMBIGUOUS = 20;
/** A group larger than this gets Availability Status 161: merged free/busy of so many says nothing. */
export const MAX_GROUP_FOR_AVAILABILITY = 20;
/** People whose free/busy one request may ask for (group members counted); beyond, Status 160. */
export const MAX_AVAILABILITY_RECIPIENTS = 100;
/**
 * People whose certificates one request may look up (group members counted). A recipient that
 * would pass it gets Status 8 without a CertificateCount: the work and the response stay bounded
 * however large the groups are.
 */
export const MAX_CERTIFICATE_PEOPLE = 10_000;
export const FREE_BUSY_SLOT_MINUTES = 30;
/** Exchange's limit on the span of a free/busy request (MS-ASCMD EndTime, product note). */
export const MAX_AVAILABILITY_DAYS = 42;
/** MS-ASCMD 3.1.5.8: more Certificate elements than this is a protocol error (Status 2). */
export const MAX_VALIDATE_CERTIFICATES = 100;
const MAX_PICTURE_SIZE = 999_999_999;

const MINUTE = 60_000;

class ProtocolError extends Error {}

function reasonHeader(reason: string): Record<string, string> {
  return { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) };
}

// ---- ResolveRecipients ------------------------------------------------------------------

interface ResolveRequest {
  to: string[];
  /** 1 none, 2 full certificates, 3 one mini-certificate blob. */
  retrieval: 1 | 2 | 3;
  /** Certificates the whole response may carry (the most a client may ask for when it does not say). */
  maxCertificates: number;
  maxAmbiguous: number;
  availability?: { start: Date; slots: number };
  picture: boolean;
}

/** The only element of its kind among `el`'s children, or undefined; twice is a protocol error. */
function single(el: WbxmlElement, tag: string): WbxmlElement | undefined {
  const found = childrenOf(el, tag);
  if (found.length > 1) throw new ProtocolError(`${tag} given ${found.length} times`);
  return found[0];
}

function onlyChildren(el: WbxmlElement, allowed: readonly string[]): void {
  const other = el.children.find((c) => !allowed.includes(c.tag));
  if (other) throw new ProtocolError(`${el.tag} may not contain ${other.tag}`);
}

function textOf(el: WbxmlElement): string {
  if (el.children.length > 0) throw new ProtocolError(`${el.tag} must hold text`);
  return el.text ?? el.opaque?.toString('utf8') ?? '';
}

function integerOption(el: WbxmlElement | undefined, max: number): number | undefined {
  if (!el) return undefined;
  const t = textOf(el).trim();
  if (!/^\d{1,10}$/.test(t) || Number(t) > max) throw new ProtocolError(`${el.tag} ${t.slice(0, 20)} is not an integer from 0 to ${max}`);
  return Number(t);
}

/** EAS date-times: 2013-08-11T10:00:00.000Z, or the compact 20130811T100000Z. */
function easTime(el: WbxmlElement | undefined, what: string): Date {
  if (!el) throw new ProtocolError(`Availability needs ${what}`);
  const t = textOf(el).trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z$/.exec(t) ?? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})()Z$/.exec(t);
  if (!m) throw new ProtocolError(`${what} ${t.slice(0, 40)} is not a UTC date-time`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new ProtocolError(`${what} ${t} is not a real date-time`);
  }
  return date;
}

function readResolveRequest(ctx: CommandContext): ResolveRequest {
  const req = ctx.request;
  if (!req) throw new ProtocolError('the request has no body');
  onlyChildren(req, ['ResolveRecipients:To', 'ResolveRecipients:Options']);
  const to = childrenOf(req, 'ResolveRecipients:To').map(textOf);
  if (to.length === 0) throw new ProtocolError('no To element');
  if (to.length > MAX_TO) throw new ProtocolError(`${to.length} To elements, at most ${MAX_TO}`);
  for (const t of to) {
    if (t.trim() === '') throw new ProtocolError('a To element is empty');
    if ([...t].length > MAX_TO_LENGTH) throw new ProtocolError(`a To element is longer than ${MAX_TO_LENGTH} characters`);
  }
  const out: ResolveRequest = { to, retrieval: 1, maxCertificates: MAX_OPTION_VALUE, maxAmbiguous: DEFAULT_MAX_AMBIGUOUS, picture: false };
  const options = single(req, 'ResolveRecipients:Options');
  if (!options) return out;
  onlyChildren(options, [
    'ResolveRecipients:CertificateRetrieval', 'ResolveRecipients:MaxCertificates', 'ResolveRecipients:MaxAmbiguousRecipients',
    'ResolveRecipients:Availability', 'ResolveRecipients:Picture',
  ]);
  const retrieval = single(options, 'ResolveRecipients:CertificateRetrieval');
  if (retrieval) {
    const t = textOf(retrieval).trim();
    if (t !== '1' && t !== '2' && t !== '3') throw new ProtocolError(`CertificateRetrieval ${t.slice(0, 20)} is not 1, 2 or 3`);
    out.retrieval = Number(t) as 1 | 2 | 3;
  }
  out.maxCertificates = integerOption(single(options, 'ResolveRecipients:MaxCertificates'), MAX_OPTION_VALUE) ?? MAX_OPTION_VALUE;
  out.maxAmbiguous = integerOption(single(options, 'ResolveRecipients:MaxAmbiguousRecipients'), MAX_OPTION_VALUE) ?? DEFAULT_MAX_AMBIGUOUS;

  const availability = single(options, 'ResolveRecipients:Availability');
  if (availability) {
    if (ctx.version < V140) throw new ProtocolError('Availability needs protocol version 14.0 or later');
    onlyChildren(availability, ['ResolveRecipients:StartTime', 'ResolveRecipients:EndTime']);
    const start = easTime(single(availability, 'ResolveRecipients:StartTime'), 'StartTime');
    const end = easTime(single(availability, 'ResolveRecipients:EndTime'), 'EndTime');
    const span = end.getTime() - start.getTime();
    if (span < FREE_BUSY_SLOT_MINUTES * MINUTE) throw new ProtocolError(`EndTime is not at least ${FREE_BUSY_SLOT_MINUTES} minutes after StartTime`);
    if (span > MAX_AVAILABILITY_DAYS * 24 * 60 * MINUTE) throw new ProtocolError(`StartTime to EndTime spans more than ${MAX_AVAILABILITY_DAYS} days`);
    out.availability = { start, slots: Math.ceil(span / (FREE_BUSY_SLOT_MINUTES * MINUTE)) };
  }
  const picture = single(options, 'ResolveRecipients:Picture');
  if (picture) {
    if (ctx.version < V141) throw new ProtocolError('Picture needs protocol version 14.1 or later');
    onlyChildren(picture, ['ResolveRecipients:MaxSize', 'ResolveRecipients:MaxPictures']);
    integerOption(single(picture, 'ResolveRecipients:MaxSize'), MAX_PICTURE_SIZE);
    integerOption(single(picture, 'ResolveRecipients:MaxPictures'), MAX_OPTION_VALUE);
    out.picture = true;
  }
  return out;
}

/**
 * One digit string for a group: per slot the strongest state any member has (out of office over
 * busy over tentative over free); "no data" only where no member has data.
 */
export function mergeFreeBusy(strings: readonly string[], slots: number): string {
  let out = '';
  for (let i = 0; i < slots; i++) {
    let best = -1;
    for (const s of strings) {
      const d = s.charCodeAt(i) - 48;
      if (d >= 0 && d <= 3 && d > best) best = d;
    }
    out += best < 0 ? '4' : String(best);
  }
  return out;
}

/** What one response may still hand out or look up; shared by all its recipients, in order. */
interface ResolveBudget { certificates: number; certificatePeople: number; availabilityPeople: number }

export async function resolveRecipients(ctx: CommandContext): Promise<CommandResult> {
  let request: ResolveRequest;
  try {
    request = readResolveRequest(ctx);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return { kind: 'wbxml', body: RR('ResolveRecipients', RR('Status', ResolveStatus.ProtocolError)), headers: reasonHeader(e.message) };
  }
  try {
    const budget: ResolveBudget = { certificates: request.maxCertificates, certificatePeople: MAX_CERTIFICATE_PEOPLE, availabilityPeople: MAX_AVAILABILITY_RECIPIENTS };
    const responses: WbxmlElement[] = [];
    for (const to of request.to) responses.push(await resolveOne(ctx, request, to, budget));
    return { kind: 'wbxml', body: RR('ResolveRecipients', RR('Status', ResolveStatus.Success), responses) };
  } catch (e) {
    ctx.log({ level: 'error', msg: 'ResolveRecipients failed', error: e instanceof Error ? e.stack : String(e) });
    return { kind: 'wbxml', body: RR('ResolveRecipients', RR('Status', ResolveStatus.ServerError)), headers: reasonHeader('server error while resolving recipients') };
  }
}

async function resolveOne(ctx: CommandContext, request: ResolveRequest, to: string, budget: ResolveBudget): Promise<WbxmlElement> {
  const dir = ctx.backend.directory;
  // At least one entry even for MaxAmbiguousRecipients 0: a name that resolves is no suggestion.
  const found = dir.resolveName(ctx.principal, to, Math.max(1, request.maxAmbiguous));
  if (found.total === 0) return RR('Response', RR('To', to), RR('Status', ResponseStatus.NotFound), RR('RecipientCount', 0));
  if (found.match === 'exact' || found.total === 1) {
    return RR('Response', RR('To', to), RR('Status', ResponseStatus.Resolved), RR('RecipientCount', 1),
      await resolvedRecipient(ctx, request, found.entries[0]!, budget));
  }
  // Ambiguous: suggestions only, never certificates or free/busy (MS-ASCMD Status 2 and 3, To).
  // RecipientCount tells how many matched, so a client can see what a partial list left out.
  const suggestions = found.entries.slice(0, request.maxAmbiguous);
  const status = suggestions.length < found.total ? ResponseStatus.AmbiguousPartial : ResponseStatus.Ambiguous;
  return RR('Response', RR('To', to), RR('Status', status), RR('RecipientCount', found.total),
    suggestions.map((r) => RR('Recipient', identity(r), request.picture && picture())));
}

function identity(r: DirectoryRecipient): WbxmlElement[] {
  // Type 2 is a contact from the user's own Contacts folder; every entry here is from the GAL.
  return [RR('Type', 1), RR('DisplayName', r.displayName), RR('EmailAddress', r.emailAddress)];
}

function picture(): WbxmlElement {
  // The directory holds no photos.
  return RR('Picture', RR('Status', PictureStatus.NoPhoto));
}

async function resolvedRecipient(ctx: CommandContext, request: ResolveRequest, r: DirectoryRecipient, budget: ResolveBudget): Promise<WbxmlElement> {
  return RR('Recipient', identity(r),
    request.availability && availability(ctx, request.availability, r, budget),
    request.retrieval !== 1 && await certificates(ctx, request.retrieval, r, budget),
    request.picture && picture());
}

/** A group's members (at most `limit`, and how many there are), or the person alone. */
function people(ctx: CommandContext, r: DirectoryRecipient, limit: number): { group: boolean; total: number; members: DirectoryRecipient[] } {
  if (r.kind !== 'group') return { group: false, total: 1, members: [r] };
  const m = ctx.backend.directory.members(ctx.principal, r.emailAddress, limit);
  return { group: true, total: m.total, members: m.members };
}

function availability(ctx: CommandContext, span: { start: Date; slots: number }, r: DirectoryRecipient, budget: ResolveBudget): WbxmlElement {
  const who = people(ctx, r, MAX_GROUP_FOR_AVAILABILITY);
  if (who.group && who.total > MAX_GROUP_FOR_AVAILABILITY) return RR('Availability', RR('Status', AvailabilityStatus.GroupTooLarge));
  if (who.total > budget.availabilityPeople) return RR('Availability', RR('Status', AvailabilityStatus.TooManyRecipients));
  budget.availabilityPeople -= who.total;
  const each = who.members.map((m) => ctx.backend.directory.freeBusy(ctx.principal, m.emailAddress, span.start, FREE_BUSY_SLOT_MINUTES, span.slots));
  const merged = who.group ? mergeFreeBusy(each, span.slots) : each[0]!;
  return RR('Availability', RR('Status', AvailabilityStatus.Success), RR('MergedFreeBusy', merged));
}

async function certificates(ctx: CommandContext, retrieval: 2 | 3, r: DirectoryRecipient, budget: ResolveBudget): Promise<WbxmlElement> {
  const dir = ctx.backend.directory;
  const who = people(ctx, r, budget.certificatePeople);
  const recipientCount = who.group && RR('RecipientCount', who.total);
  if (who.total > budget.certificatePeople) return RR('Certificates', RR('Status', CertificatesStatus.LimitReached), recipientCount);
  budget.certificatePeople -= who.total;
  const found: Buffer[] = [];
  for (const person of who.members) found.push(...await dir.encryptionCertificates(ctx.principal, person.emailAddress));
  const counts = [RR('CertificateCount', found.length), recipientCount];
  if (found.length === 0) return RR('Certificates', RR('Status', CertificatesStatus.NoValidCertificate), counts);
  // A recipient gets all its certificates or none (MS-ASCMD MaxCertificates).
  if (found.length > budget.certificates) return RR('Certificates', RR('Status', CertificatesStatus.LimitReached), counts);
  budget.certificates -= found.length;
  return RR('Certificates', RR('Status', CertificatesStatus.Success), counts,
    retrieval === 2
      ? found.map((der) => RR('Certificate', der.toString('base64')))
      : RR('MiniCertificate', dir.miniCertificate(found).toString('base64')));
}

// ---- ValidateCert -------------------------------------------------------------------------

/** MS-ASCMD 2.2.3.177.18, per certificate. Status 12 (address) and 14 (CRL server offline) are never sent. */
const CERTIFICATE_STATUS: Readonly<Record<CertificateProblem, number>> = {
  'bad-signature': 3,
  'untrusted-root': 4,
  'chain-invalid': 5,
  'not-for-signing': 6,
  expired: 7,
  'validity-not-nested': 8,
  'wrong-purpose': 9,
  malformed: 10,
  'ca-as-end-entity': 11,
  'end-entity-as-ca': 11,
  revoked: 13,
  'ca-revoked': 15,
  'revocation-unknown': 16,
};

export function certificateStatus(check: CertificateCheck): number {
  return check.valid || !check.problem ? 1 : CERTIFICATE_STATUS[check.problem];
}

/** Base64 text as sent in Certificate elements; undefined when it is not base64. */
function base64Of(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64');
}

/** A Certificate element's bytes: base64 text, or opaque data that is either base64 text or DER. */
function certificateBytes(el: WbxmlElement): Buffer {
  if (el.children.length > 0) throw new ProtocolError('Certificate must hold base64 text');
  if (el.opaque) return base64Of(el.opaque.toString('latin1')) ?? el.opaque;
  return base64Of(el.text ?? '') ?? Buffer.alloc(0);
}

function readCertificateList(el: WbxmlElement, min: number): Buffer[] {
  onlyChildren(el, ['ValidateCert:Certificate']);
  const certs = childrenOf(el, 'ValidateCert:Certificate');
  if (certs.length < min) throw new ProtocolError(`${el.tag} holds no Certificate`);
  if (certs.length > MAX_VALIDATE_CERTIFICATES) throw new ProtocolError(`${el.tag} holds ${certs.length} certificates, at most ${MAX_VALIDATE_CERTIFICATES}`);
  return certs.map(certificateBytes);
}

export async function validateCert(ctx: CommandContext): Promise<CommandResult> {
  let certificates: Buffer[];
  let chain: Buffer[];
  let revocationRequired: boolean;
  try {
    const req = ctx.request;
    if (!req) throw new ProtocolError('the request has no body');
    onlyChildren(req, ['ValidateCert:Certificates', 'ValidateCert:CertificateChain', 'ValidateCert:CheckCRL']);
    const list = single(req, 'ValidateCert:Certificates');
    if (!list) throw new ProtocolError('no Certificates element');
    certificates = readCertificateList(list, 1);
    const chainEl = single(req, 'ValidateCert:CertificateChain');
    chain = chainEl ? readCertificateList(chainEl, 0) : [];
    const crl = single(req, 'ValidateCert:CheckCRL');
    const crlText = crl ? textOf(crl).trim() : '0';
    if (crlText !== '0' && crlText !== '1') throw new ProtocolError(`CheckCRL ${crlText.slice(0, 20)} is not 0 or 1`);
    revocationRequired = crlText === '1';
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return { kind: 'wbxml', body: VC('ValidateCert', VC('Status', ValidateStatus.ProtocolError)), headers: reasonHeader(e.message) };
  }
  let checks: CertificateCheck[];
  try {
    checks = await ctx.backend.directory.checkCertificates(ctx.principal, { certificates, chain, revocationRequired });
  } catch (e) {
    ctx.log({ level: 'error', msg: 'ValidateCert failed', error: e instanceof Error ? e.stack : String(e) });
    return { kind: 'wbxml', body: VC('ValidateCert', VC('Status', ValidateStatus.ServerError)), headers: reasonHeader('server error while validating certificates') };
  }
  const firstBad = checks.findIndex((c) => !c.valid);
  return {
    kind: 'wbxml',
    body: VC('ValidateCert', VC('Status', ValidateStatus.Success), checks.map((c) => VC('Certificate', VC('Status', certificateStatus(c))))),
    ...(firstBad >= 0 ? { headers: reasonHeader(`certificate ${firstBad + 1}: ${checks[firstBad]!.detail}`) } : {}),
  };
}
