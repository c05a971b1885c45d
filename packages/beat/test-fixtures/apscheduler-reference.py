#!/usr/bin/env python3
"""Reference run times for the schedule semantics table test (src/schedules/semantics.table.test.ts),
computed with APScheduler 3 as Debian packages it (python3-apscheduler 3.9.1, pytz time zones).

Each row names a Celeriac schedule (`celeriac`: a factory and its arguments) and the same trigger in
APScheduler (the arguments renamed: startDate -> start_date, dayOfWeek -> day_of_week, ...). The
script asks APScheduler for the runs after `after` (exclusive, as Celeriac's `nextRunAfter`) and
writes them as `apscheduler`. Where Celeriac deliberately differs, the row also carries `expected`
(written here by hand) and `differs` (why). Rows of kind `rule` are not APScheduler's: they check a
rule Celeriac documents (the anchor of an interval without startDate), computed here with pytz.
Jitter rows record the bounds of 2,000 APScheduler draws next to the bounds Celeriac promises.

    /usr/bin/python3 packages/beat/test-fixtures/apscheduler-reference.py > packages/beat/test-fixtures/apscheduler-reference.json
"""
import json
import random
import re
from datetime import datetime, timedelta, timezone

import apscheduler
import pytz
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

random.seed(13)
UTC = timezone.utc
NY = 'America/New_York'
LONDON = 'Europe/London'


def instant(text):
    return datetime.fromisoformat(text.replace('Z', '+00:00'))


