import { closestName } from '@celeriac/core/internal';
import { invalidSchedule, show } from '../errors.js';

/** Celery's solar events. Dawn and dusk are the three twilights; noon is the meridian transit. */
export const SOLAR_EVENTS = [
  'dawn_astronomical',
  'dawn_nautical',
  'dawn_civil',
  'sunrise',
  'solar_noon',
  'sunset',
  'dusk_civil',
  'dusk_nautical',
  'dusk_astronomical',
] as const;
export type SolarEvent = (typeof SOLAR_EVENTS)[number];

/** A solar event at a place. See {@link solar}. */
export interface SolarSchedule {
  readonly kind: 'solar';
  readonly event: SolarEvent;
  /** Degrees north, -90..90. */
  readonly latitude: number;
  /** Degrees east, -180..180. */
  readonly longitude: number;
}

/**
 * Runs at a solar event at a place (Celery's `solar` schedule): `sunrise`, `sunset`,
 * `solar_noon`, and dawn and dusk for civil (Sun 6° below the horizon), nautical (12°) and
 * astronomical (18°) twilight. Sunrise and sunset are when the Sun's upper limb touches the
 * horizon under standard refraction (zenith 90.833°).
 *
 * Computed with NOAA's solar-position algorithm (the equations of the NOAA Solar
 * Calculator), which is good to about a minute between latitudes ±72°. Days on which the
 * event does not happen (polar day or night, no astronomical dusk in a northern summer) are
 * skipped. An event is an instant, so no time zone is involved.
 *
 * @example
 * ```ts
 * solar('sunrise', 51.5074, -0.1278);   // sunrise in London
 * solar('dusk_civil', -33.87, 151.21);  // end of civil twilight in Sydney
 * ```
 */
export function solar(event: SolarEvent, latitude: number, longitude: number): SolarSchedule {
  if (!(SOLAR_EVENTS as readonly string[]).includes(event)) {
    const near = typeof event === 'string' ? closestName(event, SOLAR_EVENTS) : undefined;
    const hint =
      near === undefined ? `use one of ${SOLAR_EVENTS.join(', ')}` : `did you mean "${near}"?`;
    throw invalidSchedule(
      `solar(): unknown event ${show(event)}; ${hint}`,
      'solar.event',
      event,
      undefined,
      near === undefined ? {} : { suggestion: near },
    );
  }
  if (
    typeof latitude !== 'number' ||
    !Number.isFinite(latitude) ||
    latitude < -90 ||
    latitude > 90
  ) {
    throw invalidSchedule(
      `solar(): latitude must be a number of degrees in -90..90, got ${show(latitude)}`,
      'solar.latitude',
      latitude,
    );
  }
  if (
    typeof longitude !== 'number' ||
    !Number.isFinite(longitude) ||
    longitude < -180 ||
    longitude > 180
  ) {
    throw invalidSchedule(
      `solar(): longitude must be a number of degrees in -180..180, got ${show(longitude)}`,
      'solar.longitude',
      longitude,
    );
  }
  return Object.freeze({ kind: 'solar' as const, event, latitude, longitude });
}

const DAY = 86_400_000;
const MINUTE = 60_000;
const RAD = Math.PI / 180;

/** The Sun's zenith angle at the event, in degrees; undefined for the transit. */
const ZENITH: Record<SolarEvent, number | undefined> = {
  dawn_astronomical: 108,
  dawn_nautical: 102,
  dawn_civil: 96,
  sunrise: 90.833,
  solar_noon: undefined,
  sunset: 90.833,
  dusk_civil: 96,
  dusk_nautical: 102,
  dusk_astronomical: 108,
};

/** Declination (radians) and equation of time (minutes) at an instant: NOAA's equations. */
function sunAt(t: number): { declination: number; equationOfTime: number } {
  const jd = t / DAY + 2_440_587.5;
  const T = (jd - 2_451_545) / 36_525;
  const meanLong = (((280.46646 + T * (36_000.76983 + T * 0.0003032)) % 360) + 360) % 360;
  const meanAnomaly = 357.52911 + T * (35_999.05029 - 0.0001537 * T);
  const eccentricity = 0.016708634 - T * (0.000042037 + 0.0000001267 * T);
  const m = meanAnomaly * RAD;
  const center =
    Math.sin(m) * (1.914602 - T * (0.004817 + 0.000014 * T)) +
    Math.sin(2 * m) * (0.019993 - 0.000101 * T) +
    Math.sin(3 * m) * 0.000289;
  const trueLong = meanLong + center;
  const omega = (125.04 - 1934.136 * T) * RAD;
  const apparentLong = (trueLong - 0.00569 - 0.00478 * Math.sin(omega)) * RAD;
  const meanObliquity =
    23 + (26 + (21.448 - T * (46.815 + T * (0.00059 - T * 0.001813))) / 60) / 60;
  const obliquity = (meanObliquity + 0.00256 * Math.cos(omega)) * RAD;
  const declination = Math.asin(Math.sin(obliquity) * Math.sin(apparentLong));
  const y = Math.tan(obliquity / 2) ** 2;
  const l0 = meanLong * RAD;
  const equationOfTime =
    (4 / RAD) *
    (y * Math.sin(2 * l0) -
      2 * eccentricity * Math.sin(m) +
      4 * eccentricity * y * Math.sin(m) * Math.cos(2 * l0) -
      0.5 * y * y * Math.sin(4 * l0) -
      1.25 * eccentricity * eccentricity * Math.sin(2 * m));
  return { declination, equationOfTime };
}

/**
 * The event on the solar day whose UTC date starts at `dayStart`, or undefined when it does not
 * happen. Each pass evaluates the Sun at the previous estimate, so the result converges on the
 * instant itself rather than on the Sun's position at noon.
 */
function eventOnDay(s: SolarSchedule, dayStart: number): number | undefined {
  const zenith = ZENITH[s.event];
  const rising = s.event.startsWith('dawn') || s.event === 'sunrise';
  const lat = s.latitude * RAD;
  let t = dayStart + (720 - 4 * s.longitude) * MINUTE;
  for (let i = 0; i < 4; i++) {
    const { declination, equationOfTime } = sunAt(t);
    const noon = dayStart + (720 - 4 * s.longitude - equationOfTime) * MINUTE;
    if (zenith === undefined) {
      t = noon;
      continue;
    }
    const cosHourAngle =
      Math.cos(zenith * RAD) / (Math.cos(lat) * Math.cos(declination)) -
      Math.tan(lat) * Math.tan(declination);
    if (!(cosHourAngle >= -1 && cosHourAngle <= 1)) return undefined;
    const hourAngle = Math.acos(cosHourAngle) / RAD;
    t = noon + (rising ? -4 : 4) * hourAngle * MINUTE;
  }
  return Math.round(t / 1000) * 1000;
}

/** Looks a little over a year ahead: enough for the longest polar night. */
const MAX_DAYS = 400;

export function nextSolarRun(s: SolarSchedule, after: number): number | undefined {
  // The local mean solar date of `after`, minus one day in case yesterday's event is still ahead.
  const localDay = Math.floor((after + 4 * s.longitude * MINUTE) / DAY) * DAY - DAY;
  for (let k = 0; k < MAX_DAYS; k++) {
    const t = eventOnDay(s, localDay + k * DAY);
    if (t !== undefined && t > after) return t;
  }
  return undefined;
}
