// A crude linear HTML-to-text used only when mailparser refused to convert an HTML body (too long
// or too deep): a rough preview beats an empty one, and this never backtracks. (The Preview itself
// is eas/email/preview.ts.)

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

export function roughHtmlToText(html: string): string {
  let out = '';
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, lt);
    const name = /^<\s*(script|style|head)\b/i.exec(html.slice(lt, lt + 10));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? html.length : end + 3;
    } else if (name) {
      const closing = new RegExp('</' + name[1]! + '\\s*>', 'ig');
      closing.lastIndex = lt;
      const end = closing.exec(html);
      i = end ? end.index + end[0].length : html.length;
    } else {
      const gt = html.indexOf('>', lt);
      i = gt < 0 ? html.length : gt + 1;
      out += ' ';
    }
  }
  return out
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
      }
      return Object.hasOwn(ENTITIES, e.toLowerCase()) ? ENTITIES[e.toLowerCase()]! : m;
    })
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/\s*\n\s*/g, '\n')
    .trim();
}
