// What ResolveRecipients, ValidateCert and Search in the GAL need from the mail service.

export interface DirectoryPort {
  /** Placeholder until that work defines it. */
  readonly ready: boolean;
}
