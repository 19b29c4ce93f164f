import type { Readable } from 'node:stream';

export interface Collected {
  /** The message, or undefined when it went over the limit (the rest was drained, not kept). */
  raw?: Buffer;
  bytes: number;
}

/**
 * Reads the DATA stream to its end, keeping at most `maxBytes`: past the limit
 * the stream is still drained (smtp-server replies only after 'end') but nothing
 * more is buffered. Rejects when the connection drops mid-message.
 */
export function collectMessage(stream: Readable & { sizeExceeded?: boolean }, maxBytes: number): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let over = false;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (over) return;
      if (bytes > maxBytes) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('connection closed during DATA')));
    stream.once('end', () => {
      resolve(over || stream.sizeExceeded ? { bytes } : { raw: Buffer.concat(chunks, bytes), bytes });
    });
  });
}
