// Settings (MS-ASCMD 2.2.1.18): Oof, DeviceInformation, DevicePassword, UserInformation and
// RightsManagementInformation, answered in the order asked, each with a status of its own.
//
// Protocol decisions (see also /tmp/docs-search-settings.md):
// - A request that breaks the schema (an unknown element, a section twice, a section without its
//   Get or Set, a Set without a required child, an element the client's version does not have) is
//   answered with the top-level Status 2 and no section at all: processing cannot begin (R483).
//   Everything else is the section's own status, and the other sections still run (R484).
// - Each section is checked whole before it is applied, so a section that fails changes nothing.
// - Oof Set without OofState keeps the state; StartTime without EndTime (or the reverse) is Oof
//   Status 2 (R2272); EndTime not after StartTime is 6; a second message for one audience is 6.
//   The external-known and external-unknown replies may differ (Exchange 2013 and older refused that).
// - Oof Get answers BodyType spelt as the client asked ("TEXT", "Text", "html").
// - DevicePassword is Status 7 while the device policy says PasswordRecoveryEnabled 0: the server
//   told the device it keeps no recovery password, so it does not take one. Longer than 255
//   characters is Status 5 first.
// - UserInformation: 12.x and 14.0 get Get > EmailAddresses > SMTPAddress; 14.1 and later get
//   Get > Accounts > Account > EmailAddresses > SMTPAddress, PrimarySmtpAddress. Like Exchange, no
//   AccountId, AccountName, UserDisplayName or SendDisabled.
// - A store that fails under a section is that section's Status 4 (server unavailable).
import { child, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V121, V140, V141 } from '../version.js';
import type { DeviceInformation } from '../backend.js';
import type { OofAudience, OofBodyType, OofChange, OofMessage, OofSettings, OofState } from '../ports/settings.js';
import { easDate } from '../email/render.js';
import type { CommandContext, CommandResult } from './context.js';
import { escapeHtml, htmlToPlainText } from '../email/html.js';

const S = ns('Settings');
const RM = ns('RightsManagement');

export const SettingsStatus = {
  Success: 1, ProtocolError: 2, AccessDenied: 3, ServerUnavailable: 4, InvalidArguments: 5, ConflictingArguments: 6,
  DeniedByPolicy: 7,
} as const;

export const MAX_DEVICE_PASSWORD = 255;
export const MAX_OOF_MESSAGE = 64 * 1024;
export const MAX_DEVICE_FIELD = 1024;

type SectionName = 'Oof' | 'DeviceInformation' | 'DevicePassword' | 'UserInformation' | 'RightsManagementInformation';
const SECTIONS: ReadonlySet<string> = new Set<SectionName>(['Oof', 'DeviceInformation', 'DevicePassword', 'UserInformation', 'RightsManagementInformation']);

const AUDIENCE_TAGS: ReadonlyArray<[string, OofAudience]> = [
  ['Settings:AppliesToInternal', 'internal'],
  ['Settings:AppliesToExternalKnown', 'externalKnown'],
  ['Settings:AppliesToExternalUnknown', 'externalUnknown'],
];

const DEVICE_FIELDS: ReadonlyArray<[name: string, key: keyof DeviceInformation, since: number]> = [
  ['Model', 'model', 0], ['IMEI', 'imei', 0], ['FriendlyName', 'friendlyName', 0], ['OS', 'os', 0],
  ['OSLanguage', 'osLanguage', 0], ['PhoneNumber', 'phoneNumber', 0], ['UserAgent', 'userAgent', V121],
  ['EnableOutboundSMS', 'enableOutboundSms', V140], ['MobileOperator', 'mobileOperator', V140],
];

/** The request breaks the schema: top-level Status 2, no section answered. */
class SettingsProtocolError extends Error {}

/** One section fails with its own status; the others go on. */
class SectionFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** A section whose structure was checked: `run` checks its values, applies it and answers for it. */
interface Planned { name: SectionName; run: () => WbxmlElement }

const local = (tag: string): string => tag.slice(tag.indexOf(':') + 1);

