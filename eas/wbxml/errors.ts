// One error type for the whole codec, so HTTP handlers can map any malformed body to a single
// protocol answer with one `instanceof` check, and logs can say exactly where the bytes went wrong.

export type WbxmlErrorCode =
  // decoder
  | 'empty'
  | 'too-large'
  | 'truncated'
  | 'bad-header'
  | 'unknown-page'
  | 'unknown-token'
  | 'unsupported-token'
  | 'bad-string-ref'
  | 'bad-utf8'
  | 'too-deep'
  | 'too-many-elements'
  | 'trailing-bytes'
  // encoder
  | 'unknown-tag'
  | 'invalid-text'
  | 'invalid-element'
  // XML dialects (fixtures, traces)
  | 'bad-xml';

export class WbxmlError extends Error {
  override readonly name = 'WbxmlError';
  readonly code: WbxmlErrorCode;
  /** Byte offset in the WBXML input (decoder) or character offset in the XML input (fromXml); -1 when not applicable. */
  readonly offset: number;

  constructor(code: WbxmlErrorCode, message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at offset ${offset})` : message);
    this.code = code;
    this.offset = offset;
  }
}
