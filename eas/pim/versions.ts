// An item as a device of each protocol version reads it. Items are kept as the device that wrote
// them described them (eas/pim/items.ts); a phone on 16.1 and a tablet on 14.1 share a calendar,
// and the places where the versions differ are few: where the location lives (Calendar:Location up
// to 14.1, AirSyncBase:Location from 16.0), where the body lives (the class's own Body in 2.5,
// AirSyncBase:Body from 12.0), and elements a version does not have, which it is not sent.
import { childText, x, type WbxmlElement } from '../wbxml/tree.js';
import { V120, V140, V141, V160, V161 } from '../version.js';
import { compactDate, parseEasDate, PROPOSAL_TAGS, type PimClass } from './items.js';
import { bodyElement } from '../email/render.js';
import { htmlToPlainText, textToHtml } from '../email/html.js';
import { previewOf } from '../email/preview.js';
import type { BodyPreference } from '../email/options.js';

/** Calendar elements by the first version that has them (MS-ASCAL; eas-protocol.md code page 4). */
const CALENDAR_SINCE: ReadonlyArray<[number, ReadonlySet<string>]> = [
  [V120, new Set(['Calendar:AttendeeStatus', 'Calendar:AttendeeType'])],
  [V140, new Set(['Calendar:DisallowNewTimeProposal', 'Calendar:ResponseRequested', 'Calendar:AppointmentReplyTime',
    'Calendar:ResponseType', 'Calendar:CalendarType', 'Calendar:IsLeapMonth'])],
  [V141, new Set(['Calendar:FirstDayOfWeek', 'Calendar:OnlineMeetingConfLink', 'Calendar:OnlineMeetingExternalLink'])],
  [V160, new Set(['Calendar:ClientUid'])],
  // An attendee's counter-proposal on the organizer's item (MS-ASCAL 2.2.2.3).
  [V161, PROPOSAL_TAGS],
];

/** The class's own body element, which 2.5 reads instead of AirSyncBase:Body. */
const LEGACY_BODY: Readonly<Partial<Record<PimClass, string>>> = { Contacts: 'Contacts:Body', Calendar: 'Calendar:Body', Tasks: 'Tasks:Body' };

/**
 * The stored ApplicationData as a device of `version` (x10) reads it, its body cut to what the
 * device's BodyPreference for that body type asks; the stored element is not changed.
 */
export function pimDataForVersion(cls: PimClass, data: WbxmlElement, version: number, preferences: readonly BodyPreference[] = []): WbxmlElement {
  let children = data.children;
  const legacyBody = LEGACY_BODY[cls];
  if (legacyBody) children = bodyForVersion(children, legacyBody, version);
  if (version >= V120 && preferences.length > 0) children = children.map((c) => (c.tag === 'AirSyncBase:Body' ? bodyAsPreferred(c, preferences, version) : c));
  if (cls === 'Calendar') {
    children = locationForVersion(children, version);
    children = children.map((c) => (c.tag === 'Calendar:Exceptions' ? exceptionsForVersion(c, version) : c));
    const absent = new Set(CALENDAR_SINCE.filter(([since]) => version < since).flatMap(([, tags]) => [...tags]));
    if (absent.size > 0) children = children.map((c) => without(c, absent)).filter((c): c is WbxmlElement => c !== undefined);
  }
  return children === data.children ? data : { ...data, children };
}

/**
 * MS-ASAIRS Body as a device asked for it: the stored type when it is among those asked for, else
 * the first of text and HTML asked for, converted as Exchange converts (RTF, which a device may have
 * stored, is not); cut to that preference's TruncationSize, with its full size and whether it was
 * cut; AllOrNone sends no Data rather than a cut one.
 */
function bodyAsPreferred(body: WbxmlElement, preferences: readonly BodyPreference[], version: number): WbxmlElement {
  const stored = Number(childText(body, 'AirSyncBase:Type') ?? '1');
  const data = childText(body, 'AirSyncBase:Data') ?? '';
  // The text of an HTML body, converted once for the body and the preview alike.
  let asText: string | undefined;
  const text = (): string => (asText ??= stored === 2 ? htmlToPlainText(data) : data);
  let type = stored;
  let full = data;
  let pref = preferences.find((p) => p.type === stored);
  if (!pref) {
    const convertible = stored === 1 || stored === 2 ? preferences.find((p) => p.type === 1 || p.type === 2) : undefined;
    pref = convertible ?? preferences[0]!;
    if (convertible) {
      type = convertible.type;
      full = type === 2 ? textToHtml(data) : text();
    }
  }
  const preview = version >= V140 && pref.preview !== undefined && pref.preview > 0 ? previewOf(text(), pref.preview) : undefined;
  return bodyElement(type, full, pref.truncationSize, pref.allOrNone, preview);
}

