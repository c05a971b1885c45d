#!/usr/bin/env python3
"""Reference times for the solar schedule tests, computed with PyEphem (Debian's python3-ephem,
the library Celery's own `solar` schedule uses) under the USNO convention: no atmospheric model
(pressure 0), sunrise and sunset when the Sun's upper limb is 34' below the horizon, twilights
when its centre is 6/12/18 degrees below, solar noon at the meridian transit.
That is the same geometry as NOAA's solar calculator (zenith 90.833 degrees for sunrise/sunset).

    /usr/bin/python3 packages/beat/test-fixtures/solar-reference.py > packages/beat/test-fixtures/solar-reference.json
"""
import json
import math
from datetime import datetime, timedelta, timezone

import ephem

PLACES = {
    'london': (51.5074, -0.1278),
    'new_york': (40.7128, -74.006),
    'sydney': (-33.8688, 151.2093),
    'tokyo': (35.6762, 139.6503),
    'quito': (-0.1807, -78.4678),
    'reykjavik': (64.1466, -21.9426),
    'cape_town': (-33.9249, 18.4241),
    'honolulu': (21.3069, -157.8583),
}
DATES = ['2024-01-15', '2024-03-20', '2024-06-21', '2024-09-22', '2024-12-21', '2025-02-03', '2025-08-11']
EVENTS = {
    'dawn_astronomical': ('next_rising', '-18', True),
    'dawn_nautical': ('next_rising', '-12', True),
    'dawn_civil': ('next_rising', '-6', True),
    'sunrise': ('next_rising', '-0:34', False),
    'solar_noon': ('next_transit', '0', False),
    'sunset': ('next_setting', '-0:34', False),
    'dusk_civil': ('next_setting', '-6', True),
    'dusk_nautical': ('next_setting', '-12', True),
    'dusk_astronomical': ('next_setting', '-18', True),
}

cases = []
for place, (lat, lon) in PLACES.items():
    for day in DATES:
        # Start from local mean midnight so every event of that local day comes next.
        start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc) - timedelta(hours=lon / 15)
        for event, (method, horizon, use_center) in EVENTS.items():
            obs = ephem.Observer()
            obs.lat, obs.lon, obs.elevation = str(lat), str(lon), 0
            obs.pressure = 0
            obs.horizon = horizon
            obs.date = ephem.Date(start.replace(tzinfo=None))
            try:
                if method == 'next_transit':
                    t = obs.next_transit(ephem.Sun(), start=obs.date)
                else:
                    t = getattr(obs, method)(ephem.Sun(), start=obs.date, use_center=use_center)
            except (ephem.AlwaysUpError, ephem.NeverUpError):
                continue
            at = ephem.Date(t).datetime().replace(tzinfo=timezone.utc)
            if at - start > timedelta(days=1):
                continue  # the event does not happen on this local day
            cases.append({
                'place': place, 'latitude': lat, 'longitude': lon, 'event': event,
                'after': start.isoformat(timespec='milliseconds').replace('+00:00', 'Z'),
                'expected': at.isoformat(timespec='seconds').replace('+00:00', 'Z'),
            })

print(json.dumps({'generator': 'PyEphem ' + ephem.__version__ + ', USNO convention (pressure 0)', 'cases': cases}, indent=1))
