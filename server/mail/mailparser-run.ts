// The mailparser path: the reference parser, used for every message the lean parser is not sure
// of. mailparser cannot be told to stop, so the message is fed in chunks and the stream destroyed
// when the time is up.

import { Readable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface MailparserLimits {
  maxHeaderBytes: number;
  maxParts: number;
  maxHtmlToTextBytes: number;
  timeoutMs: number;
}

/** mailparser's result, or undefined (with a warning) when it failed or ran out of time. */
export async function runMailparser(raw: Buffer, o: MailparserLimits, warnings: string[]): Promise<ParsedMail | undefined> {
  // Fed in chunks so that a timeout can stop the work: destroying the input
  // halts mailparser at the next chunk, where a Buffer input would run to the end.
  const input = Readable.from(chunksOf(raw, 64 * 1024), { objectMode: false });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      input.destroy(new Error('timeout'));
      resolve('timeout');
    }, o.timeoutMs);
  });
  try {
    const parsing = simpleParser(input, {
      keepCidLinks: true, // EAS clients resolve cid: against the attachment list themselves.
      skipTextToHtml: true,
      skipImageLinks: true,
      skipTextLinks: true,
      checksumAlgo: false,
      maxHtmlLengthToParse: o.maxHtmlToTextBytes,
      maxHeadSize: o.maxHeaderBytes,
      maxChildNodes: o.maxParts,
    });
    // A rejection after a timeout must not surface as an unhandled rejection.
    parsing.catch(() => undefined);
    const result = await Promise.race([parsing, timeout]);
    if (result === 'timeout') {
      warnings.push(`mailparser: gave up after ${o.timeoutMs} ms`);
      return undefined;
    }
    return result;
  } catch (err) {
    warnings.push(`mailparser: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

function* chunksOf(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
