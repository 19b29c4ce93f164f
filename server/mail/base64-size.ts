// The decoded size of a base64 body without decoding it. mailparser reports an attachment's
// size as what its base64 decoder (libbase64) produced: every character outside the alphabet
// and '=' is dropped, and the text between '=' characters decodes run by run, three bytes for
// every four characters and one or two for a trailing group of two or three. Counting the
// alphabet characters gives that number for the price of one pass over the bytes, where
// decoding (or even turning the body into a string first) costs several.

const ALPHABET = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') ALPHABET[c.charCodeAt(0)] = 1;
/** Alphabet characters among the two bytes of a 16-bit value (either byte order). */
const PAIRS = new Uint8Array(65536);
for (let v = 0; v < 65536; v++) PAIRS[v] = ALPHABET[v & 0xff]! + ALPHABET[v >>> 8]!;

export function base64DecodedSize(body: Uint8Array): number {
  let size = 0;
  for (let start = 0; ; ) {
    const pad = body.indexOf(0x3d, start);
    const end = pad < 0 ? body.length : pad;
    size += Math.floor((alphabetCount(body, start, end) * 3) / 4);
    if (pad < 0) return size;
    start = pad + 1;
  }
}

function alphabetCount(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  let i = start;
  // One byte at a time up to a 4-byte boundary of the underlying memory, then a word at a time.
  while (i < end && ((bytes.byteOffset + i) & 3) !== 0) n += ALPHABET[bytes[i++]!]!;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let w = 0; w < words; w++) {
      const x = view[w]!;
      n += PAIRS[x & 0xffff]! + PAIRS[x >>> 16]!;
    }
    i += words * 4;
  }
  while (i < end) n += ALPHABET[bytes[i++]!]!;
  return n;
}
