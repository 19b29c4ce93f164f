// The multipart body of an ItemOperations response (MS-ASCMD 2.2.1.10.1, application/vnd.ms-sync.multipart):
// a part count, then an (offset, length) pair per part, all 32-bit little-endian integers with offsets
// counted from the start of the body, then the parts back to back. Part 0 is the WBXML document; its
// Part elements name the binary parts by index.

export const MULTIPART_TYPE = 'application/vnd.ms-sync.multipart';

export class MultipartError extends Error {}

export function encodeMultipart(parts: readonly Buffer[]): Buffer {
  const headerSize = 4 + parts.length * 8;
  const header = Buffer.alloc(headerSize);
  header.writeInt32LE(parts.length, 0);
  let offset = headerSize;
  parts.forEach((part, i) => {
    if (offset + part.length > 0x7fffffff) throw new MultipartError('multipart body exceeds 2 GiB');
    header.writeInt32LE(offset, 4 + i * 8);
    header.writeInt32LE(part.length, 8 + i * 8);
    offset += part.length;
  });
  return Buffer.concat([header, ...parts]);
}

/** Splits a multipart body, checking every count, offset and length against the body's size. */
export function decodeMultipart(body: Buffer, maxParts = 10_000): Buffer[] {
  if (body.length < 4) throw new MultipartError(`a multipart body needs at least 4 bytes, got ${body.length}`);
  const count = body.readInt32LE(0);
  if (count < 1 || count > maxParts) throw new MultipartError(`part count ${count} is out of range 1..${maxParts}`);
  if (4 + count * 8 > body.length) throw new MultipartError(`the table of ${count} parts does not fit in ${body.length} bytes`);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const offset = body.readInt32LE(4 + i * 8);
    const length = body.readInt32LE(8 + i * 8);
    if (offset < 4 + count * 8 || length < 0 || offset + length > body.length) {
      throw new MultipartError(`part ${i} (offset ${offset}, length ${length}) lies outside the ${body.length}-byte body`);
    }
    parts.push(body.subarray(offset, offset + length));
  }
  return parts;
}
