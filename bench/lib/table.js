// Cells, paired ratios and verdicts for the Markdown tables of `npm run bench` and
// `npm run bench:amqp`.
import { median } from './stats.js';

export const fmtInt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function fmt(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  if (unit === 'tasks/s' || unit === 'msg/s' || unit === 'µs') return fmtInt.format(value);
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1);
  if (unit === 'MB') return value.toFixed(0);
  return value.toFixed(2);
}

/**
 * The median over repetitions of a's value ÷ b's in the same repetition. The two runs of a pair
 * ran back to back, so load that comes and goes on the machine (other processes, thermal)
 * weighs on both sides of each ratio; a ratio of medians would not pair them. Equals the ratio
 * of the two values when there is one repetition.
 */
export function pairedRatio(aRuns, bRuns, pick) {
  const ratios = [];
  for (const a of aRuns) {
    const b = bRuns.find((r) => r.rep === a.rep);
    const av = pick(a);
    const bv = b && pick(b);
    if (av > 0 && bv > 0) ratios.push(av / bv);
  }
  return median(ratios);
}

/** Who a Celeriac ÷ `other` ratio favours, and by how much. */
export function verdict(ratio, better, other) {
  const celeriacWins = better === 'higher' ? ratio >= 1 : ratio <= 1;
  const factor = ratio >= 1 ? ratio : 1 / ratio;
  if (factor < 1.03) return 'about even';
  return `${celeriacWins ? 'Celeriac' : other} ${factor.toFixed(2)}× better`;
}

/** `median` and, with more than one run, the spread as ±half the range in % of the median. */
export function cell(values, unit) {
  const m = median(values);
  if (m === undefined) return { m, text: 'n/a' };
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (xs.length < 2 || m === 0) return { m, text: fmt(m, unit) };
  const spread = ((Math.max(...xs) - Math.min(...xs)) / 2 / Math.abs(m)) * 100;
  return { m, text: `${fmt(m, unit)} ±${spread < 1 ? spread.toFixed(1) : spread.toFixed(0)}%` };
}
