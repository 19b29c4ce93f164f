// The messages between the mail flow and its ingest workers (see pipeline.ts and worker.ts).
import type { ParsedMessage, ParseOptions } from '../mail/parse.js';
import type { SmimeVerdict } from '../../smime/verdict.js';

/** The organisation's trust material as DER, with the change stamp it was read at. */
export interface TrustMaterial {
  stamp: number;
  roots: Uint8Array[];
  intermediates: Uint8Array[];
  crls: Uint8Array[];
  certificates: Uint8Array[];
}

export type ToWorker = { type: 'trust'; material: TrustMaterial };

export interface IngestRequest {
  raw: Uint8Array;
  parse: Pick<ParseOptions, 'maxBytes'>;
  /** Verify S/MIME signatures too, against the trust material last sent. */
  verify: boolean;
}

export interface IngestResult {
  parsed: ParsedMessage;
  /**
   * The verdict, when the worker could reach one on its own. Absent when it was not asked, the
   * message is not S/MIME, or verifying needed what only the main thread has (private keys to
   * open an envelope).
   */
  verdict?: SmimeVerdict;
}
