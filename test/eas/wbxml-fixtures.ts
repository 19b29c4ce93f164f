// Shared material for the WBXML tests: request and response documents of real commands, and the
// normalisations that say which trees are "the same" across encoders.

import { Buffer } from 'node:buffer';
import { isOpaqueTag } from '../../eas/wbxml/codepages.js';
import { x, type Content, type WbxmlElement } from '../../eas/wbxml/tree.js';

const b = (ns: string) => (name: string, ...c: Content[]): WbxmlElement => x(`${ns}:${name}`, ...c);
const AS = b('AirSync');
const E = b('Email');
const E2 = b('Email2');
const ASB = b('AirSyncBase');
const FH = b('FolderHierarchy');
const P = b('Provision');
const S = b('Settings');
const GIE = b('GetItemEstimate');
const PI = b('Ping');
const IO = b('ItemOperations');
const RR = b('ResolveRecipients');
const CM = b('ComposeMail');
const SE = b('Search');
const GAL = b('GAL');
const CAL = b('Calendar');
const MV = b('Move');
const MR = b('MeetingResponse');
const RM = b('RightsManagement');

/** A DER-looking blob: not a real certificate, but binary with every byte value. */
const certBytes = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 37 + 11) & 0xff));

const MIME = [
  'From: "Alice Ä." <alice@example.com>',
  'To: "Bob" <bob@example.com>',
  'Subject: =?utf-8?q?sign=C3=A9d?=',
  'MIME-Version: 1.0',
  'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Grüße & <tags> "quoted" \'single\' ☃ 😀',
  '--b1--',
  '',
].join('\n');

