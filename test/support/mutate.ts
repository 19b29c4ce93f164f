// Byte-level damage for property tests. Each mutation acts at `at` modulo the current length:
// flip (overwrite the byte), insert a byte, delete a byte, truncate there, or insert a CRLF.
export interface ByteMutation {
  at: number;
  op: 'flip' | 'insert' | 'delete' | 'truncate' | 'crlf';
  byte: number;
}

export function mutateBytes(seed: Buffer, muts: readonly ByteMutation[]): Buffer {
  let buf = Buffer.from(seed);
  for (const m of muts) {
    if (buf.length === 0) break;
    const at = m.at % buf.length;
    if (m.op === 'flip') buf[at] = m.byte;
    else if (m.op === 'insert') buf = Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
    else if (m.op === 'delete') buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
    else if (m.op === 'crlf') buf = Buffer.concat([buf.subarray(0, at), Buffer.from('\r\n'), buf.subarray(at)]);
    else buf = buf.subarray(0, at);
  }
  return buf;
}
