// MS-ASWBXML code pages: page number <-> namespace, token <-> tag name.
//
// The table is the single source of truth for the codec and for the typed tag names. It is declared
// `as const` so that `WbxmlTag` below is the exact union of "Namespace:Name" strings; every other list
// in the codec (opaque tags, legacy tags, libwbxml labels) is typed against it, so a misspelt tag name
// fails to compile instead of silently never matching.
//
// Names are the MS-ASWBXML spec names (see docs/eas-protocol.md section 2.4), not the labels other
// implementations use. "Legacy" rows (not in the current spec, mostly protocol 2.5) are included because
// a decoder must not choke on an old client; they are listed in LEGACY_TAGS.

interface CodePageDef {
  readonly page: number;
  readonly tokens: { readonly [name: string]: number };
}

export const CODE_PAGES = {
  AirSync: {
    page: 0,
    tokens: {
      Sync: 0x05, Responses: 0x06, Add: 0x07, Change: 0x08, Delete: 0x09, Fetch: 0x0A, SyncKey: 0x0B,
      ClientId: 0x0C, ServerId: 0x0D, Status: 0x0E, Collection: 0x0F, Class: 0x10, Version: 0x11,
      CollectionId: 0x12, GetChanges: 0x13, MoreAvailable: 0x14, WindowSize: 0x15, Commands: 0x16,
      Options: 0x17, FilterType: 0x18, Truncation: 0x19, RTFTruncation: 0x1A, Conflict: 0x1B, Collections: 0x1C,
      ApplicationData: 0x1D, DeletesAsMoves: 0x1E, NotifyGUID: 0x1F, Supported: 0x20, SoftDelete: 0x21,
      MIMESupport: 0x22, MIMETruncation: 0x23, Wait: 0x24, Limit: 0x25, Partial: 0x26, ConversationMode: 0x27,
      MaxItems: 0x28, HeartbeatInterval: 0x29,
    },
  },
  Contacts: {
    page: 1,
    tokens: {
      Anniversary: 0x05, AssistantName: 0x06, AssistantPhoneNumber: 0x07, Birthday: 0x08, Body: 0x09,
      BodySize: 0x0A, BodyTruncated: 0x0B, Business2PhoneNumber: 0x0C, BusinessAddressCity: 0x0D,
      BusinessAddressCountry: 0x0E, BusinessAddressPostalCode: 0x0F, BusinessAddressState: 0x10,
      BusinessAddressStreet: 0x11, BusinessFaxNumber: 0x12, BusinessPhoneNumber: 0x13, CarPhoneNumber: 0x14,
      Categories: 0x15, Category: 0x16, Children: 0x17, Child: 0x18, CompanyName: 0x19, Department: 0x1A,
      Email1Address: 0x1B, Email2Address: 0x1C, Email3Address: 0x1D, FileAs: 0x1E, FirstName: 0x1F,
      Home2PhoneNumber: 0x20, HomeAddressCity: 0x21, HomeAddressCountry: 0x22, HomeAddressPostalCode: 0x23,
      HomeAddressState: 0x24, HomeAddressStreet: 0x25, HomeFaxNumber: 0x26, HomePhoneNumber: 0x27,
      JobTitle: 0x28, LastName: 0x29, MiddleName: 0x2A, MobilePhoneNumber: 0x2B, OfficeLocation: 0x2C,
      OtherAddressCity: 0x2D, OtherAddressCountry: 0x2E, OtherAddressPostalCode: 0x2F, OtherAddressState: 0x30,
      OtherAddressStreet: 0x31, PagerNumber: 0x32, RadioPhoneNumber: 0x33, Spouse: 0x34, Suffix: 0x35,
      Title: 0x36, WebPage: 0x37, YomiCompanyName: 0x38, YomiFirstName: 0x39, YomiLastName: 0x3A,
      CompressedRTF: 0x3B, Picture: 0x3C, Alias: 0x3D, WeightedRank: 0x3E,
    },
  },
  Email: {
    page: 2,
    tokens: {
      Attachment: 0x05, Attachments: 0x06, AttName: 0x07, AttSize: 0x08, AttOId: 0x09, AttMethod: 0x0A,
      AttRemoved: 0x0B, Body: 0x0C, BodySize: 0x0D, BodyTruncated: 0x0E, DateReceived: 0x0F, DisplayName: 0x10,
      DisplayTo: 0x11, Importance: 0x12, MessageClass: 0x13, Subject: 0x14, Read: 0x15, To: 0x16, Cc: 0x17,
      From: 0x18, ReplyTo: 0x19, AllDayEvent: 0x1A, Categories: 0x1B, Category: 0x1C, DtStamp: 0x1D,
      EndTime: 0x1E, InstanceType: 0x1F, BusyStatus: 0x20, Location: 0x21, MeetingRequest: 0x22,
      Organizer: 0x23, RecurrenceId: 0x24, Reminder: 0x25, ResponseRequested: 0x26, Recurrences: 0x27,
      Recurrence: 0x28, Type: 0x29, Until: 0x2A, Occurrences: 0x2B, Interval: 0x2C, DayOfWeek: 0x2D,
      DayOfMonth: 0x2E, WeekOfMonth: 0x2F, MonthOfYear: 0x30, StartTime: 0x31, Sensitivity: 0x32,
      TimeZone: 0x33, GlobalObjId: 0x34, ThreadTopic: 0x35, MIMEData: 0x36, MIMETruncated: 0x37, MIMESize: 0x38,
      InternetCPID: 0x39, Flag: 0x3A, Status: 0x3B, ContentClass: 0x3C, FlagType: 0x3D, CompleteTime: 0x3E,
      DisallowNewTimeProposal: 0x3F,
    },
  },
  AirNotify: {
    page: 3,
    tokens: {
      Notify: 0x05, Notification: 0x06, Version: 0x07, LifeTime: 0x08, DeviceInfo: 0x09, Enable: 0x0A,
      Folder: 0x0B, ServerId: 0x0C, DeviceAddress: 0x0D, ValidCarrierProfiles: 0x0E, CarrierProfile: 0x0F,
      Status: 0x10, Responses: 0x11, Devices: 0x12, Device: 0x13, Id: 0x14, Expiry: 0x15, NotifyGUID: 0x16,
      DeviceFriendlyName: 0x17,
    },
  },
  Calendar: {
    page: 4,
    tokens: {
      Timezone: 0x05, AllDayEvent: 0x06, Attendees: 0x07, Attendee: 0x08, Email: 0x09, Name: 0x0A, Body: 0x0B,
      BodyTruncated: 0x0C, BusyStatus: 0x0D, Categories: 0x0E, Category: 0x0F, CompressedRTF: 0x10,
      DtStamp: 0x11, EndTime: 0x12, Exception: 0x13, Exceptions: 0x14, Deleted: 0x15, ExceptionStartTime: 0x16,
      Location: 0x17, MeetingStatus: 0x18, OrganizerEmail: 0x19, OrganizerName: 0x1A, Recurrence: 0x1B,
      Type: 0x1C, Until: 0x1D, Occurrences: 0x1E, Interval: 0x1F, DayOfWeek: 0x20, DayOfMonth: 0x21,
      WeekOfMonth: 0x22, MonthOfYear: 0x23, Reminder: 0x24, Sensitivity: 0x25, Subject: 0x26, StartTime: 0x27,
      UID: 0x28, AttendeeStatus: 0x29, AttendeeType: 0x2A, Attachment: 0x2B, Attachments: 0x2C, AttName: 0x2D,
      AttSize: 0x2E, AttOid: 0x2F, AttMethod: 0x30, AttRemoved: 0x31, DisplayName: 0x32,
      DisallowNewTimeProposal: 0x33, ResponseRequested: 0x34, AppointmentReplyTime: 0x35, ResponseType: 0x36,
      CalendarType: 0x37, IsLeapMonth: 0x38, FirstDayOfWeek: 0x39, OnlineMeetingConfLink: 0x3A,
      OnlineMeetingExternalLink: 0x3B, ClientUid: 0x3C,
    },
  },
  Move: {
    page: 5,
    tokens: {
      MoveItems: 0x05, Move: 0x06, SrcMsgId: 0x07, SrcFldId: 0x08, DstFldId: 0x09, Response: 0x0A, Status: 0x0B,
      DstMsgId: 0x0C,
    },
  },
  GetItemEstimate: {
    page: 6,
    tokens: {
      GetItemEstimate: 0x05, Version: 0x06, Collections: 0x07, Collection: 0x08, Class: 0x09,
      CollectionId: 0x0A, DateTime: 0x0B, Estimate: 0x0C, Response: 0x0D, Status: 0x0E,
    },
  },
  FolderHierarchy: {
    page: 7,
    tokens: {
      Folders: 0x05, Folder: 0x06, DisplayName: 0x07, ServerId: 0x08, ParentId: 0x09, Type: 0x0A,
      Response: 0x0B, Status: 0x0C, ContentClass: 0x0D, Changes: 0x0E, Add: 0x0F, Delete: 0x10, Update: 0x11,
      SyncKey: 0x12, FolderCreate: 0x13, FolderDelete: 0x14, FolderUpdate: 0x15, FolderSync: 0x16, Count: 0x17,
      Version: 0x18,
    },
  },
  MeetingResponse: {
    page: 8,
    tokens: {
      CalendarId: 0x05, CollectionId: 0x06, MeetingResponse: 0x07, RequestId: 0x08, Request: 0x09, Result: 0x0A,
      Status: 0x0B, UserResponse: 0x0C, Version: 0x0D, InstanceId: 0x0E, ProposedStartTime: 0x10,
      ProposedEndTime: 0x11, SendResponse: 0x12,
    },
  },
  Tasks: {
    page: 9,
    tokens: {
      Body: 0x05, BodySize: 0x06, BodyTruncated: 0x07, Categories: 0x08, Category: 0x09, Complete: 0x0A,
      DateCompleted: 0x0B, DueDate: 0x0C, UtcDueDate: 0x0D, Importance: 0x0E, Recurrence: 0x0F, Type: 0x10,
      Start: 0x11, Until: 0x12, Occurrences: 0x13, Interval: 0x14, DayOfMonth: 0x15, DayOfWeek: 0x16,
      WeekOfMonth: 0x17, MonthOfYear: 0x18, Regenerate: 0x19, DeadOccur: 0x1A, ReminderSet: 0x1B,
      ReminderTime: 0x1C, Sensitivity: 0x1D, StartDate: 0x1E, UtcStartDate: 0x1F, Subject: 0x20,
      CompressedRTF: 0x21, OrdinalDate: 0x22, SubOrdinalDate: 0x23, CalendarType: 0x24, IsLeapMonth: 0x25,
      FirstDayOfWeek: 0x26,
    },
  },
  ResolveRecipients: {
    page: 10,
    tokens: {
      ResolveRecipients: 0x05, Response: 0x06, Status: 0x07, Type: 0x08, Recipient: 0x09, DisplayName: 0x0A,
      EmailAddress: 0x0B, Certificates: 0x0C, Certificate: 0x0D, MiniCertificate: 0x0E, Options: 0x0F, To: 0x10,
      CertificateRetrieval: 0x11, RecipientCount: 0x12, MaxCertificates: 0x13, MaxAmbiguousRecipients: 0x14,
      CertificateCount: 0x15, Availability: 0x16, StartTime: 0x17, EndTime: 0x18, MergedFreeBusy: 0x19,
      Picture: 0x1A, MaxSize: 0x1B, Data: 0x1C, MaxPictures: 0x1D,
    },
  },
  ValidateCert: {
    page: 11,
    tokens: {
      ValidateCert: 0x05, Certificates: 0x06, Certificate: 0x07, CertificateChain: 0x08, CheckCRL: 0x09,
      Status: 0x0A,
    },
  },
  Contacts2: {
    page: 12,
    tokens: {
      CustomerId: 0x05, GovernmentId: 0x06, IMAddress: 0x07, IMAddress2: 0x08, IMAddress3: 0x09,
      ManagerName: 0x0A, CompanyMainPhone: 0x0B, AccountName: 0x0C, NickName: 0x0D, MMS: 0x0E,
    },
  },
  Ping: {
    page: 13,
    tokens: {
      Ping: 0x05, AutdState: 0x06, Status: 0x07, HeartbeatInterval: 0x08, Folders: 0x09, Folder: 0x0A, Id: 0x0B,
      Class: 0x0C, MaxFolders: 0x0D, Version: 0x0E,
    },
  },
  Provision: {
    page: 14,
    tokens: {
      Provision: 0x05, Policies: 0x06, Policy: 0x07, PolicyType: 0x08, PolicyKey: 0x09, Data: 0x0A,
      Status: 0x0B, RemoteWipe: 0x0C, EASProvisionDoc: 0x0D, DevicePasswordEnabled: 0x0E,
      AlphanumericDevicePasswordRequired: 0x0F, RequireStorageCardEncryption: 0x10,
      PasswordRecoveryEnabled: 0x11, DocumentBrowseEnabled: 0x12, AttachmentsEnabled: 0x13,
      MinDevicePasswordLength: 0x14, MaxInactivityTimeDeviceLock: 0x15, MaxDevicePasswordFailedAttempts: 0x16,
      MaxAttachmentSize: 0x17, AllowSimpleDevicePassword: 0x18, DevicePasswordExpiration: 0x19,
      DevicePasswordHistory: 0x1A, AllowStorageCard: 0x1B, AllowCamera: 0x1C, RequireDeviceEncryption: 0x1D,
      AllowUnsignedApplications: 0x1E, AllowUnsignedInstallationPackages: 0x1F,
      MinDevicePasswordComplexCharacters: 0x20, AllowWiFi: 0x21, AllowTextMessaging: 0x22,
      AllowPOPIMAPEmail: 0x23, AllowBluetooth: 0x24, AllowIrDA: 0x25, RequireManualSyncWhenRoaming: 0x26,
      AllowDesktopSync: 0x27, MaxCalendarAgeFilter: 0x28, AllowHTMLEmail: 0x29, MaxEmailAgeFilter: 0x2A,
      MaxEmailBodyTruncationSize: 0x2B, MaxEmailHTMLBodyTruncationSize: 0x2C, RequireSignedSMIMEMessages: 0x2D,
      RequireEncryptedSMIMEMessages: 0x2E, RequireSignedSMIMEAlgorithm: 0x2F,
      RequireEncryptionSMIMEAlgorithm: 0x30, AllowSMIMEEncryptionAlgorithmNegotiation: 0x31,
      AllowSMIMESoftCerts: 0x32, AllowBrowser: 0x33, AllowConsumerEmail: 0x34, AllowRemoteDesktop: 0x35,
      AllowInternetSharing: 0x36, UnapprovedInROMApplicationList: 0x37, ApplicationName: 0x38,
      ApprovedApplicationList: 0x39, Hash: 0x3A, AccountOnlyRemoteWipe: 0x3B,
    },
  },
  Search: {
    page: 15,
    tokens: {
      Search: 0x05, Stores: 0x06, Store: 0x07, Name: 0x08, Query: 0x09, Options: 0x0A, Range: 0x0B,
      Status: 0x0C, Response: 0x0D, Result: 0x0E, Properties: 0x0F, Total: 0x10, EqualTo: 0x11, Value: 0x12,
      And: 0x13, Or: 0x14, FreeText: 0x15, DeepTraversal: 0x17, LongId: 0x18, RebuildResults: 0x19,
      LessThan: 0x1A, GreaterThan: 0x1B, Schema: 0x1C, Supported: 0x1D, UserName: 0x1E, Password: 0x1F,
      ConversationId: 0x20, Picture: 0x21, MaxSize: 0x22, MaxPictures: 0x23,
    },
  },
  GAL: {
    page: 16,
    tokens: {
      DisplayName: 0x05, Phone: 0x06, Office: 0x07, Title: 0x08, Company: 0x09, Alias: 0x0A, FirstName: 0x0B,
      LastName: 0x0C, HomePhone: 0x0D, MobilePhone: 0x0E, EmailAddress: 0x0F, Picture: 0x10, Status: 0x11,
      Data: 0x12,
    },
  },
  AirSyncBase: {
    page: 17,
    tokens: {
      BodyPreference: 0x05, Type: 0x06, TruncationSize: 0x07, AllOrNone: 0x08, Body: 0x0A, Data: 0x0B,
      EstimatedDataSize: 0x0C, Truncated: 0x0D, Attachments: 0x0E, Attachment: 0x0F, DisplayName: 0x10,
      FileReference: 0x11, Method: 0x12, ContentId: 0x13, ContentLocation: 0x14, IsInline: 0x15,
      NativeBodyType: 0x16, ContentType: 0x17, Preview: 0x18, BodyPartPreference: 0x19, BodyPart: 0x1A,
      Status: 0x1B, Add: 0x1C, Delete: 0x1D, ClientId: 0x1E, Content: 0x1F, Location: 0x20, Annotation: 0x21,
      Street: 0x22, City: 0x23, State: 0x24, Country: 0x25, PostalCode: 0x26, Latitude: 0x27, Longitude: 0x28,
      Accuracy: 0x29, Altitude: 0x2A, AltitudeAccuracy: 0x2B, LocationUri: 0x2C, InstanceId: 0x2D,
    },
  },
  Settings: {
    page: 18,
    tokens: {
      Settings: 0x05, Status: 0x06, Get: 0x07, Set: 0x08, Oof: 0x09, OofState: 0x0A, StartTime: 0x0B,
      EndTime: 0x0C, OofMessage: 0x0D, AppliesToInternal: 0x0E, AppliesToExternalKnown: 0x0F,
      AppliesToExternalUnknown: 0x10, Enabled: 0x11, ReplyMessage: 0x12, BodyType: 0x13, DevicePassword: 0x14,
      Password: 0x15, DeviceInformation: 0x16, Model: 0x17, IMEI: 0x18, FriendlyName: 0x19, OS: 0x1A,
      OSLanguage: 0x1B, PhoneNumber: 0x1C, UserInformation: 0x1D, EmailAddresses: 0x1E, SMTPAddress: 0x1F,
      UserAgent: 0x20, EnableOutboundSMS: 0x21, MobileOperator: 0x22, PrimarySmtpAddress: 0x23, Accounts: 0x24,
      Account: 0x25, AccountId: 0x26, AccountName: 0x27, UserDisplayName: 0x28, SendDisabled: 0x29,
      RightsManagementInformation: 0x2B,
    },
  },
  DocumentLibrary: {
    page: 19,
    tokens: {
      LinkId: 0x05, DisplayName: 0x06, IsFolder: 0x07, CreationDate: 0x08, LastModifiedDate: 0x09,
      IsHidden: 0x0A, ContentLength: 0x0B, ContentType: 0x0C,
    },
  },
  ItemOperations: {
    page: 20,
    tokens: {
      ItemOperations: 0x05, Fetch: 0x06, Store: 0x07, Options: 0x08, Range: 0x09, Total: 0x0A, Properties: 0x0B,
      Data: 0x0C, Status: 0x0D, Response: 0x0E, Version: 0x0F, Schema: 0x10, Part: 0x11,
      EmptyFolderContents: 0x12, DeleteSubFolders: 0x13, UserName: 0x14, Password: 0x15, Move: 0x16,
      DstFldId: 0x17, ConversationId: 0x18, MoveAlways: 0x19,
    },
  },
  ComposeMail: {
    page: 21,
    tokens: {
      SendMail: 0x05, SmartForward: 0x06, SmartReply: 0x07, SaveInSentItems: 0x08, ReplaceMime: 0x09,
      Type: 0x0A, Source: 0x0B, FolderId: 0x0C, ItemId: 0x0D, LongId: 0x0E, InstanceId: 0x0F, Mime: 0x10,
      ClientId: 0x11, Status: 0x12, AccountId: 0x13, Forwardees: 0x15, Forwardee: 0x16, Name: 0x17, Email: 0x18,
    },
  },
  Email2: {
    page: 22,
    tokens: {
      UmCallerID: 0x05, UmUserNotes: 0x06, UmAttDuration: 0x07, UmAttOrder: 0x08, ConversationId: 0x09,
      ConversationIndex: 0x0A, LastVerbExecuted: 0x0B, LastVerbExecutionTime: 0x0C, ReceivedAsBcc: 0x0D,
      Sender: 0x0E, CalendarType: 0x0F, IsLeapMonth: 0x10, AccountId: 0x11, FirstDayOfWeek: 0x12,
      MeetingMessageType: 0x13, IsDraft: 0x15, Bcc: 0x16, Send: 0x17,
    },
  },
  Notes: {
    page: 23,
    tokens: {
      Subject: 0x05, MessageClass: 0x06, LastModifiedDate: 0x07, Categories: 0x08, Category: 0x09,
    },
  },
  RightsManagement: {
    page: 24,
    tokens: {
      RightsManagementSupport: 0x05, RightsManagementTemplates: 0x06, RightsManagementTemplate: 0x07,
      RightsManagementLicense: 0x08, EditAllowed: 0x09, ReplyAllowed: 0x0A, ReplyAllAllowed: 0x0B,
      ForwardAllowed: 0x0C, ModifyRecipientsAllowed: 0x0D, ExtractAllowed: 0x0E, PrintAllowed: 0x0F,
      ExportAllowed: 0x10, ProgrammaticAccessAllowed: 0x11, Owner: 0x12, ContentExpiryDate: 0x13,
      TemplateID: 0x14, TemplateName: 0x15, TemplateDescription: 0x16, ContentOwner: 0x17,
      RemoveRightsManagementProtection: 0x18,
    },
  },
  Find: {
    page: 25,
    tokens: {
      Find: 0x05, SearchId: 0x06, ExecuteSearch: 0x07, MailBoxSearchCriterion: 0x08, Query: 0x09, Status: 0x0A,
      FreeText: 0x0B, Options: 0x0C, Range: 0x0D, DeepTraversal: 0x0E, Response: 0x11, Result: 0x12,
      Properties: 0x13, Preview: 0x14, HasAttachments: 0x15, Total: 0x16, DisplayCc: 0x17, DisplayBcc: 0x18,
      GalSearchCriterion: 0x19, MaxPictures: 0x20, MaxSize: 0x21, Picture: 0x22,
    },
  },
} as const satisfies { readonly [namespace: string]: CodePageDef };

