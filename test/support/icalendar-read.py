# Reads one iCalendar object on stdin with Python's icalendar package (Debian python3-icalendar),
# an implementation independent of ical.js, and prints what the tests compare as JSON: the method,
# the event's identity, its times in UTC (TZIDs resolved through the object's own VTIMEZONEs), its
# people and its rule.
import datetime
import json
import sys

import icalendar

cal = icalendar.Calendar.from_ical(sys.stdin.read())
zones = {str(tz['TZID']): tz.to_tz() for tz in cal.walk('VTIMEZONE')}


def utc(prop):
    if prop is None:
        return None
    value = prop.dt
    if not isinstance(value, datetime.datetime):
        return value.isoformat()
    if value.tzinfo is None:
        tzid = prop.params.get('TZID')
        value = zones[tzid].localize(value) if tzid in zones else value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def address(prop):
    text = str(prop)
    return text.split(':', 1)[1].lower() if text.lower().startswith('mailto:') else text.lower()


def as_list(value):
    return value if isinstance(value, list) else [value]


events = cal.walk('VEVENT')
event = next((e for e in events if 'RECURRENCE-ID' not in e), events[0])
rule = event.get('RRULE')
print(json.dumps({
    'method': str(cal.get('METHOD')),
    'uid': str(event.get('UID')),
    'sequence': int(event.get('SEQUENCE', 0)),
    'start': utc(event.get('DTSTART')),
    'end': utc(event.get('DTEND')),
    'summary': str(event.get('SUMMARY', '')),
    'location': str(event.get('LOCATION', '')),
    'organizer': address(event.get('ORGANIZER')) if event.get('ORGANIZER') else None,
    'attendees': [[address(a), str(a.params.get('PARTSTAT', '')).upper(), str(a.params.get('ROLE', '')).upper()]
                  for a in as_list(event.get('ATTENDEE', []))],
    'rrule': {k: [str(x) if not isinstance(x, datetime.datetime) else x.strftime('%Y%m%dT%H%M%SZ') for x in v] for k, v in rule.items()} if rule else None,
}))
