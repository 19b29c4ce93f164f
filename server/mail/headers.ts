// Header-derived EAS fields computed from our own header scan rather than from
// mailparser, so they are available even when mailparser gives up on a body,
// and so an invalid Date is detected (mailparser silently substitutes "now").

import { firstHeader, type HeaderField } from '../../smime/mime-split.js';

export type Importance = 0 | 1 | 2;

/**
 * EAS Importance: 0 low, 1 normal, 2 high. `Importance` wins over `X-Priority`
 * (1-2 high, 3 normal, 4-5 low), then `X-MSMail-Priority`, then `Priority`
 * (urgent / non-urgent); unrecognised values count as absent.
 */
export function importanceOf(fields: ReadonlyArray<HeaderField>): Importance {
  const readers: Array<[string, (v: string) => Importance | undefined]> = [
    ['importance', word],
    ['x-priority', (v) => {
      const n = /^\s*([1-5])\b/.exec(v);
      if (!n) return undefined;
      const level = Number(n[1]);
      return level < 3 ? 2 : level === 3 ? 1 : 0;
    }],
    ['x-msmail-priority', word],
    ['priority', word],
  ];
  for (const [name, read] of readers) {
    const value = firstHeader(fields, name);
    if (value === undefined) continue;
    const level = read(value);
    if (level !== undefined) return level;
  }
  return 1;
}

function word(v: string): Importance | undefined {
  switch (v.trim().toLowerCase()) {
    case 'high':
    case 'urgent':
      return 2;
    case 'low':
    case 'non-urgent':
      return 0;
    case 'normal':
      return 1;
    default:
      return undefined;
  }
}

const RFC5322_DATE = /\b\d{1,2}\s+[a-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}/i;
const ISO_DATE = /^\s*\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}/i;

/**
 * The Date header as a Date, or undefined when missing or not a date. Only
 * RFC 5322 shaped (and ISO 8601, which some broken clients send) values are
 * handed to Date parsing: V8's parser accepts "1" as 2001-01-01.
 */
export function headerDate(fields: ReadonlyArray<HeaderField>): Date | undefined {
  const value = firstHeader(fields, 'date');
  if (!value || value.length > 200) return undefined;
  if (!RFC5322_DATE.test(value) && !ISO_DATE.test(value)) return undefined;
  const d = new Date(value.replace(/^\s*[a-z]{3},?\s*/i, ''));
  const t = d.getTime();
  if (Number.isNaN(t)) return undefined;
  const year = d.getUTCFullYear();
  return year >= 1970 && year <= 9999 ? d : undefined;
}

// Reply/forward prefixes of common clients in several languages, optionally
// numbered ("Re[2]:", "AW(3):"); stripped repeatedly ("Re: Fwd: Re: x").
const PREFIX = /^\s*(?:re|fw|fwd|aw|wg|sv|vs|antw|odp|tr|rif|res|enc)\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]\s*/i;

/** EAS ThreadTopic: the subject without reply/forward prefixes. */
export function threadTopic(subject: string): string {
  let s = subject;
  for (let i = 0; i < 32; i++) {
    const m = PREFIX.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
  }
  return s.trim();
}

/** Outlook's Thread-Index (base64 of 22 + 5n bytes); undefined unless it looks like base64 of sane length. */
export function threadIndexOf(fields: ReadonlyArray<HeaderField>): string | undefined {
  const value = firstHeader(fields, 'thread-index')?.replace(/\s+/g, '');
  if (!value || value.length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  return value;
}
