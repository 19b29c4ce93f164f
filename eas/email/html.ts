// Text and HTML bodies as each other: plain text shown as HTML (escaped, its line breaks kept), and
// HTML read as plain text with html-to-text under mailparser's options, as mail bodies are read.
import crypto from 'node:crypto';
import { htmlToText } from 'html-to-text';

/** html-to-text's nesting limit as mailparser sets it (the lean mail parser keeps to it too). */
export const HTML_MAX_DEPTH = 1000;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Plain text as an HTML fragment, one line per line. */
export function textToHtml(text: string): string {
  return `<div>${escapeHtml(text).replace(/\r?\n/g, '<br>\r\n')}</div>`;
}

/**
 * HTML as plain text. A stored item's body is converted each time a device that wants text reads it
 * (a 1 MiB body takes about a third of a second), so large conversions are remembered, a bounded few.
 */
export function htmlToPlainText(html: string): string {
  if (html.length < CACHE_FROM_CHARS) return convert(html);
  const key = crypto.createHash('sha256').update(html).digest('base64');
  const known = converted.get(key);
  if (known !== undefined) {
    converted.delete(key);
    converted.set(key, known);
    return known;
  }
  const text = convert(html);
  converted.set(key, text);
  cachedChars += text.length;
  for (const [k, v] of converted) {
    if (converted.size <= CACHE_ENTRIES && cachedChars <= CACHE_CHARS) break;
    converted.delete(k);
    cachedChars -= v.length;
  }
  return text;
}

const CACHE_FROM_CHARS = 16 * 1024;
const CACHE_ENTRIES = 64;
const CACHE_CHARS = 8 * 1024 * 1024;
/** Conversions of large bodies by the SHA-256 of the HTML, least recently used first. */
const converted = new Map<string, string>();
let cachedChars = 0;

function convert(html: string): string {
  try {
    return htmlToText(html, { limits: { maxDepth: HTML_MAX_DEPTH } });
  } catch {
    // Never worse than the markup stripped.
    return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  }
}
