// The organisation's device policy as the EASProvisionDoc a device receives at Provision.
// The S/MIME fields are what the gateway enforces, so the device and the gateway agree.
import type { ProvisioningPolicy } from '../eas/backend.js';

export interface DevicePolicySettings {
  requireSignedSmime: boolean;
  requireEncryptedSmime: boolean;
  /** 0 SHA-1, 1 MD5 (the only values MS-ASPROV defines). */
  signedSmimeAlgorithm: number;
  /** 0 3DES, 1 DES, 2 RC2-128, 3 RC2-64, 4 RC2-40. */
  encryptionSmimeAlgorithm: number;
  /** 0 no negotiation, 1 strong algorithms only, 2 any. */
  smimeAlgorithmNegotiation: number;
  allowSmimeSoftCerts: boolean;
  devicePasswordEnabled: boolean;
  maxAttachmentSize?: number;
}

export const DEFAULT_DEVICE_POLICY: DevicePolicySettings = {
  requireSignedSmime: false,
  requireEncryptedSmime: false,
  signedSmimeAlgorithm: 0,
  encryptionSmimeAlgorithm: 0,
  smimeAlgorithmNegotiation: 1,
  allowSmimeSoftCerts: true,
  devicePasswordEnabled: false,
};

const b = (v: boolean): number => (v ? 1 : 0);

export function provisioningDocument(p: DevicePolicySettings): ProvisioningPolicy {
  const doc: ProvisioningPolicy = [
    ['DevicePasswordEnabled', b(p.devicePasswordEnabled)],
    ['AlphanumericDevicePasswordRequired', 0],
    ['PasswordRecoveryEnabled', 0],
    ['RequireStorageCardEncryption', 0],
    ['AttachmentsEnabled', 1],
    ['MinDevicePasswordLength', 1],
    ['MaxInactivityTimeDeviceLock', 900],
    ['MaxDevicePasswordFailedAttempts', 8],
    ['AllowSimpleDevicePassword', 1],
    ['DevicePasswordExpiration', 0],
    ['DevicePasswordHistory', 0],
    ['AllowStorageCard', 1],
    ['AllowCamera', 1],
    ['RequireDeviceEncryption', 0],
    ['AllowUnsignedApplications', 1],
    ['AllowUnsignedInstallationPackages', 1],
    ['MinDevicePasswordComplexCharacters', 1],
    ['AllowWiFi', 1],
    ['AllowTextMessaging', 1],
    ['AllowPOPIMAPEmail', 1],
    ['AllowBluetooth', 2],
    ['AllowIrDA', 1],
    ['RequireManualSyncWhenRoaming', 0],
    ['AllowDesktopSync', 1],
    ['MaxCalendarAgeFilter', 0],
    ['AllowHTMLEmail', 1],
    ['MaxEmailAgeFilter', 0],
    ['MaxEmailBodyTruncationSize', -1],
    ['MaxEmailHTMLBodyTruncationSize', -1],
    ['RequireSignedSMIMEMessages', b(p.requireSignedSmime)],
    ['RequireEncryptedSMIMEMessages', b(p.requireEncryptedSmime)],
    ['RequireSignedSMIMEAlgorithm', p.signedSmimeAlgorithm],
    ['RequireEncryptionSMIMEAlgorithm', p.encryptionSmimeAlgorithm],
    ['AllowSMIMEEncryptionAlgorithmNegotiation', p.smimeAlgorithmNegotiation],
    ['AllowSMIMESoftCerts', b(p.allowSmimeSoftCerts)],
    ['AllowBrowser', 1],
    ['AllowConsumerEmail', 1],
    ['AllowRemoteDesktop', 1],
    ['AllowInternetSharing', 1],
  ];
  if (p.maxAttachmentSize !== undefined) doc.splice(8, 0, ['MaxAttachmentSize', p.maxAttachmentSize]);
  return doc;
}
