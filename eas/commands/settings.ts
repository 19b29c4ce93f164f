// Settings (MS-ASCMD 2.2.1.18): Oof, DeviceInformation, DevicePassword, UserInformation and
// RightsManagementInformation, each answered with a status of its own. A section is checked whole
// before it is applied, so a bad one changes nothing and does not hold back the others.
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V121, V140, V141 } from '../version.js';
import type { DeviceInformation } from '../backend.js';
import type { OofAudience, OofBodyType, OofChange, OofMessage, OofSettings, OofState } from '../ports/settings.js';
import { easDate } from '../email/render.js';
import type { CommandContext, CommandResult } from './context.js';

const S = ns('Settings');
const RM = ns('RightsManagement');

export const SettingsStatus = {
  Success: 1, ProtocolError: 2, AccessDenied: 3, ServerUnavailable: 4, InvalidArguments: 5, ConflictingArguments: 6,
  DeniedByPolicy: 7,
} as const;

export const MAX_DEVICE_PASSWORD = 255;
export const MAX_OOF_MESSAGE = 64 * 1024;
const MAX_DEVICE_FIELD = 1024;

const AUDIENCE_TAGS: ReadonlyArray<[string, OofAudience]> = [
  ['Settings:AppliesToInternal', 'internal'],
  ['Settings:AppliesToExternalKnown', 'externalKnown'],
  ['Settings:AppliesToExternalUnknown', 'externalUnknown'],
];

const SECTIONS = new Set(['Settings:Oof', 'Settings:DeviceInformation', 'Settings:DevicePassword', 'Settings:UserInformation', 'Settings:RightsManagementInformation']);

class SectionFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** A checked section: `apply` performs it and gives the section's answer. */
interface Section { apply: () => WbxmlElement }