/** Children of `el` must be among `allowed` (local names), each at most once unless listed in `repeatable`. */
function onlyChildren(el: WbxmlElement, allowed: readonly string[], repeatable: readonly string[] = []): void {
  const seen = new Set<string>();
  for (const c of el.children) {
    const name = c.tag.startsWith('Settings:') ? local(c.tag) : '';
    if (!allowed.includes(name)) throw new SettingsProtocolError(`${c.tag} cannot appear in ${local(el.tag)}`);
    if (seen.has(name) && !repeatable.includes(name)) throw new SettingsProtocolError(`${name} appears twice in ${local(el.tag)}`);
    seen.add(name);
  }
}

/** The one Get or Set a section holds. */
function operation(el: WbxmlElement, allowed: ReadonlyArray<'Get' | 'Set'>): WbxmlElement {
  const only = el.children.length === 1 ? el.children[0]! : undefined;
  if (!only || !allowed.some((op) => only.tag === `Settings:${op}`)) {
    throw new SettingsProtocolError(`${local(el.tag)} holds ${allowed.join(' or ')}`);
  }
  return only;
}

function value(el: WbxmlElement): string {
  if (el.children.length > 0) throw new SettingsProtocolError(`${local(el.tag)} holds elements where text belongs`);
  return el.text ?? el.opaque?.toString('utf8') ?? '';
}

/** "Text" or "HTML", in any case; the spelling is kept to answer in it. */
function bodyType(text: string, what: string): { type: OofBodyType; spelling: string } {
  const t = text.trim();
  if (t.toLowerCase() === 'text') return { type: 'Text', spelling: t };
  if (t.toLowerCase() === 'html') return { type: 'HTML', spelling: t };
  throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} must be Text or HTML`);
}

/** EAS dates: 2024-05-01T08:00:00.000Z (seconds, fractions and the zone are optional in what clients send). */
function dateValue(text: string, what: string): Date {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} is not a date and time`);
  }
  const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? t : `${t}Z`);
  if (Number.isNaN(ms)) throw new SectionFailure(SettingsStatus.InvalidArguments, `${what} is not a date and time`);
  return new Date(ms);
}

function convertReply(reply: string, from: OofBodyType, to: OofBodyType): string {
  if (from === to) return reply;
  if (to === 'Text') return htmlToPlainText(reply);
  return `<html><body>${escapeHtml(reply).replace(/\r?\n/g, '<br>')}</body></html>`;
}

function oofGetAnswer(settings: OofSettings, wanted: { type: OofBodyType; spelling: string }): WbxmlElement {
  return S('Get',
    S('OofState', settings.state),
    settings.state === 2 && settings.start && S('StartTime', easDate(settings.start)),
    settings.state === 2 && settings.end && S('EndTime', easDate(settings.end)),
    AUDIENCE_TAGS.map(([tag, audience]) => {
      const m = settings.messages.find((x) => x.audience === audience);
      const reply = m?.reply !== undefined ? convertReply(m.reply, m.bodyType ?? 'Text', wanted.type) : undefined;
      return S('OofMessage',
        S(local(tag) as 'AppliesToInternal'),
        S('Enabled', m?.enabled ? 1 : 0),
        reply !== undefined && reply !== '' && [S('ReplyMessage', reply), S('BodyType', wanted.spelling)]);
    }),
  );
}

function readOofMessage(m: WbxmlElement): OofMessage {
  const audiences = AUDIENCE_TAGS.filter(([tag]) => child(m, tag) !== undefined);
  if (audiences.length !== 1) throw new SectionFailure(SettingsStatus.ProtocolError, 'each OofMessage names exactly one audience (AppliesTo...)');
  const enabledEl = child(m, 'Settings:Enabled');
  if (!enabledEl) throw new SectionFailure(SettingsStatus.ProtocolError, 'OofMessage needs Enabled');
  const enabled = value(enabledEl).trim();
  if (!/^[01]$/.test(enabled)) throw new SectionFailure(SettingsStatus.InvalidArguments, 'Enabled must be 0 or 1');
  const replyEl = child(m, 'Settings:ReplyMessage');
  const typeEl = child(m, 'Settings:BodyType');
  const reply = replyEl ? value(replyEl) : undefined;
  if (reply !== undefined && !typeEl) throw new SectionFailure(SettingsStatus.ProtocolError, 'ReplyMessage needs BodyType');
  const type = typeEl ? bodyType(value(typeEl), 'BodyType').type : undefined;
  if (reply !== undefined && reply.length > MAX_OOF_MESSAGE) {
    throw new SectionFailure(SettingsStatus.InvalidArguments, `ReplyMessage is longer than ${MAX_OOF_MESSAGE} characters`);
  }
  return { audience: audiences[0]![1], enabled: enabled === '1', reply, bodyType: type };
}

