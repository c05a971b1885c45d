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
  return { invalid, positive };
}