function bodyType(text: string | undefined, what: string): OofBodyType {
  const t = (text ?? '').trim().toLowerCase();
  if (t === 'text') return 'Text';
  if (t === 'html') return 'HTML';
  throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} must be Text or HTML`);
}

/** EAS dates: 2024-05-01T08:00:00.000Z (seconds, fractions and the zone are optional in what clients send). */
function easDateValue(text: string | undefined, what: string): Date {
  const t = (text ?? '').trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} is not a date and time`);
  }
  const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? t : `${t}Z`);
  if (Number.isNaN(ms)) throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} is not a date and time`);
  return new Date(ms);
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A crude, linear HTML-to-text for replies stored as HTML and asked for as text. */
function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    .replace(/[ \t]+\n/g, '\n')
    .trim();
}

function convertReply(reply: string, from: OofBodyType, to: OofBodyType): string {
  if (from === to) return reply;
  if (to === 'Text') return htmlToText(reply);
  return `<html><body>${escapeHtml(reply).replace(/\r?\n/g, '<br>')}</body></html>`;
}

function oofGet(settings: OofSettings, wanted: OofBodyType): WbxmlElement {
  return S('Get',
    S('OofState', settings.state),
    settings.state === 2 && settings.start && S('StartTime', easDate(settings.start)),
    settings.state === 2 && settings.end && S('EndTime', easDate(settings.end)),
    AUDIENCE_TAGS.map(([tag, audience]) => {
      const m = settings.messages.find((x) => x.audience === audience);
      const reply = m?.reply !== undefined ? convertReply(m.reply, m.bodyType ?? 'Text', wanted) : undefined;
      return S('OofMessage',
        S(tag.slice('Settings:'.length) as 'AppliesToInternal'),
        S('Enabled', m?.enabled ? 1 : 0),
        reply !== undefined && reply !== '' && [S('ReplyMessage', reply), S('BodyType', wanted)]);
    }),
  );
}

function readOofSet(set: WbxmlElement): OofChange {
  const stateText = childText(set, 'Settings:OofState');
  if (stateText === undefined) throw new SectionFailure(SettingsStatus.ProtocolError, 'Oof Set needs OofState');
  const st = stateText.trim();
  if (!/^[012]$/.test(st)) throw new SectionFailure(SettingsStatus.InvalidArguments, 'OofState must be 0, 1 or 2');
  const state = Number(st) as OofState;
  const startText = childText(set, 'Settings:StartTime');
  const endText = childText(set, 'Settings:EndTime');
  const start = startText === undefined ? undefined : easDateValue(startText, 'StartTime');
  const end = endText === undefined ? undefined : easDateValue(endText, 'EndTime');
  if (state === 2 && (start === undefined || end === undefined)) {
    throw new SectionFailure(SettingsStatus.ProtocolError, 'OofState 2 (time-based) needs StartTime and EndTime');
  }
  if (start && end && end.getTime() <= start.getTime()) {
    throw new SectionFailure(SettingsStatus.ConflictingArguments, 'EndTime must be after StartTime');
  }
  const messages: OofMessage[] = [];
  for (const m of childrenOf(set, 'Settings:OofMessage')) {
    const audiences = AUDIENCE_TAGS.filter(([tag]) => child(m, tag) !== undefined);
    if (audiences.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'each OofMessage names exactly one audience (AppliesTo...)');
    const audience = audiences[0]![1];
    if (messages.some((x) => x.audience === audience)) {
      throw new SectionFailure(SettingsStatus.ConflictingArguments, `two OofMessages for the same audience (${audience})`);
    }
    const enabledText = childText(m, 'Settings:Enabled');
    if (enabledText === undefined) throw new SectionFailure(SettingsStatus.ProtocolError, 'OofMessage needs Enabled');
    if (!/^[01]$/.test(enabledText.trim())) throw new SectionFailure(SettingsStatus.InvalidArguments, 'Enabled must be 0 or 1');
    const reply = childText(m, 'Settings:ReplyMessage');
    const typeText = childText(m, 'Settings:BodyType');
    if (reply !== undefined && typeText === undefined) throw new SectionFailure(SettingsStatus.ProtocolError, 'ReplyMessage needs BodyType');
    if (reply !== undefined && reply.length > MAX_OOF_MESSAGE) {
      throw new SectionFailure(SettingsStatus.InvalidArguments, `ReplyMessage is longer than ${MAX_OOF_MESSAGE} characters`);
    }
    messages.push({
      audience, enabled: enabledText.trim() === '1', reply,
      bodyType: typeText === undefined ? undefined : bodyType(typeText, 'BodyType'),
    });
  }
  return { state, start, end, messages };
}

function oofSection(ctx: CommandContext, el: WbxmlElement): Section {
  const get = child(el, 'Settings:Get');
  const set = child(el, 'Settings:Set');
  if ((get ? 1 : 0) + (set ? 1 : 0) !== 1 || el.children.length !== 1) {
    throw new SectionFailure(SettingsStatus.ProtocolError, 'Oof holds either Get or Set');
  }
  if (get) {
    const wanted = bodyType(childText(get, 'Settings:BodyType'), 'Oof Get BodyType');
    return { apply: () => S('Oof', S('Status', 1), oofGet(ctx.backend.settings.oof(ctx.principal), wanted)) };
  }
  const change = readOofSet(set!);
  return {
    apply: () => {
      ctx.backend.settings.setOof(ctx.principal, change);
      return S('Oof', S('Status', 1));
    },
  };
}

const DEVICE_FIELDS: ReadonlyArray<[string, keyof DeviceInformation, number]> = [
  ['Model', 'model', 0], ['IMEI', 'imei', 0], ['FriendlyName', 'friendlyName', 0], ['OS', 'os', 0],
  ['OSLanguage', 'osLanguage', 0], ['PhoneNumber', 'phoneNumber', 0], ['UserAgent', 'userAgent', V121],
  ['EnableOutboundSMS', 'enableOutboundSms', V140], ['MobileOperator', 'mobileOperator', V140],
];

function deviceInformationSection(ctx: CommandContext, el: WbxmlElement): Section {
  const set = child(el, 'Settings:Set');
  if (!set || el.children.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'DeviceInformation holds a Set');
  const info: DeviceInformation = {};
  for (const c of set.children) {
    const name = c.tag.startsWith('Settings:') ? c.tag.slice('Settings:'.length) : '';
    const field = DEVICE_FIELDS.find(([n]) => n === name);
    if (!field) throw new SectionFailure(SettingsStatus.ProtocolError, `unexpected element ${c.tag} in DeviceInformation Set`);
    if (ctx.version < field[2]) throw new SectionFailure(SettingsStatus.ProtocolError, `${name} does not exist in this protocol version`);
    const value = c.text ?? c.opaque?.toString('utf8') ?? '';
    if (value.length > MAX_DEVICE_FIELD) throw new SectionFailure(SettingsStatus.InvalidArguments, `${name} is longer than ${MAX_DEVICE_FIELD} characters`);
    if (field[1] === 'enableOutboundSms' && !/^[01]$/.test(value.trim())) {
      throw new SectionFailure(SettingsStatus.InvalidArguments, 'EnableOutboundSMS must be 0 or 1');
    }
    info[field[1]] = value;
  }
  return {
    apply: () => {
      ctx.backend.setDeviceInformation(ctx.device, info);
      return S('DeviceInformation', S('Status', 1));
    },
  };
}

function devicePasswordSection(ctx: CommandContext, el: WbxmlElement): Section {
  const set = child(el, 'Settings:Set');
  if (!set || el.children.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'DevicePassword holds a Set');
  const pw = child(set, 'Settings:Password');
  if (!pw || set.children.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'DevicePassword Set holds a Password');
  const password = pw.text ?? pw.opaque?.toString('utf8') ?? '';
  if ([...password].length > MAX_DEVICE_PASSWORD) {
    throw new SectionFailure(SettingsStatus.InvalidArguments, `the recovery password is longer than ${MAX_DEVICE_PASSWORD} characters`);
  }
  return {
    apply: () => {
      ctx.backend.settings.setDevicePassword(ctx.principal, ctx.device, password);
      return S('DevicePassword', S('Status', 1));
    },
  };
}

function userInformationSection(ctx: CommandContext, el: WbxmlElement): Section {
  if (!child(el, 'Settings:Get') || el.children.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'UserInformation holds a Get');
  const p = ctx.principal;
  return {
    apply: () => S('UserInformation', S('Status', 1), S('Get',
      ctx.version >= V141
        ? S('Accounts', S('Account',
          S('AccountName', p.address),
          S('UserDisplayName', p.displayName),
          S('EmailAddresses', S('SMTPAddress', p.address), S('PrimarySmtpAddress', p.address))))
        : S('EmailAddresses', S('SMTPAddress', p.address)))),
  };
}

function rightsManagementSection(ctx: CommandContext, el: WbxmlElement): Section {
  if (ctx.version < V141) throw new SectionFailure(SettingsStatus.ProtocolError, 'RightsManagementInformation exists from protocol 14.1');
  if (!child(el, 'Settings:Get') || el.children.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'RightsManagementInformation holds a Get');
  // No IRM templates are configured: the list is empty.
  return { apply: () => S('RightsManagementInformation', S('Status', 1), S('Get', RM('RightsManagementTemplates'))) };
}

function section(ctx: CommandContext, el: WbxmlElement): Section {
  switch (el.tag) {
    case 'Settings:Oof': return oofSection(ctx, el);
    case 'Settings:DeviceInformation': return deviceInformationSection(ctx, el);
    case 'Settings:DevicePassword': return devicePasswordSection(ctx, el);
    case 'Settings:UserInformation': return userInformationSection(ctx, el);
    default: return rightsManagementSection(ctx, el);
  }
}

export function settings(ctx: CommandContext): CommandResult {
  const answer = (status: number, reason: string | undefined, ...rest: Content[]): CommandResult => ({
    kind: 'wbxml',
    body: S('Settings', S('Status', status), ...rest),
    headers: reason ? { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } : undefined,
  });
  const req = ctx.request;
  if (!req || req.children.length === 0) return answer(SettingsStatus.ProtocolError, 'the Settings request names no section');
  const unknown = req.children.find((c) => !SECTIONS.has(c.tag));
  if (unknown) return answer(SettingsStatus.ProtocolError, `unexpected element ${unknown.tag} in Settings`);
  const tags = req.children.map((c) => c.tag);
  if (new Set(tags).size !== tags.length) return answer(SettingsStatus.ProtocolError, 'each Settings section may appear once');

  // Sections are independent: each is checked whole before it is applied, and answers for itself.
  const reasons: string[] = [];
  const answers = req.children.map((el) => {
    let checked: Section;
    try {
      checked = section(ctx, el);
    } catch (e) {
      if (!(e instanceof SectionFailure)) throw e;
      const tag = el.tag.slice('Settings:'.length) as 'Oof';
      reasons.push(`${tag}: ${e.message}`);
      return S(tag, S('Status', e.status));
    }
    return checked.apply();
  });
  return answer(SettingsStatus.Success, reasons.length > 0 ? reasons.join('; ') : undefined, answers);
}