function bodyForVersion(children: WbxmlElement[], legacyBody: string, version: number): WbxmlElement[] {
  const modern = children.find((c) => c.tag === 'AirSyncBase:Body');
  const legacy = children.find((c) => c.tag === legacyBody);
  const legacyParts = new Set([legacyBody, `${legacyBody}Truncated`, `${legacyBody}Size`]);
  if (modern && legacy) return children.filter((c) => (version < V120 ? c !== modern : !legacyParts.has(c.tag)));
  if (version < V120 && modern && !legacy) {
    // 2.5's body is plain text.
    const data = childText(modern, 'AirSyncBase:Data') ?? '';
    const text = childText(modern, 'AirSyncBase:Type') === '2' ? htmlToPlainText(data) : data;
    // 2.5 pairs the body with BodyTruncated; PIM bodies go out whole.
    return children.flatMap((c) => (c === modern ? [x(legacyBody, text), x(`${legacyBody}Truncated`, 0)] : [c]));
  }
  if (version >= V120 && legacy && !modern) {
    return children
      .filter((c) => c === legacy || !legacyParts.has(c.tag))
      .map((c) => (c === legacy ? x('AirSyncBase:Body', x('AirSyncBase:Type', 1), x('AirSyncBase:Data', legacy.text ?? '')) : c));
  }
  return children;
}

function locationForVersion(children: WbxmlElement[], version: number): WbxmlElement[] {
  const old = children.find((c) => c.tag === 'Calendar:Location');
  const current = children.find((c) => c.tag === 'AirSyncBase:Location');
  // A device that sent both forms: each version reads its own.
  if (old && current) return children.filter((c) => c !== (version >= V160 ? old : current));
  if (version >= V160 && old && !current) {
    return children.map((c) => (c === old ? x('AirSyncBase:Location', x('AirSyncBase:DisplayName', old.text ?? '')) : c));
  }
  if (version < V160 && current && !old) {
    const name = childText(current, 'AirSyncBase:DisplayName') ?? '';
    return children.map((c) => (c === current ? x('Calendar:Location', name) : c));
  }
  return children;
}

/**
 * An Exception names its occurrence by ExceptionStartTime up to 14.1 and by AirSyncBase:InstanceId
 * from 16.0, and holds its location in the version's form too.
 */
function exceptionsForVersion(list: WbxmlElement, version: number): WbxmlElement {
  const [from, to] = version >= V160 ? ['Calendar:ExceptionStartTime', 'AirSyncBase:InstanceId'] : ['AirSyncBase:InstanceId', 'Calendar:ExceptionStartTime'];
  let changed = false;
  const children = list.children.map((e) => {
    let parts = locationForVersion(e.children, version);
    // An occurrence's own attendees (and their answers) are 14.0's and later (MS-ASCAL 2.2.2.4).
    if (version < V140 && parts.some((c) => c.tag === 'Calendar:Attendees')) parts = parts.filter((c) => c.tag !== 'Calendar:Attendees');
    const named = parts.find((c) => c.tag === from);
    const at = parseEasDate(named?.text);
    if (named && at !== undefined && !parts.some((c) => c.tag === to)) {
      const text = to === 'AirSyncBase:InstanceId' ? new Date(at).toISOString() : compactDate(at);
      parts = parts.map((c) => (c === named ? x(to, text) : c));
    }
    if (parts === e.children) return e;
    changed = true;
    return { ...e, children: parts };
  });
  return changed ? { ...list, children } : list;
}

/** The element without the descendants a version lacks; undefined when it is one. */
function without(el: WbxmlElement, absent: ReadonlySet<string>): WbxmlElement | undefined {
  if (absent.has(el.tag)) return undefined;
  if (el.children.length === 0) return el;
  const kept = el.children.map((c) => without(c, absent)).filter((c): c is WbxmlElement => c !== undefined);
  return kept.length === el.children.length && kept.every((c, i) => c === el.children[i]) ? el : { ...el, children: kept };
}

/** The forms one property takes across versions: a device that sends one form replaces the other. */
const FORMS: ReadonlyArray<readonly string[]> = [
  ['Calendar:Location', 'AirSyncBase:Location'],
  ['AirSyncBase:Body', 'Calendar:Body', 'Contacts:Body', 'Tasks:Body'],
];

/** The tag and the other forms of the same property. */
export function formsOf(tag: string): readonly string[] {
  return FORMS.find((f) => f.includes(tag)) ?? [tag];
}