export type WbxmlNamespace = keyof typeof CODE_PAGES;

/** Tag names of one namespace, e.g. WbxmlTagName<'AirSync'> = 'Sync' | 'Responses' | ... */
export type WbxmlTagName<N extends WbxmlNamespace> = keyof (typeof CODE_PAGES)[N]['tokens'] & string;

/** Every qualified tag the codec knows, e.g. 'AirSync:SyncKey' | 'Email2:ConversationId' | ... */
export type WbxmlTag = { [N in WbxmlNamespace]: `${N}:${WbxmlTagName<N>}` }[WbxmlNamespace];

/**
 * Elements whose value is binary: encoded as OPAQUE (also when the tree holds them as text), and on
 * decode an inline string in them is kept as raw bytes. MS-ASWBXML section 2.2 list; libwbxml marks
 * exactly these as binary (and prints them base64).
 */
export const OPAQUE_TAGS: readonly WbxmlTag[] = [
  'ComposeMail:Mime',
  'Email2:ConversationId',
  'Email2:ConversationIndex',
  'ItemOperations:ConversationId',
  'Search:ConversationId',
  'AirSyncBase:Content',
  'GAL:Data',
  'ResolveRecipients:Data',
];

/** Rows that are not in the current MS-ASWBXML. Decoders accept them; new code should not emit them. */
export const LEGACY_TAGS: readonly WbxmlTag[] = [
  'AirSync:Version', 'AirSync:Truncation', 'AirSync:RTFTruncation', 'AirSync:NotifyGUID', 'Contacts:Body',
  'Contacts:BodySize', 'Contacts:BodyTruncated', 'Contacts:CompressedRTF', 'Email:Attachment',
  'Email:Attachments', 'Email:AttName', 'Email:AttSize', 'Email:AttOId', 'Email:AttMethod', 'Email:AttRemoved',
  'Email:Body', 'Email:BodySize', 'Email:BodyTruncated', 'Email:DisplayName', 'Email:MIMEData',
  'Email:MIMETruncated', 'Email:MIMESize', 'AirNotify:Notify', 'AirNotify:Notification', 'AirNotify:Version',
  'AirNotify:LifeTime', 'AirNotify:DeviceInfo', 'AirNotify:Enable', 'AirNotify:Folder', 'AirNotify:ServerId',
  'AirNotify:DeviceAddress', 'AirNotify:ValidCarrierProfiles', 'AirNotify:CarrierProfile', 'AirNotify:Status',
  'AirNotify:Responses', 'AirNotify:Devices', 'AirNotify:Device', 'AirNotify:Id', 'AirNotify:Expiry',
  'AirNotify:NotifyGUID', 'AirNotify:DeviceFriendlyName', 'Calendar:Body', 'Calendar:BodyTruncated',
  'Calendar:CompressedRTF', 'Calendar:Attachment', 'Calendar:Attachments', 'Calendar:AttName',
  'Calendar:AttSize', 'Calendar:AttOid', 'Calendar:AttMethod', 'Calendar:AttRemoved', 'Calendar:DisplayName',
  'GetItemEstimate:Version', 'GetItemEstimate:DateTime', 'FolderHierarchy:Response',
  'FolderHierarchy:ContentClass', 'FolderHierarchy:Version', 'MeetingResponse:Version', 'Tasks:Body',
  'Tasks:BodySize', 'Tasks:BodyTruncated', 'Tasks:CompressedRTF', 'Ping:AutdState', 'Ping:Version',
  'Provision:DocumentBrowseEnabled', 'Search:Stores', 'Search:Schema', 'Search:Supported', 'ComposeMail:Type',
];

