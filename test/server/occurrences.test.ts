// Recurring appointments for free/busy: TIME_ZONE_INFORMATION read back and checked hour by hour
// against the platform's time zone database (Intl), and a series' occurrences placed in UTC.
import { strict as assert } from 'node:assert';
import { occurrences, utcToWall, wallToUtc, zoneRules } from '../../server/meetings/occurrences.js';
import { timezoneBlob } from '../../server/meetings/timezone.js';

const BERLIN = timezoneBlob({
  bias: -60, standardName: 'W. Europe Standard Time', daylightName: 'W. Europe Daylight Time', daylightBias: -60,
  standardDate: { month: 10, dayOfWeek: 0, week: 5, hour: 3, minute: 0 }, daylightDate: { month: 3, dayOfWeek: 0, week: 5, hour: 2, minute: 0 },
});
const SYDNEY = timezoneBlob({
  bias: -600, standardName: 'AUS Eastern Standard Time', daylightName: 'AUS Eastern Daylight Time', daylightBias: -60,
  standardDate: { month: 4, dayOfWeek: 0, week: 1, hour: 3, minute: 0 }, daylightDate: { month: 10, dayOfWeek: 0, week: 1, hour: 2, minute: 0 },
});
const NEW_YORK = timezoneBlob({
  bias: 300, standardName: 'Eastern Standard Time', daylightName: 'Eastern Daylight Time', daylightBias: -60,
  standardDate: { month: 11, dayOfWeek: 0, week: 1, hour: 2, minute: 0 }, daylightDate: { month: 3, dayOfWeek: 0, week: 2, hour: 2, minute: 0 },
});

/** The wall-clock reading of a UTC instant in an IANA zone, as the platform's zone database has it (ms, as if UTC). */
function intlWall(zone: string, utc: number): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
  }).formatToParts(utc).map((p) => [p.type, p.value]));
  return Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!);
}

describe('recurring appointments in their time zone', () => {
  for (const [name, blob, iana] of [['Berlin', BERLIN, 'Europe/Berlin'], ['Sydney', SYDNEY, 'Australia/Sydney'], ['New York', NEW_YORK, 'America/New_York']] as const) {
    it(`${name}: every hour of 2031 has the wall time the zone database gives, and back`, () => {
      const z = zoneRules(blob);
      const start = Date.UTC(2031, 0, 1);
      let checked = 0;
      for (let utc = start; utc < Date.UTC(2032, 0, 1); utc += 3_600_000) {
        const wall = intlWall(iana, utc);
        assert.equal(utcToWall(z, utc), wall, `${name} ${new Date(utc).toISOString()}`);
        // The hour the clocks go back is read twice; its first reading is the daylight one.
        if (wallToUtc(z, wall) !== utc) assert.equal(intlWall(iana, utc - 3_600_000), wall, `${name} ${new Date(utc).toISOString()} is the repeated hour`);
        checked++;
      }
      assert.equal(checked, 8760);
    });
  }

  it('a malformed or missing zone is UTC', () => {
    for (const blob of [undefined, '', 'AAAA', Buffer.alloc(171).toString('base64')]) {
      assert.equal(wallToUtc(zoneRules(blob), Date.UTC(2031, 5, 1, 12)), Date.UTC(2031, 5, 1, 12));
    }
  });

  it('places a Sydney series at the same local hour across its April change, and only inside the window', () => {
    // Mondays 09:00 Sydney from 24 March 2031 (AEDT, UTC+11: 22:00 UTC on Sunday) every week, no end.
    const first = { start: Date.UTC(2031, 2, 23, 22), end: Date.UTC(2031, 2, 23, 23) };
    const got = occurrences(first, { type: 1, interval: 1, dayOfWeek: 2 }, SYDNEY, Date.UTC(2031, 2, 20), Date.UTC(2031, 3, 20));
    assert.deepEqual(got.map((o) => new Date(o.start).toISOString()), [
      '2031-03-23T22:00:00.000Z', '2031-03-30T22:00:00.000Z', // AEDT
      '2031-04-06T23:00:00.000Z', '2031-04-13T23:00:00.000Z', // AEST after 6 April
    ]);
    assert.ok(got.every((o) => o.end - o.start === 3_600_000));
    assert.deepEqual(occurrences(first, { type: 1, interval: 1, dayOfWeek: 2 }, SYDNEY, Date.UTC(2031, 2, 24, 1), Date.UTC(2031, 2, 30, 22)), [],
      'nothing between two Mondays');
  });

  it('follows monthly and yearly rules and stops at Until', () => {
    const first = { start: Date.UTC(2031, 0, 31, 9), end: Date.UTC(2031, 0, 31, 10) };
    const lastFriday = occurrences(first, { type: 3, interval: 1, dayOfWeek: 32, weekOfMonth: 5, until: Date.UTC(2031, 3, 1) }, undefined, Date.UTC(2031, 0, 1), Date.UTC(2031, 11, 31));
    assert.deepEqual(lastFriday.map((o) => new Date(o.start).toISOString().slice(0, 10)), ['2031-01-31', '2031-02-28', '2031-03-28']);
    const birthday = occurrences({ start: Date.UTC(2030, 6, 4, 0), end: Date.UTC(2030, 6, 5, 0) }, { type: 5, interval: 1, dayOfMonth: 4, monthOfYear: 7 }, undefined,
      Date.UTC(2031, 0, 1), Date.UTC(2031, 11, 31));
    assert.deepEqual(birthday.map((o) => new Date(o.start).toISOString()), ['2031-07-04T00:00:00.000Z']);
  });

  it('a long-running series is seen in a window decades after it began, with its pattern intact', () => {
    // Daily at 08:00 Berlin since 2012: in June 2031 (summer time) that is 06:00 UTC.
    const daily = occurrences({ start: Date.UTC(2012, 0, 2, 7), end: Date.UTC(2012, 0, 2, 7, 30) }, { type: 0, interval: 1 }, BERLIN,
      Date.UTC(2031, 5, 10), Date.UTC(2031, 5, 13));
    assert.deepEqual(daily.map((o) => new Date(o.start).toISOString()), ['2031-06-10T06:00:00.000Z', '2031-06-11T06:00:00.000Z', '2031-06-12T06:00:00.000Z']);
    // Every other Monday since Monday 3 January 2000: 2 June 2031 is 1,639 weeks later, an odd number, so it is off; 9 June is on.
    const fortnightly = occurrences({ start: Date.UTC(2000, 0, 3, 9), end: Date.UTC(2000, 0, 3, 10) }, { type: 1, interval: 2, dayOfWeek: 2 }, undefined,
      Date.UTC(2031, 5, 1), Date.UTC(2031, 5, 15));
    assert.deepEqual(fortnightly.map((o) => new Date(o.start).toISOString()), ['2031-06-09T09:00:00.000Z']);
    // Over before the window.
    assert.deepEqual(occurrences({ start: Date.UTC(2012, 0, 2, 7), end: Date.UTC(2012, 0, 2, 8) }, { type: 0, interval: 1, until: Date.UTC(2013, 0, 1) }, undefined,
      Date.UTC(2031, 5, 10), Date.UTC(2031, 5, 13)), []);
  });
});