function readOofSet(set: WbxmlElement): OofChange {
  const stateEl = child(set, 'Settings:OofState');
  let state: OofState | undefined;
  if (stateEl) {
    const st = value(stateEl).trim();
    if (!/^[012]$/.test(st)) throw new SectionFailure(SettingsStatus.InvalidArguments, 'OofState must be 0, 1 or 2');
    state = Number(st) as OofState;
  }
  const startEl = child(set, 'Settings:StartTime');
  const endEl = child(set, 'Settings:EndTime');
  if ((startEl === undefined) !== (endEl === undefined)) {
    throw new SectionFailure(SettingsStatus.ProtocolError, 'StartTime and EndTime come together');
  }
  const start = startEl ? dateValue(value(startEl), 'StartTime') : undefined;
  const end = endEl ? dateValue(value(endEl), 'EndTime') : undefined;
  if (start && end && end.getTime() <= start.getTime()) {
    throw new SectionFailure(SettingsStatus.ConflictingArguments, 'EndTime must be after StartTime');
  }
  const messages: OofMessage[] = [];
  for (const el of set.children.filter((c) => c.tag === 'Settings:OofMessage')) {
    const m = readOofMessage(el);
    if (messages.some((x) => x.audience === m.audience)) {
      throw new SectionFailure(SettingsStatus.ConflictingArguments, `two OofMessages for the same audience (${m.audience})`);
    }
    messages.push(m);
  }
  return { state, start, end, messages };
}

function oofSection(ctx: CommandContext, el: WbxmlElement): Planned {
  const op = operation(el, ['Get', 'Set']);
  if (op.tag === 'Settings:Get') {
    onlyChildren(op, ['BodyType']);
    const typeEl = child(op, 'Settings:BodyType');
    if (!typeEl) throw new SettingsProtocolError('Oof Get needs BodyType');
    const typeText = value(typeEl);
    return {
      name: 'Oof',
      run: () => S('Oof', S('Status', 1), oofGetAnswer(ctx.backend.settings.oof(ctx.principal), bodyType(typeText, 'Oof Get BodyType'))),
    };
  }
  onlyChildren(op, ['OofState', 'StartTime', 'EndTime', 'OofMessage'], ['OofMessage']);
  for (const m of op.children.filter((c) => c.tag === 'Settings:OofMessage')) {
    onlyChildren(m, ['AppliesToInternal', 'AppliesToExternalKnown', 'AppliesToExternalUnknown', 'Enabled', 'ReplyMessage', 'BodyType']);
  }
  return {
    name: 'Oof',
    run: () => {
      const change = readOofSet(op);
      ctx.backend.settings.setOof(ctx.principal, change);
      return S('Oof', S('Status', 1));
    },
  };
}

function deviceInformationSection(ctx: CommandContext, el: WbxmlElement): Planned {
  const set = operation(el, ['Set']);
  const fields = DEVICE_FIELDS.filter(([, , since]) => ctx.version >= since);
  onlyChildren(set, fields.map(([name]) => name));
  // The stored information is replaced by what a Set carries: an empty one would only erase it.
  if (set.children.length === 0) throw new SettingsProtocolError('DeviceInformation Set names no property');
  return {
    name: 'DeviceInformation',
    run: () => {
      const info: DeviceInformation = {};
      for (const c of set.children) {
        const [name, key] = fields.find(([n]) => n === local(c.tag))!;
        const text = value(c);
        if (text.length > MAX_DEVICE_FIELD) throw new SectionFailure(SettingsStatus.InvalidArguments, `${name} is longer than ${MAX_DEVICE_FIELD} characters`);
        if (key === 'enableOutboundSms' && !/^[01]$/.test(text.trim())) {
          throw new SectionFailure(SettingsStatus.InvalidArguments, 'EnableOutboundSMS must be 0 or 1');
        }
        info[key] = text;
      }
      ctx.backend.setDeviceInformation(ctx.device, info);
      return S('DeviceInformation', S('Status', 1));
    },
  };
}