/** Number of code pages (0..25). */
export const PAGE_COUNT = 26;

// ---------------------------------------------------------------------------------------------------
// Flat lookup tables for the hot paths. A code is page * 64 + token: tag tokens are 6 bits (the two
// high bits of a tag byte are the content/attribute flags), so this indexes a dense array.

/** Namespace of each page, index = page number. */
export const NAMESPACE_BY_PAGE: readonly WbxmlNamespace[] = buildNamespaceByPage();

/** Qualified tag by code (page * 64 + token); undefined for unassigned tokens. */
export const TAG_BY_CODE: readonly (WbxmlTag | undefined)[] = [];

/** 1 where the tag at that code is opaque-valued. */
export const OPAQUE_BY_CODE = new Uint8Array(PAGE_COUNT * 64);

/** Page and token of every known tag. */
const CODE_BY_TAG = new Map<string, number>();

const OPAQUE_SET: ReadonlySet<string> = new Set<string>(OPAQUE_TAGS);
const LEGACY_SET: ReadonlySet<string> = new Set<string>(LEGACY_TAGS);

function buildNamespaceByPage(): WbxmlNamespace[] {
  const byPage: WbxmlNamespace[] = [];
  for (const ns of Object.keys(CODE_PAGES) as WbxmlNamespace[]) {
    const page = CODE_PAGES[ns].page;
    // The table is hand-maintained data; checking it once at load turns a bad edit into a loud failure.
    if (!Number.isInteger(page) || page < 0 || page >= 26 || byPage[page] !== undefined) {
      throw new Error(`codepages: bad or duplicate page number ${page} for ${ns}`);
    }
    byPage[page] = ns;
  }
  for (let p = 0; p < 26; p++) if (byPage[p] === undefined) throw new Error(`codepages: page ${p} missing`);
  return byPage;
}