export const COMMAND_DOCS: { name: string; doc: WbxmlElement }[] = [
  {
    name: 'Provision initial request (14.1, DeviceInformation)',
    doc: P('Provision',
      S('DeviceInformation', S('Set',
        S('Model', 'iPhone15,2'), S('IMEI', '35-209900-176148-1'), S('FriendlyName', "Bob's phone"),
        S('OS', 'iOS 17.4 21E219'), S('OSLanguage', 'de-DE'), S('PhoneNumber', '+49 170 1234567'),
        S('UserAgent', 'Apple-iPhone15C2/2104.219'), S('EnableOutboundSMS', 0), S('MobileOperator', 'Telekom.de'))),
      P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))),
  },
  {
    name: 'Provision response with the EAS policy document',
    doc: P('Provision',
      S('DeviceInformation', S('Status', 1)),
      P('Status', 1),
      P('Policies', P('Policy',
        P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('Status', 1), P('PolicyKey', '3942919513'),
        P('Data', P('EASProvisionDoc',
          P('DevicePasswordEnabled', 1), P('AlphanumericDevicePasswordRequired', 0), P('PasswordRecoveryEnabled', 0),
          P('RequireStorageCardEncryption', 0), P('AttachmentsEnabled', 1), P('MinDevicePasswordLength', 4),
          P('MaxInactivityTimeDeviceLock', 900), P('MaxDevicePasswordFailedAttempts', 8), P('MaxAttachmentSize'),
          P('AllowSimpleDevicePassword', 1), P('DevicePasswordExpiration'), P('DevicePasswordHistory', 0),
          P('AllowStorageCard', 1), P('AllowCamera', 1), P('RequireDeviceEncryption', 0),
          P('AllowUnsignedApplications', 1), P('AllowUnsignedInstallationPackages', 1),
          P('MinDevicePasswordComplexCharacters', 1), P('AllowWiFi', 1), P('AllowTextMessaging', 1),
          P('AllowPOPIMAPEmail', 1), P('AllowBluetooth', 2), P('AllowIrDA', 1), P('RequireManualSyncWhenRoaming', 0),
          P('AllowDesktopSync', 1), P('MaxCalendarAgeFilter', 0), P('AllowHTMLEmail', 1), P('MaxEmailAgeFilter', 0),
          P('MaxEmailBodyTruncationSize', -1), P('MaxEmailHTMLBodyTruncationSize', -1),
          P('RequireSignedSMIMEMessages', 0), P('RequireEncryptedSMIMEMessages', 0),
          P('RequireSignedSMIMEAlgorithm', 0), P('RequireEncryptionSMIMEAlgorithm', 0),
          P('AllowSMIMEEncryptionAlgorithmNegotiation', 2), P('AllowSMIMESoftCerts', 1), P('AllowBrowser', 1),
          P('AllowConsumerEmail', 1), P('AllowRemoteDesktop', 1), P('AllowInternetSharing', 1),
          P('UnapprovedInROMApplicationList', P('ApplicationName', 'Bad App')),
          P('ApprovedApplicationList', P('Hash', 'ABCDEF0123456789'))))))),
  },
  {
    name: 'Provision acknowledgement request',
    doc: P('Provision', P('Policies', P('Policy',
      P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('PolicyKey', '3942919513'), P('Status', 1)))),
  },
  {
    name: 'Provision acknowledgement response with remote wipe',
    doc: P('Provision', P('Status', 1), P('Policies', P('Policy',
      P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('Status', 1), P('PolicyKey', '1307813542'))), P('RemoteWipe')),
  },
  { name: 'FolderSync request', doc: FH('FolderSync', FH('SyncKey', '0')) },
  {
    name: 'FolderSync response',
    doc: FH('FolderSync', FH('Status', 1), FH('SyncKey', 'h-1'), FH('Changes', FH('Count', 4),
      FH('Add', FH('ServerId', '1'), FH('ParentId', '0'), FH('DisplayName', 'Inbox'), FH('Type', 2)),
      FH('Add', FH('ServerId', '2'), FH('ParentId', '0'), FH('DisplayName', 'Gesendete Elemente'), FH('Type', 5)),
      FH('Update', FH('ServerId', '7'), FH('ParentId', '1'), FH('DisplayName', 'Projekte & <Ideen>'), FH('Type', 12)),
      FH('Delete', FH('ServerId', '9')))),
  },
  {
    name: 'Sync request with options and client changes',
    doc: AS('Sync', AS('Collections', AS('Collection',
      AS('SyncKey', '1730000000:1'), AS('CollectionId', '1'), AS('DeletesAsMoves', 1), AS('GetChanges', 1),
      AS('WindowSize', 50),
      AS('Options', AS('FilterType', 3), AS('MIMESupport', 1), AS('MIMETruncation', 8),
        ASB('BodyPreference', ASB('Type', 2), ASB('TruncationSize', 51200), ASB('AllOrNone', 0), ASB('Preview', 255)),
        ASB('BodyPreference', ASB('Type', 4)), RM('RightsManagementSupport', 1)),
      AS('Commands',
        AS('Change', AS('ServerId', '1:17'), AS('ApplicationData', E('Read', 1),
          E('Flag', E('Status', 2), E('FlagType', 'Follow up'), E('CompleteTime', '2024-01-03T10:00:00.000Z')))),
        AS('Delete', AS('ServerId', '1:18')),
        AS('Fetch', AS('ServerId', '1:19'))))),
    AS('HeartbeatInterval', 900), AS('WindowSize', 100)),
  },
  {
    name: 'Sync response with an S/MIME email',
    doc: AS('Sync', AS('Collections', AS('Collection',
      AS('SyncKey', '2'), AS('CollectionId', '1'), AS('Status', 1),
      AS('Responses', AS('Change', AS('ServerId', '1:17'), AS('Status', 1))),
      AS('MoreAvailable'),
      AS('Commands',
        AS('Add', AS('ServerId', '1:1'), AS('ApplicationData',
          E('To', '"Bob" <bob@example.com>'), E('Cc', 'carol@example.com'), E('From', 'alice@example.com'),
          E('Subject', 'signé ☃'), E('ReplyTo', 'alice@example.com'), E('DateReceived', '2024-01-02T03:04:05.000Z'),
          E('DisplayTo', 'Bob'), E('ThreadTopic', 'signé ☃'), E('Importance', 1), E('Read', 0),
          E('MessageClass', 'IPM.Note.SMIME.MultipartSigned'),
          ASB('Body', ASB('Type', 4), ASB('EstimatedDataSize', Buffer.byteLength(MIME)), ASB('Truncated', 0), ASB('Data', MIME)),
          ASB('Attachments', ASB('Attachment', ASB('DisplayName', 'smime.p7s'), ASB('FileReference', '1%3a1%3a0'),
            ASB('Method', 1), ASB('EstimatedDataSize', 1234), ASB('ContentType', 'application/pkcs7-signature'))),
          E('InternetCPID', 65001), E('ContentClass', 'urn:content-classes:message'),
          E('Flag', E('Status', 2), E('FlagType', 'Flag for follow up')),
          E('Categories', E('Category', 'Rot'), E('Category', 'Kunde')),
          ASB('NativeBodyType', 1),
          E2('ConversationId', Buffer.from('0123456789abcdef0123456789abcdef', 'hex')),
          E2('ConversationIndex', Buffer.from('01d9f3a2b4', 'hex')),
          E2('LastVerbExecuted', 0), E2('ReceivedAsBcc', 0), E2('Sender', 'alice@example.com'))),
        AS('Change', AS('ServerId', '1:2'), AS('ApplicationData', E('Read', 1), E('Flag'))),
        AS('Delete', AS('ServerId', '1:3')),
        AS('SoftDelete', AS('ServerId', '1:4')))))),
  },
  {
    name: 'GetItemEstimate request (14.0+)',
    doc: GIE('GetItemEstimate', GIE('Collections', GIE('Collection',
      AS('SyncKey', '2'), GIE('CollectionId', '1'), AS('ConversationMode', 0),
      AS('Options', AS('Class', 'Email'), AS('FilterType', 5))))),
  },
  {
    name: 'GetItemEstimate response',
    doc: GIE('GetItemEstimate', GIE('Response', GIE('Status', 1),
      GIE('Collection', GIE('CollectionId', '1'), GIE('Estimate', 42)))),
  },
  {
    name: 'Ping request',
    doc: PI('Ping', PI('HeartbeatInterval', 480), PI('Folders',
      PI('Folder', PI('Id', '1'), PI('Class', 'Email')), PI('Folder', PI('Id', '5'), PI('Class', 'Calendar')))),
  },
  { name: 'Ping response', doc: PI('Ping', PI('Status', 2), PI('Folders', PI('Folder', '1'), PI('Folder', '5'))) },
  {
    name: 'ItemOperations request',
    doc: IO('ItemOperations',
      IO('Fetch', IO('Store', 'Mailbox'), AS('CollectionId', '1'), AS('ServerId', '1:1'),
        IO('Options', AS('MIMESupport', 2), ASB('BodyPreference', ASB('Type', 4)))),
      IO('Fetch', IO('Store', 'Mailbox'), ASB('FileReference', '1%3a1%3a0'), IO('Options', IO('Range', '0-1023'))),
      IO('Move', IO('ConversationId', Buffer.from('00ff10ee20dd30cc', 'hex')), IO('DstFldId', '4'),
        IO('Options', IO('MoveAlways')))),
  },
  {
    name: 'ItemOperations response',
    doc: IO('ItemOperations', IO('Status', 1), IO('Response',
      IO('Fetch', IO('Status', 1), AS('CollectionId', '1'), AS('ServerId', '1:1'), AS('Class', 'Email'),
        IO('Properties', E('Subject', 'signé ☃'),
          ASB('Body', ASB('Type', 4), ASB('EstimatedDataSize', Buffer.byteLength(MIME)), ASB('Data', MIME)))),
      IO('Fetch', IO('Status', 1), ASB('FileReference', '1%3a1%3a0'),
        IO('Properties', ASB('ContentType', 'application/pkcs7-signature'), IO('Range', '0-699'), IO('Total', 700),
          IO('Data', certBytes.toString('base64')))),
      IO('Move', IO('Status', 1), IO('ConversationId', Buffer.from('00ff10ee20dd30cc', 'hex'))))),
  },
  {
    name: 'ResolveRecipients request',
    doc: RR('ResolveRecipients', RR('To', 'bob@example.com'), RR('To', 'Carol'),
      RR('Options', RR('CertificateRetrieval', 2), RR('MaxCertificates', 9999), RR('MaxAmbiguousRecipients', 5),
        RR('Availability', RR('StartTime', '2024-01-02T00:00:00.000Z'), RR('EndTime', '2024-01-03T00:00:00.000Z')),
        RR('Picture', RR('MaxSize', 102400), RR('MaxPictures', 1)))),
  },
  {
    name: 'ResolveRecipients response with certificates',
    doc: RR('ResolveRecipients', RR('Status', 1),
      RR('Response', RR('To', 'bob@example.com'), RR('Status', 1), RR('RecipientCount', 1),
        RR('Recipient', RR('Type', 1), RR('DisplayName', 'Bob Builder'), RR('EmailAddress', 'bob@example.com'),
          RR('Availability', RR('Status', 1), RR('MergedFreeBusy', '0000222200004444')),
          RR('Certificates', RR('Status', 1), RR('CertificateCount', 2), RR('RecipientCount', 1),
            RR('Certificate', certBytes.toString('base64')), RR('Certificate', certBytes.subarray(0, 300).toString('base64'))),
          RR('Picture', RR('Status', 1), RR('Data', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]))))),
      RR('Response', RR('To', 'Carol'), RR('Status', 4), RR('RecipientCount', 0))),
  },
  {
    name: 'Settings request',
    doc: S('Settings',
      S('Oof', S('Get', S('BodyType', 'Text'))),
      S('DeviceInformation', S('Set', S('Model', 'Pixel 8'), S('OS', 'Android 14'), S('UserAgent', 'Gmail/2024'))),
      S('UserInformation', S('Get')),
      S('RightsManagementInformation', S('Get'))),
  },
  {
    name: 'Settings response',
    doc: S('Settings', S('Status', 1),
      S('Oof', S('Status', 1), S('Get', S('OofState', 2), S('StartTime', '2024-07-01T00:00:00.000Z'),
        S('EndTime', '2024-07-15T00:00:00.000Z'),
        S('OofMessage', S('AppliesToInternal'), S('Enabled', 1), S('ReplyMessage', 'Bin im Urlaub – zurück am 15.'), S('BodyType', 'Text')),
        S('OofMessage', S('AppliesToExternalUnknown'), S('Enabled', 0)))),
      S('DeviceInformation', S('Status', 1)),
      S('UserInformation', S('Status', 1), S('Get', S('Accounts', S('Account',
        S('UserDisplayName', 'Bob Builder'), S('EmailAddresses', S('PrimarySmtpAddress', 'bob@example.com'),
          S('SMTPAddress', 'bob@example.com'), S('SMTPAddress', 'b.builder@example.com')))))),
      S('RightsManagementInformation', S('Status', 1), S('Get', RM('RightsManagementTemplates',
        RM('RightsManagementTemplate', RM('TemplateID', '{00000000-0000-0000-0000-000000000001}'),
          RM('TemplateName', 'Do Not Forward'), RM('TemplateDescription', 'Recipients can read but not forward.')))))),
  },
  {
    name: 'SendMail request (14.0+, MIME as opaque)',
    doc: CM('SendMail', CM('ClientId', 'c-1'), CM('SaveInSentItems'), CM('Mime', Buffer.from(MIME, 'utf8'))),
  },
  {
    name: 'Search (GAL) response with a photo',
    doc: SE('Search', SE('Status', 1), SE('Response', SE('Store', SE('Status', 1),
      SE('Result', SE('Properties', GAL('DisplayName', 'Bob Builder'), GAL('EmailAddress', 'bob@example.com'),
        GAL('Picture', GAL('Status', 1), GAL('Data', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))))),
      SE('Range', '0-0'), SE('Total', 1)))),
  },
  {
    name: 'MoveItems request',
    doc: MV('MoveItems', MV('Move', MV('SrcMsgId', '1:5'), MV('SrcFldId', '1'), MV('DstFldId', '4'))),
  },
  {
    name: 'MeetingResponse request with calendar fields',
    doc: MR('MeetingResponse', MR('Request', MR('UserResponse', 1), MR('CollectionId', '1'), MR('RequestId', '1:9'),
      MR('InstanceId', '2024-01-05T09:00:00.000Z'))),
  },
  {
    name: 'Calendar item with recurrence (labels libwbxml renames)',
    doc: AS('Sync', AS('Collections', AS('Collection', AS('SyncKey', '3'), AS('CollectionId', '5'), AS('Status', 1),
      AS('Commands', AS('Add', AS('ServerId', '5:1'), AS('ApplicationData',
        CAL('Timezone', 'xP///wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=='),
        CAL('DtStamp', '20240102T030405Z'), CAL('StartTime', '20240105T090000Z'), CAL('EndTime', '20240105T100000Z'),
        CAL('Subject', 'Weekly'), CAL('UID', 'abc-123'), CAL('OrganizerName', 'Alice'), CAL('OrganizerEmail', 'alice@example.com'),
        CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@example.com'), CAL('Name', 'Bob'), CAL('AttendeeStatus', 3), CAL('AttendeeType', 1))),
        CAL('Recurrence', CAL('Type', 1), CAL('Interval', 1), CAL('DayOfWeek', 16), CAL('Until', '20241231T000000Z')),
        CAL('Exceptions', CAL('Exception', CAL('Deleted', 1), CAL('ExceptionStartTime', '20240112T090000Z'))),
        ASB('Body', ASB('Type', 1), ASB('Data', 'Agenda:\n1. Status\n2. Plans')))))))),
  },
];