function devicePasswordSection(ctx: CommandContext, el: WbxmlElement): Planned {
  const set = operation(el, ['Set']);
  onlyChildren(set, ['Password']);
  const pw = child(set, 'Settings:Password');
  if (!pw) throw new SettingsProtocolError('DevicePassword Set holds a Password');
  const password = value(pw);
  return {
    name: 'DevicePassword',
    run: () => {
      if ([...password].length > MAX_DEVICE_PASSWORD) {
        throw new SectionFailure(SettingsStatus.InvalidArguments, `the recovery password is longer than ${MAX_DEVICE_PASSWORD} characters`);
      }
      const recovery = ctx.backend.policy(ctx.principal).find(([name]) => name === 'PasswordRecoveryEnabled');
      if (String(recovery?.[1] ?? 0) !== '1') {
        throw new SectionFailure(SettingsStatus.DeniedByPolicy, 'the device policy has PasswordRecoveryEnabled 0: no recovery password is kept');
      }
      ctx.backend.settings.setDevicePassword(ctx.principal, ctx.device, password);
      return S('DevicePassword', S('Status', 1));
    },
  };
}

function userInformationSection(ctx: CommandContext, el: WbxmlElement): Planned {
  const get = operation(el, ['Get']);
  onlyChildren(get, []);
  const address = ctx.principal.address;
  return {
    name: 'UserInformation',
    run: () => S('UserInformation', S('Status', 1), S('Get',
      ctx.version >= V141
        ? S('Accounts', S('Account', S('EmailAddresses', S('SMTPAddress', address), S('PrimarySmtpAddress', address))))
        : S('EmailAddresses', S('SMTPAddress', address)))),
  };
}

function rightsManagementSection(ctx: CommandContext, el: WbxmlElement): Planned {
  if (ctx.version < V141) throw new SettingsProtocolError('RightsManagementInformation exists from protocol 14.1');
  const get = operation(el, ['Get']);
  onlyChildren(get, []);
  // No IRM templates are configured: the list is there, and empty.
  return { name: 'RightsManagementInformation', run: () => S('RightsManagementInformation', S('Status', 1), S('Get', RM('RightsManagementTemplates'))) };
}

function plan(ctx: CommandContext, el: WbxmlElement): Planned {
  switch (local(el.tag) as SectionName) {
    case 'Oof': return oofSection(ctx, el);
    case 'DeviceInformation': return deviceInformationSection(ctx, el);
    case 'DevicePassword': return devicePasswordSection(ctx, el);
    case 'UserInformation': return userInformationSection(ctx, el);
    case 'RightsManagementInformation': return rightsManagementSection(ctx, el);
  }
}

export function settings(ctx: CommandContext): CommandResult {
  const answer = (status: number, reason: string | undefined, ...rest: Content[]): CommandResult => ({
    kind: 'wbxml',
    body: S('Settings', S('Status', status), ...rest),
    headers: reason ? { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } : undefined,
  });
  const req = ctx.request;
  let plans: Planned[];
  try {
    if (!req || req.children.length === 0) throw new SettingsProtocolError('the Settings request names no section');
    const seen = new Set<string>();
    plans = req.children.map((el) => {
      if (!el.tag.startsWith('Settings:') || !SECTIONS.has(local(el.tag))) throw new SettingsProtocolError(`${el.tag} is not a Settings section`);
      if (seen.has(el.tag)) throw new SettingsProtocolError(`${local(el.tag)} appears twice`);
      seen.add(el.tag);
      return plan(ctx, el);
    });
  } catch (e) {
    if (e instanceof SettingsProtocolError) return answer(SettingsStatus.ProtocolError, e.message);
    throw e;
  }

  // Sections run in the order asked and answer in that order (R469, R480).
  const reasons: string[] = [];
  const answers = plans.map((p) => {
    try {
      return p.run();
    } catch (e) {
      if (e instanceof SectionFailure || e instanceof SettingsProtocolError) {
        const status = e instanceof SectionFailure ? e.status : SettingsStatus.ProtocolError;
        reasons.push(`${p.name}: ${e.message}`);
        return S(p.name, S('Status', status));
      }
      ctx.log({ level: 'error', msg: 'Settings section failed', section: p.name, user: ctx.principal.address, error: e instanceof Error ? e.stack : String(e) });
      reasons.push(`${p.name}: the store is unavailable`);
      return S(p.name, S('Status', SettingsStatus.ServerUnavailable));
    }
  });
  return answer(SettingsStatus.Success, reasons.length > 0 ? reasons.join('; ') : undefined, answers);
}
