// What Search in the Mailbox store and Find need from the mail service.

export interface SearchPort {
  /** Placeholder until that work defines it. */
  readonly ready: boolean;
}
