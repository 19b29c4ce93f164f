// What Settings (Oof, DeviceInformation, UserInformation, DevicePassword, RightsManagementInformation) need from the mail service.

export interface SettingsPort {
  /** Placeholder until that work defines it. */
  readonly ready: boolean;
}