/**
 * The tree our decoder returns for encodeWbxml(tree): text of opaque-valued tags becomes opaque bytes
 * (that is how the encoder writes it), text and opaque on one opaque-valued element merge.
 */
export function canonical(el: WbxmlElement): WbxmlElement {
  const out: WbxmlElement = { tag: el.tag, children: el.children.map(canonical) };
  if (isOpaqueTag(el.tag)) {
    if (el.text !== undefined || el.opaque !== undefined) {
      out.opaque = Buffer.concat([Buffer.from(el.text ?? '', 'utf8'), Buffer.from(el.opaque ?? Buffer.alloc(0))]);
    }
  } else {
    if (el.text !== undefined) out.text = el.text;
    if (el.opaque !== undefined) out.opaque = Buffer.from(el.opaque);
  }
  return out;
}

/**
 * What survives a trip through libwbxml's XML: it cannot tell empty content from none, and prints
 * opaque data of ordinary elements as text.
 */
export function libwbxmlCanonical(el: WbxmlElement): WbxmlElement {
  const c = canonical(el);
  const walk = (e: WbxmlElement): WbxmlElement => {
    const out: WbxmlElement = { tag: e.tag, children: e.children.map(walk) };
    if (isOpaqueTag(e.tag)) {
      if (e.opaque !== undefined && e.opaque.length > 0) out.opaque = e.opaque;
    } else {
      const t = (e.text ?? '') + (e.opaque !== undefined ? e.opaque.toString('utf8') : '');
      if (t !== '') out.text = t;
    }
    return out;
  };
  return walk(c);
}
