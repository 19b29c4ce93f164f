export type MailParseErrorCode =
  | 'invalid-input'
  | 'too-large'
  | 'header-too-large'
  | 'too-many-headers';

/**
 * The only error parseMessage throws: a limit the message breaks. Content that
 * is merely malformed never throws; it yields a ParsedMessage with defaults and
 * `warnings`, because the raw bytes are still worth storing and serving.
 */
export class MailParseError extends Error {
  override readonly name = 'MailParseError';
  constructor(
    readonly code: MailParseErrorCode,
    message: string,
  ) {
    super(message);
  }
}