def iso(dt):
    return dt.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (dt.microsecond // 1000)


def snake(name):
    return re.sub(r'([A-Z])', lambda m: '_' + m.group(1).lower(), name)


def trigger(fn, args):
    if fn == 'oneOff':
        date, options = args[0], (args[1] if len(args) > 1 else {})
        return DateTrigger(date, **{snake(k): v for k, v in options.items()})
    kwargs = {snake(k): v for k, v in args[0].items()}
    return {'interval': IntervalTrigger, 'cron': CronTrigger}[fn](**kwargs)


def runs(trig, after, count):
    """The first `count` fire times strictly after `after`, as a scheduler would chain them."""
    now = instant(after) + timedelta(microseconds=1)
    out, prev = [], None
    for _ in range(count):
        t = trig.get_next_fire_time(prev, now)
        if t is None:
            break
        out.append(iso(t))
        prev = now = t
    return out


rows = []


def row(id, what, fn, args, after, count, expected=None, differs=None, default_timezone=None):
    aps_args = [dict(a) if isinstance(a, dict) else a for a in args]
    if fn == 'oneOff' and len(aps_args) == 1:
        aps_args.append({})
    if default_timezone is not None:
        # APScheduler's scheduler passes its own timezone to a trigger that names none.
        target = aps_args[1] if fn == 'oneOff' else aps_args[0]
        target.setdefault('timezone', default_timezone)
    r = {'id': id, 'what': what, 'celeriac': {'fn': fn, 'args': args}, 'after': after, 'count': count}
    if default_timezone is not None:
        r['defaultTimezone'] = default_timezone
    r['apscheduler'] = runs(trigger(fn, aps_args), after, count)
    if expected is not None:
        r['expected'] = expected
        r['differs'] = differs
    rows.append(r)


# --- interval({ timezone }): the zone reads offset-less dates; the period is elapsed time ---
row('interval-tz-start-london', 'an offset-less startDate is a wall time in the interval zone',
    'interval', [{'hours': 1, 'startDate': '2025-01-10 09:30:00', 'timezone': LONDON}],
    '2025-01-10T00:00:00Z', 3)
row('interval-tz-start-kolkata', 'a +05:30 zone: 09:30 IST is 04:00 UTC, then every 4 hours',
    'interval', [{'hours': 4, 'startDate': '2025-01-10 09:30:00', 'timezone': 'Asia/Kolkata'}],
    '2025-01-09T00:00:00Z', 3)
row('interval-tz-elapsed-across-dst', 'a daily interval keeps 24 hours across spring-forward',
    'interval', [{'days': 1, 'startDate': '2024-03-30 12:00:00', 'timezone': LONDON}],
    '2024-03-30T00:00:00Z', 3)
row('interval-tz-end-tokyo', 'an offset-less endDate bounds the runs (inclusive)',
    'interval', [{'hours': 6, 'startDate': '2025-01-10 00:00:00', 'endDate': '2025-01-11 00:00:00',
                  'timezone': 'Asia/Tokyo'}],
    '2025-01-09T00:00:00Z', 10)
row('interval-tz-start-in-gap', 'a startDate that does not exist is shifted forward by the gap',
    'interval', [{'hours': 1, 'startDate': '2024-03-10 02:30:00', 'timezone': NY}],
    '2024-03-10T00:00:00Z', 2)
row('interval-tz-start-in-overlap', 'a startDate that happens twice', 'interval',
    [{'minutes': 30, 'startDate': '2024-11-03 01:15:00', 'timezone': NY}], '2024-11-03T00:00:00Z', 2,
    expected=['2024-11-03T05:15:00.000Z', '2024-11-03T05:45:00.000Z'],
    differs='Celeriac reads a repeated wall time as its first occurrence (EDT), as Temporal\'s '
            '"compatible" and Python\'s zoneinfo (fold=0); APScheduler 3 with pytz localizes with '
            'is_dst=False, the second (EST)')
row('interval-instant-start-ignores-zone', 'a startDate with an offset stays an instant',
    'interval', [{'hours': 2, 'startDate': '2025-01-10T09:30:00+01:00', 'timezone': 'Asia/Tokyo'}],
    '2025-01-10T00:00:00Z', 2)

# --- oneOff(date, { timezone }): APScheduler's date trigger ---
row('oneoff-tz-berlin', 'an offset-less date is a wall time in the given zone', 'oneOff',
    ['2018-01-23 18:25:30', {'timezone': 'Europe/Berlin'}], '2018-01-01T00:00:00Z', 1)
row('oneoff-offset-wins', 'a date with an offset stays an instant', 'oneOff',
    ['2018-01-23T18:25:30+05:00', {'timezone': 'Europe/Berlin'}], '2018-01-01T00:00:00Z', 1)
row('oneoff-z-wins', 'a date with Z stays an instant', 'oneOff',
    ['2018-01-23 18:25:30Z', {'timezone': 'Europe/Berlin'}], '2018-01-01T00:00:00Z', 1)
row('oneoff-date-only', 'a bare date is midnight in the zone', 'oneOff',
    ['2025-06-01', {'timezone': 'Europe/Paris'}], '2025-01-01T00:00:00Z', 1)
row('oneoff-default-zone', 'without a zone of its own, the entry or beat zone reads it', 'oneOff',
    ['2025-07-04 09:00:00'], '2025-01-01T00:00:00Z', 1, default_timezone=NY)
row('oneoff-in-gap', 'a time that does not exist is shifted forward by the gap', 'oneOff',
    ['2024-03-10 02:30:00', {'timezone': NY}], '2024-01-01T00:00:00Z', 1)
row('oneoff-in-overlap', 'a time that happens twice', 'oneOff',
    ['2024-11-03 01:30:00', {'timezone': NY}], '2024-01-01T00:00:00Z', 1,
    expected=['2024-11-03T05:30:00.000Z'],
    differs='first occurrence (EDT) in Celeriac; APScheduler 3 with pytz (is_dst=False) takes EST')

# --- cron(): offset-less startDate / endDate in the trigger's zone, both inclusive ---
row('cron-tz-start-end', 'offset-less startDate and endDate are wall times in the cron zone',
    'cron', [{'hour': 9, 'minute': 30, 'startDate': '2025-01-10 09:30:00',
              'endDate': '2025-01-12 09:30:00', 'timezone': 'Europe/Paris'}],
    '2025-01-01T00:00:00Z', 5)
row('cron-day-and-weekday', 'cron() needs day and dayOfWeek both to match (APScheduler)', 'cron',
    [{'day': '*/2', 'dayOfWeek': 'mon', 'hour': 0, 'timezone': 'UTC'}], '2023-12-31T12:00:00Z', 4)

# --- cron() on DST days: Celeriac's rules against APScheduler 3.9.1 + pytz ---
row('cron-dst-gap-fixed', 'a daily time in the gap runs shifted forward by the gap', 'cron',
    [{'hour': 2, 'minute': 30, 'timezone': NY}], '2024-03-09T12:00:00Z', 3)
row('cron-dst-gap-every-30', 'every 30 minutes keeps real time through the gap', 'cron',
    [{'minute': '*/30', 'timezone': LONDON}], '2024-03-31T00:15:00Z', 4)
row('cron-dst-gap-two-times', 'two times in one gap', 'cron',
    [{'hour': 1, 'minute': '0,30', 'timezone': LONDON}], '2024-03-30T12:00:00Z', 3,
    expected=['2024-03-31T01:00:00.000Z', '2024-03-31T01:30:00.000Z', '2024-04-01T00:00:00.000Z'],
    differs='Celeriac shifts each time in the gap forward by the gap (02:00 and 02:30 BST); '
            'APScheduler 3.9.1 runs the first shifted and loses the second (once the clock reads '
            '02:xx, hour 1 has passed)')
row('cron-dst-overlap-fixed', 'a daily time in the repeated hour', 'cron',
    [{'hour': 1, 'minute': 30, 'timezone': NY}], '2024-11-02T12:00:00Z', 2,
    expected=['2024-11-03T05:30:00.000Z', '2024-11-04T06:30:00.000Z'],
    differs='once at the first occurrence (01:30 EDT) in Celeriac; APScheduler 3 with pytz runs '
            'it once at the second (01:30 EST)')
row('cron-dst-overlap-every-30', 'every 30 minutes through the repeated hour', 'cron',
    [{'minute': '*/30', 'timezone': NY}], '2024-11-03T04:45:00Z', 5,
    expected=['2024-11-03T05:00:00.000Z', '2024-11-03T05:30:00.000Z', '2024-11-03T06:00:00.000Z',
              '2024-11-03T06:30:00.000Z', '2024-11-03T07:00:00.000Z'],
    differs='Celeriac runs a schedule with every hour in both passes (real time); APScheduler '
            '3.9.1 with pytz skips 01:30 EDT and 01:00 EST (each next time is localized as EST)')
row('cron-dst-overlap-all-hours', 'hour 0-23 is every hour for cron(): both passes', 'cron',
    [{'hour': '0-23', 'minute': 30, 'timezone': NY}], '2024-11-03T04:00:00Z', 4,
    expected=['2024-11-03T04:30:00.000Z', '2024-11-03T05:30:00.000Z', '2024-11-03T06:30:00.000Z',
              '2024-11-03T07:30:00.000Z'],
    differs='both passes in Celeriac (every hour is given); APScheduler 3.9.1 with pytz skips '
            '01:30 EDT')

# --- rule rows: interval without startDate, anchored at local midnight 1970-01-01 (pytz) ---
def anchored(every, zone, after, count):
    anchor = pytz.timezone(zone).localize(datetime(1970, 1, 1)) if zone else datetime(1970, 1, 1, tzinfo=UTC)
    t = anchor + every * ((instant(after) - anchor) // every + 1)
    return [iso(t + every * i) for i in range(count)]


for id, what, opts, zone, after in [
    ('interval-anchor-utc', 'without a zone: the Unix epoch', {'hours': 5}, None, '2025-01-10T00:00:00Z'),
    ('interval-anchor-kolkata', 'hourly in a +05:30 zone runs at :00 local (:30 UTC)',
     {'hours': 1}, 'Asia/Kolkata', '2025-01-10T00:10:00Z'),
    ('interval-anchor-kathmandu', 'hourly in Kathmandu: 1970 was +05:30 there (+05:45 since 1986)',
     {'hours': 1}, 'Asia/Kathmandu', '2025-01-10T00:10:00Z'),
    ('interval-anchor-new-york', 'daily in New York: 00:00 EST, elapsed (01:00 EDT in summer)',
     {'days': 1}, NY, '2025-07-01T12:00:00Z'),
    ('interval-anchor-london', 'daily in London: 1970 was UTC+1 all year, so 23:00 GMT',
     {'days': 1}, LONDON, '2025-01-10T12:00:00Z'),
]:
    args = dict(opts, **({'timezone': zone} if zone else {}))
    rows.append({'id': id, 'what': what, 'kind': 'rule', 'celeriac': {'fn': 'interval', 'args': [args]},
                 'after': after, 'count': 3, 'expected': anchored(timedelta(**opts), zone, after, 3),
                 'reference': 'local midnight 1970-01-01 in the zone (pytz localize), plus whole periods'})

# --- jitter: APScheduler 3.9.1 draws uniform(0, jitter); Celeriac moves both ways ---
for id, fn, args, period, jitter in [
    ('jitter-interval', 'interval', {'minutes': 1}, 60, 20),
    ('jitter-cron', 'cron', {'minute': '*/5'}, 300, 90),
    ('jitter-larger-than-period', 'interval', {'seconds': 10}, 10, 60),
]:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    trig = trigger(fn, [dict(args, jitter=jitter, **({'timezone': 'UTC'}))])
    draws = []
    for _ in range(2000):
        t = trig.get_next_fire_time(base, base)
        draws.append((t - base - timedelta(seconds=period)).total_seconds())
    cap = min(jitter, (period * 1000 - 1) // 2 / 1000)
    rows.append({
        'id': id, 'kind': 'jitter', 'celeriac': {'fn': fn, 'args': [dict(args, jitter=jitter)]},
        'after': '2025-01-01T00:00:00Z', 'count': 200,
        'apschedulerObserved': [round(min(draws), 3), round(max(draws), 3)],
        'expectedBounds': [-cap, cap],
        'differs': 'APScheduler 3.5-3.6 (and the 3.x docs) move a run by uniform(-jitter, +jitter); '
                   '3.7+ only delays it, uniform(0, jitter) (agronholm/apscheduler#416, after '
                   'negative jitter made cron jobs fire twice, #291). Celeriac moves both ways, '
                   'which is safe because a run keeps its scheduled time as its identity, and caps '
                   'the move at half the gap to the neighbouring runs so runs stay in order.',
    })

print(json.dumps({
    'generator': 'packages/beat/test-fixtures/apscheduler-reference.py',
    'apscheduler': apscheduler.__version__ if hasattr(apscheduler, '__version__') else '.'.join(map(str, apscheduler.version_info)),
    'pytz': pytz.__version__,
    'rows': rows,
}, indent=2))
