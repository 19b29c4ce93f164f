// What SendMail, SmartReply and SmartForward need from the mail service.

export interface SubmissionPort {
  /** Placeholder until the submission work defines it. */
  readonly ready: boolean;
}
