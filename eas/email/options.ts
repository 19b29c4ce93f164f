// A Sync or ItemOperations Options block: what the client wants bodies to look like.
import { child, childrenOf, childText, type WbxmlElement } from '../wbxml/tree.js';

export interface BodyPreference {
  type: number; // 1 text, 2 HTML, 3 RTF, 4 MIME
  truncationSize?: number;
  allOrNone: boolean;
  preview?: number;
}

export interface ItemOptions {
  filterType: number;
  mimeSupport: 0 | 1 | 2;
  /** Characters of MIME to send; undefined = no limit. */
  mimeTruncation?: number;
  bodyPreferences: BodyPreference[];
  /** 2.5's AirSync:Truncation, in characters; undefined = no limit. */
  legacyTruncation?: number;
  conflict: 0 | 1;
}

export class OptionsError extends Error {}

/** MIMETruncation and 2.5 Truncation codes to sizes (MS-ASCMD). */
const TRUNCATION_SIZES: ReadonlyArray<number | undefined> = [0, 4096, 5120, 7168, 10240, 20480, 51200, 102400, undefined, undefined];

export const DEFAULT_OPTIONS: ItemOptions = { filterType: 0, mimeSupport: 0, bodyPreferences: [], conflict: 1 };

function uint(text: string | undefined, what: string, max = 0xffffffff): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,10}$/.test(text.trim())) throw new OptionsError(`${what} must be an unsigned integer`);
  const n = Number(text.trim());
  if (n > max) throw new OptionsError(`${what} is out of range`);
  return n;
}

export function readOptions(options: WbxmlElement | undefined, base: ItemOptions = DEFAULT_OPTIONS): ItemOptions {
  if (!options) return base;
  const filterType = uint(childText(options, 'AirSync:FilterType'), 'FilterType', 8) ?? base.filterType;
  const mimeSupport = uint(childText(options, 'AirSync:MIMESupport'), 'MIMESupport', 2) ?? base.mimeSupport;
  const mimeCode = uint(childText(options, 'AirSync:MIMETruncation'), 'MIMETruncation', 8);
  const legacyCode = uint(childText(options, 'AirSync:Truncation'), 'Truncation', 9);
  const conflict = uint(childText(options, 'AirSync:Conflict'), 'Conflict', 1) ?? base.conflict;
  const prefs = childrenOf(options, 'AirSyncBase:BodyPreference').map((p): BodyPreference => {
    const type = uint(childText(p, 'AirSyncBase:Type'), 'BodyPreference Type', 4);
    if (type === undefined || type === 0) throw new OptionsError('BodyPreference needs a Type of 1 to 4');
    const allOrNone = childText(p, 'AirSyncBase:AllOrNone');
    return {
      type,
      truncationSize: uint(childText(p, 'AirSyncBase:TruncationSize'), 'TruncationSize'),
      allOrNone: allOrNone === '1' || (allOrNone === '' && child(p, 'AirSyncBase:AllOrNone') !== undefined),
      preview: uint(childText(p, 'AirSyncBase:Preview'), 'Preview', 255),
    };
  });
  return {
    filterType,
    mimeSupport: mimeSupport as 0 | 1 | 2,
    mimeTruncation: mimeCode === undefined ? base.mimeTruncation : TRUNCATION_SIZES[mimeCode],
    bodyPreferences: prefs.length > 0 ? prefs : base.bodyPreferences,
    legacyTruncation: legacyCode === undefined ? base.legacyTruncation : TRUNCATION_SIZES[legacyCode],
    conflict: conflict as 0 | 1,
  };
}

const DAY = 86_400_000;
const FILTER_DAYS: ReadonlyArray<number | undefined> = [undefined, 1, 3, 7, 14, 31, 93, 186];

/** The oldest DateReceived a FilterType lets through, or undefined for all. */
export function filterCutoff(filterType: number, now = Date.now()): Date | undefined {
  const days = FILTER_DAYS[filterType];
  return days === undefined ? undefined : new Date(now - days * DAY);
}
