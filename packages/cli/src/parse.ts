import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** node:util's parseArgs with its errors turned into one-line usage errors. */
export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify .*$/s, ''));
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`${name} must be a number >= 0, got "${value}"`);
  return n;
}

export function jsonOption<T>(
  value: string | undefined,
  name: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError(`${name} must be JSON ${what}, got ${value}`);
  }
  if (!check(parsed)) throw new UsageError(`${name} must be JSON ${what}, got ${value}`);
  return parsed;
}

export function listOption(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export const commonOptions = {
  app: { type: 'string', short: 'A' },
  broker: { type: 'string', short: 'b' },
  backend: { type: 'string' },
  loglevel: { type: 'string', short: 'l' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `  -A, --app <module>      The app module (a .js file exporting \`app\`, or file.js:name)
  -b, --broker <url>      Broker URL; overrides the app module's (default: the app's, else
                          $CELERIAC_BROKER_URL, else sqlite://./celeriac.db)
      --backend <url>     Result backend URL; overrides the app module's (default: the app's, else
                          $CELERIAC_RESULT_BACKEND, else the broker's when it stores results)
  -l, --loglevel <level>  trace, debug, info, warn, error, fatal or silent (default: info)
  -h, --help              Show this help`;
