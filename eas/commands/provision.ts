// Provision (MS-ASPROV): the two-phase policy exchange and the remote-wipe acknowledgement.
import crypto from 'node:crypto';
import { child, childText, x, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V120, V141, V161 } from '../version.js';
import type { DeviceInformation } from '../backend.js';
import type { CommandContext, CommandResult } from './context.js';

const POLICY_TYPE_WBXML = 'MS-EAS-Provisioning-WBXML';
const POLICY_TYPE_XML = 'MS-WAP-Provisioning-XML';

const POLICY_12_0 = new Set([
  'DevicePasswordEnabled', 'AlphanumericDevicePasswordRequired', 'PasswordRecoveryEnabled', 'AttachmentsEnabled',
  'MinDevicePasswordLength', 'MaxInactivityTimeDeviceLock', 'MaxDevicePasswordFailedAttempts', 'MaxAttachmentSize',
  'AllowSimpleDevicePassword', 'DevicePasswordExpiration', 'DevicePasswordHistory',
]);

/** A non-zero uint32: some iOS versions reject a key of 0. */
function newPolicyKey(): number {
  let k = 0;
  while (k === 0) k = crypto.randomBytes(4).readUInt32BE(0);
  return k;
}

const P = ns('Provision');

export function provision(ctx: CommandContext): CommandResult {
  const { backend, device, version } = ctx;
  const req = ctx.request;
  const reply = (...c: Content[]): CommandResult => ({ kind: 'wbxml', body: P('Provision', ...c) });

  // Acknowledgement of a remote wipe.
  const wipeAck = child(req, 'Provision:RemoteWipe') ?? child(req, 'Provision:AccountOnlyRemoteWipe');
  if (wipeAck) {
    const status = childText(wipeAck, 'Provision:Status');
    if (status === '1') {
      backend.setWipeState(device, 'acknowledged');
      ctx.log({ level: 'info', msg: 'remote wipe acknowledged', user: ctx.principal.address, deviceId: device.deviceId });
      return reply(P('Status', 1));
    }
    // The device could not wipe: tell it again.
    return reply(P('Status', 2), x(wipeAck.tag));
  }

  const wipePending = device.wipeState === 'requested' || device.wipeState === 'account-requested';
  const wipeElement = (): WbxmlElement =>
    device.wipeState === 'account-requested' && version >= V161 ? P('AccountOnlyRemoteWipe') : P('RemoteWipe');

  const policy = child(child(req, 'Provision:Policies'), 'Provision:Policy');
  if (!policy) {
    // An empty Provision follows status 140: the device comes to collect its wipe.
    if (wipePending) return reply(P('Status', 1), wipeElement());
    return reply(P('Status', 2));
  }
  const policyType = childText(policy, 'Provision:PolicyType') ?? '';
  const expectedType = version >= V120 ? POLICY_TYPE_WBXML : POLICY_TYPE_XML;
  const ackKey = childText(policy, 'Provision:PolicyKey');

  if (ackKey !== undefined) {
    // Phase 2: the device says whether it applied the policy we sent with the temporary key.
    const key = Number(ackKey);
    if (device.pendingPolicyKey === undefined || key !== device.pendingPolicyKey) {
      return reply(P('Status', 1), P('Policies', P('Policy', P('PolicyType', policyType), P('Status', 5))));
    }
    const clientStatus = childText(policy, 'Provision:Status') ?? '1';
    // The demo policy enforces nothing on the device, so partial compliance (2) and third-party
    // management (4) are accepted; only a malformed value is refused.
    if (!['1', '2', '3', '4'].includes(clientStatus)) return reply(P('Status', 2));
    const permanent = newPolicyKey();
    backend.setPolicyKeys(device, { policyKey: permanent, pendingPolicyKey: null, policyStatus: Number(clientStatus) });
    ctx.log({ level: 'info', msg: 'device provisioned', user: ctx.principal.address, deviceId: device.deviceId });
    return reply(P('Status', 1), P('Policies', P('Policy', P('PolicyType', policyType), P('Status', 1), P('PolicyKey', permanent))));
  }

  // Phase 1.
  const infoEl = child(req, 'Settings:DeviceInformation');
  if (version >= V141 && !infoEl) return reply(P('Status', 165));
  const settingsReply: WbxmlElement[] = [];
  if (infoEl) {
    backend.setDeviceInformation(device, readDeviceInformation(infoEl));
    settingsReply.push(x('Settings:DeviceInformation', x('Settings:Status', 1)));
  }
  if (policyType !== expectedType) {
    return reply(settingsReply, P('Status', 1), P('Policies', P('Policy', P('PolicyType', policyType), P('Status', 3))));
  }
  const temporary = newPolicyKey();
  backend.setPolicyKeys(device, { pendingPolicyKey: temporary });
  // A 12.0 device knows only the first generation of policy settings (MS-ASPROV).
  const settings = backend.policy(ctx.principal).filter(([name]) => version !== V120 || POLICY_12_0.has(name));
  const data = version >= V120
    ? P('Data', P('EASProvisionDoc', settings.map(([name, value]) => x(`Provision:${name}`, value))))
    : P('Data', wapProvisioningDoc(settings));
  return reply(
    settingsReply,
    P('Status', 1),
    P('Policies', P('Policy', P('PolicyType', policyType), P('Status', 1), P('PolicyKey', temporary), data)),
    wipePending && wipeElement(),
  );
}

