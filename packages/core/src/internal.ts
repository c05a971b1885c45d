/**
 * `@celeriac/core/internal`: the plumbing Celeriac's own packages share (driver loading,
 * write coalescing, slot tables, option validation, name suggestions).
 *
 * Not public API: anything here may change or disappear in any release, patch releases
 * included. Applications and third-party drivers should import from `@celeriac/core`.
 *
 * @packageDocumentation
 */
export {
  loadDriver,
  coalesceWrites,
  Slots,
  optionChecks,
  optionTypes,
  showValue,
  closestName,
  editDistance,
} from './index.js';
export type {
  LoadDriverOptions,
  OptionChecks,
  OptionSpec,
  OptionType,
  StrictOptions,
} from './index.js';
