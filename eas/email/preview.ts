// The EAS Preview (MS-ASAIRS Preview): the start of a body's text, whitespace collapsed, for mail
// (kept at ingest) and for contacts, calendar items, tasks and notes (made when sent).

export const PREVIEW_LENGTH = 255;

/** The first `max` characters (code points) of the text with whitespace runs collapsed to one space. */
export function previewOf(text: string, max = PREVIEW_LENGTH): string {
  let out = '';
  let count = 0;
  let pendingSpace = false;
  // Stops as soon as the preview is full: a huge body costs no more than its head.
  for (const ch of text) {
    if (/\s/.test(ch)) {
      pendingSpace = count > 0;
      continue;
    }
    if (pendingSpace) {
      if (count + 1 >= max) break;
      out += ' ';
      count++;
      pendingSpace = false;
    }
    out += ch;
    if (++count >= max) break;
  }
  return out;
}
