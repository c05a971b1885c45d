import { CeleriacError, ErrorCodes } from './errors.js';

export interface OptionChecks {
  /** `CELERIAC_ERR_INVALID_OPTION` naming the component and the option. */
  readonly invalid: (option: string, problem: string) => CeleriacError;
  /** `value`, or `fallback` when undefined; throws unless it is a positive (integer) number. */
  readonly positive: (
    option: string,
    value: number | undefined,
    fallback: number,
    integer?: boolean,
  ) => number;
  /**
   * Throws for a key of `options` that is not in `keys`, naming the nearest valid spelling:
   * a misspelt option must not silently keep its default.
   */
  readonly known: (options: object, keys: readonly string[]) => void;
}

/** Edit distance (case-insensitive), for the "did you mean" of an unknown option. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      const same = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase();
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (same ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** Option checks whose errors read `<owner> option "<name>" <problem>`. */
export function optionChecks(owner: string): OptionChecks {
  const invalid = (option: string, problem: string): CeleriacError =>
    new CeleriacError(ErrorCodes.INVALID_OPTION, `${owner} option "${option}" ${problem}`, {
      details: { option },
    });
  const positive = (
    option: string,
    value: number | undefined,
    fallback: number,
    integer = false,
  ): number => {
    if (value === undefined) return fallback;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isInteger(value))
    ) {
      throw invalid(
        option,
        `must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`,
      );
    }
    return value;
  };
  const known = (options: object, keys: readonly string[]): void => {
    for (const key of Object.keys(options)) {
      if (keys.includes(key)) continue;
      let best: string | undefined;
      let bestDistance = Infinity;
      for (const k of keys) {
        const d = distance(key, k);
        if (d < bestDistance) [best, bestDistance] = [k, d];
      }
      const near = best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3));
      throw invalid(
        key,
        `is not an option (valid: ${keys.join(', ')})${near ? `; did you mean "${best}"?` : ''}`,
      );
    }
  };
  return { invalid, positive, known };
}