export function readDeviceInformation(el: WbxmlElement): DeviceInformation {
  const set = child(el, 'Settings:Set');
  const t = (name: string): string | undefined => childText(set, `Settings:${name}`)?.slice(0, 1024);
  return {
    model: t('Model'), imei: t('IMEI'), friendlyName: t('FriendlyName'), os: t('OS'), osLanguage: t('OSLanguage'),
    phoneNumber: t('PhoneNumber'), userAgent: t('UserAgent'), enableOutboundSms: t('EnableOutboundSMS'),
    mobileOperator: t('MobileOperator'),
  };
}

/** The 2.5 policy document (MS-WAP-Provisioning-XML) carrying the settings 2.5 devices know. */
function wapProvisioningDoc(settings: Array<[string, string | number]>): string {
  const get = (n: string): string | number | undefined => settings.find(([k]) => k === n)?.[1];
  const pin = Number(get('DevicePasswordEnabled') ?? 0) === 1;
  const parms: Array<[string, string]> = [
    ['AEFrequencyType', pin ? '1' : '0'],
    ['AEFrequencyValue', String(Math.max(1, Math.round(Number(get('MaxInactivityTimeDeviceLock') ?? 900) / 60)))],
    ['DeviceWipeThreshold', String(get('MaxDevicePasswordFailedAttempts') ?? -1)],
    ['CodewordFrequency', '0'],
    ['MinimumPasswordLength', String(get('MinDevicePasswordLength') ?? 1)],
    ['PasswordComplexity', Number(get('AlphanumericDevicePasswordRequired') ?? 0) === 1 ? '0' : '2'],
  ];
  return '<wap-provisioningdoc><characteristic type="SecurityPolicy"><parm name="4131" value="' + (pin ? '0' : '1') +
    '"/></characteristic><characteristic type="Registry"><characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD\\AE\\{50C13377-C66D-400C-889E-C316FC4AB374}">' +
    parms.slice(0, 2).map(([n, v]) => `<parm name="${n}" value="${v}"/>`).join('') +
    '</characteristic><characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD">' +
    `<parm name="${parms[2]![0]}" value="${parms[2]![1]}"/>` +
    '</characteristic><characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD\\LAP\\lap_pw">' +
    parms.slice(3).map(([n, v]) => `<parm name="${n}" value="${v}"/>`).join('') +
    '</characteristic></characteristic></wap-provisioningdoc>';
}

