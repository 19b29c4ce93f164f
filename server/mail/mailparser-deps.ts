// Libraries the lean parser must share with mailparser to give the same answers. libmime,
// libqp, libbase64 and html-to-text are imported directly (today one copy serves both; a test
// checks that this stays so). The address parser is the exception: mailparser depends on a
// newer nodemailer than this project does and brings its own copy, whose address parsing
// differs from the older one's, so it is loaded through mailparser's own module resolution.

import { createRequire } from 'node:module';

export interface ParsedAddress {
  name: string;
  address?: string;
  group?: ParsedAddress[];
}

const requireHere = createRequire(import.meta.url);
const requireAsMailparser = createRequire(requireHere.resolve('mailparser/package.json'));

/** The nodemailer address parser that mailparser uses. */
export const addressparser = requireAsMailparser('nodemailer/lib/addressparser') as (header: string) => ParsedAddress[];

/** The punycode implementation that mailparser decodes internationalised domains with. */
export const punycodeToUnicode = (requireAsMailparser('punycode.js') as { toUnicode(domain: string): string }).toUnicode;

/** Where mailparser (or the splitter under it) finds a package, for the test that compares copies. */
export function resolvedAsMailparser(specifier: string): string {
  return requireAsMailparser.resolve(specifier);
}