{
  const byCode = TAG_BY_CODE as (WbxmlTag | undefined)[];
  byCode.length = PAGE_COUNT * 64;
  for (const ns of NAMESPACE_BY_PAGE) {
    const { page, tokens } = CODE_PAGES[ns] as CodePageDef;
    for (const [name, token] of Object.entries(tokens)) {
      if (!Number.isInteger(token) || token < 0x05 || token > 0x3f) {
        throw new Error(`codepages: token ${token} of ${ns}:${name} outside 0x05..0x3F`);
      }
      const code = page * 64 + token;
      if (byCode[code] !== undefined) throw new Error(`codepages: ${ns}:${name} reuses token ${token}`);
      const tag = `${ns}:${name}` as WbxmlTag;
      byCode[code] = tag;
      CODE_BY_TAG.set(tag, code);
      if (OPAQUE_SET.has(tag)) OPAQUE_BY_CODE[code] = 1;
    }
  }
  for (const t of [...OPAQUE_SET, ...LEGACY_SET]) {
    if (!CODE_BY_TAG.has(t)) throw new Error(`codepages: listed tag ${t} is not in the table`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Public lookups.

/** Page number of a namespace, or undefined. */
export function pageOfNamespace(ns: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(CODE_PAGES, ns) ? CODE_PAGES[ns as WbxmlNamespace].page : undefined;
}

/** Namespace of a page number, or undefined. */
export function namespaceOfPage(page: number): WbxmlNamespace | undefined {
  return NAMESPACE_BY_PAGE[page];
}

/** Qualified tag for a page and token (token without the content/attribute flags), or undefined. */
export function tagOf(page: number, token: number): WbxmlTag | undefined {
  if (!(page >= 0 && page < PAGE_COUNT && token >= 0 && token < 64)) return undefined;
  return TAG_BY_CODE[page * 64 + token];
}

/** Page and token of a qualified tag, or undefined if the tag is not in the table. */
export function codeOf(tag: string): { page: number; token: number } | undefined {
  const code = CODE_BY_TAG.get(tag);
  return code === undefined ? undefined : { page: code >> 6, token: code & 0x3f };
}

/** Internal fast path for the encoder: page * 64 + token, or undefined. */
export function rawCodeOf(tag: string): number | undefined {
  return CODE_BY_TAG.get(tag);
}

export function isKnownTag(tag: string): tag is WbxmlTag {
  return CODE_BY_TAG.has(tag);
}

export function isOpaqueTag(tag: string): boolean {
  return OPAQUE_SET.has(tag);
}

export function isLegacyTag(tag: string): boolean {
  return LEGACY_SET.has(tag);
}

/** All known tags in page/token order. */
export function allTags(): WbxmlTag[] {
  return TAG_BY_CODE.filter((t): t is WbxmlTag => t !== undefined);
}

/** Splits "Namespace:Name"; the namespace is not validated. */
export function splitTag(tag: string): { ns: string; name: string } {
  const i = tag.indexOf(':');
  return i < 0 ? { ns: '', name: tag } : { ns: tag.slice(0, i), name: tag.slice(i + 1) };
}
