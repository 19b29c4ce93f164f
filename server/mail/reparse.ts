// Parsing a stored message again (its attachments' bytes, a draft's parts). mailparser cannot be
// told to stop, so the message is fed in chunks and the stream is destroyed when the time is up:
// a hostile message costs a bounded amount of time and memory.
import { Readable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';

const PARSE_LIMITS = { maxHtmlLengthToParse: 1024 * 1024, maxHeadSize: 1024 * 1024, maxChildNodes: 1000 };
export const REPARSE_TIMEOUT_MS = 15_000;

export async function reparseStored(raw: Buffer): Promise<ParsedMail> {
  const input = Readable.from((function* () {
    for (let i = 0; i < raw.length; i += 64 * 1024) yield raw.subarray(i, i + 64 * 1024);
  })(), { objectMode: false });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      input.destroy(new Error('timeout'));
      reject(new Error(`mailparser gave up after ${REPARSE_TIMEOUT_MS} ms`));
    }, REPARSE_TIMEOUT_MS);
  });
  const parsing = simpleParser(input, {
    keepCidLinks: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true, checksumAlgo: false, ...PARSE_LIMITS,
  });
  parsing.catch(() => undefined);
  try {
    return await Promise.race([parsing, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
