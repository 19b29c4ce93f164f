// html-to-text ships no type declarations; this covers the one call the lean parser and eas/email/html.ts make.
declare module 'html-to-text' {
  export interface HtmlToTextOptions {
    limits?: { maxDepth?: number };
  }
  export function htmlToText(html: string, options?: HtmlToTextOptions): string;
}
