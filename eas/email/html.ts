// Text and HTML bodies as each other: plain text shown as HTML (escaped, its line breaks kept), and
// HTML read as plain text with html-to-text under mailparser's options, as mail bodies are read.
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

/** HTML as plain text. */
export function htmlToPlainText(html: string): string {
  try {
    return htmlToText(html, { limits: { maxDepth: HTML_MAX_DEPTH } });
  } catch {
    // Never worse than the markup stripped.
    return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  }
}
