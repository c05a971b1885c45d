import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Reads the examples of docs/scheduler.md (its ```ts blocks and the rows of its "first runs"
 * tables), turns each into a TypeScript program, type-checks and runs them. What each run must
 * do is in the doc itself: a `// →` comment (or the row's "first runs" cell) lists the first
 * runs of the job created on that line, so the doc and its test cannot drift apart.
 */

/** One example: a code block, or one row of a table. */
export interface Example {
  readonly where: string;
  /** The TypeScript, as the doc shows it. */
  readonly code: string;
  /** The first runs of each job the example creates, in order of creation. */
  readonly expected: readonly (readonly ExpectedRun[])[];
}

export interface ExpectedRun {
  /** As written, with the date filled in: `2025-06-02 09:10` (UTC). */
  readonly text: string;
  readonly at: number;
  /** `~10:00 ±120s`: the run may be this many ms either side (jitter). */
  readonly toleranceMs: number;
}

/** The doc's "now": Monday 2 June 2025, 09:00:00 UTC. */
export const DOC_NOW = Date.parse('2025-06-02T09:00:00Z');
const DOC_DATE = '2025-06-02';

const TOKEN = /^(~)?(?:(\d{4}-\d{2}-\d{2}) )?(\d{2}:\d{2}(?::\d{2})?)(?: ±(\d+)s)?$/;

/** `09:10, 2025-06-03 10:30, ~11:00 ±120s` (a bare time is on the date before it); `none`. */
export function parseRuns(text: string, where: string): ExpectedRun[] {
  const list = text.replace(/\([^)]*\)/g, '').trim();
  if (list === 'none') return [];
  let date = DOC_DATE;
  return list.split(',').map((raw) => {
    const token = raw.trim();
    const m = TOKEN.exec(token);
    if (!m) throw new Error(`${where}: cannot read the run time "${token}" in "${text}"`);
    date = m[2] ?? date;
    const time = (m[3] ?? '').length === 5 ? `${m[3]}:00` : (m[3] ?? '');
    const full = `${date} ${time}`;
    return {
      text: `${m[1] ?? ''}${full}${m[4] === undefined ? '' : ` ±${m[4]}s`}`,
      at: Date.parse(`${date}T${time}Z`),
      toleranceMs: Number(m[4] ?? 0) * 1000,
    };
  });
}

/** The examples of a doc; throws when a ```ts block has no `// →` (it would check nothing). */
export function examplesOf(md: string): Example[] {
  const out: Example[] = [];
  const lineOf = (index: number): number => md.slice(0, index).split('\n').length;
  for (const m of md.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```/gm)) {
    const lang = m[1] ?? '';
    if (lang !== 'ts' && lang !== 'typescript') continue;
    const code = m[2] ?? '';
    const where = `docs/scheduler.md:${lineOf(m.index)}`;
    const expected = [...code.matchAll(/\/\/ → (.*)$/gm)].map((a) => parseRuns(a[1] ?? '', where));
    if (expected.length === 0)
      throw new Error(`${where}: a ts block with no "// →" comment is not covered by the test`);
    out.push({ where, code, expected });
  }
  let header: string[] | undefined;
  md.split('\n').forEach((line, i) => {
    if (!line.startsWith('|')) {
      header = undefined;
      return;
    }
    const cells = splitRow(line);
    if (!header) {
      header = cells;
      return;
    }
    const codeAt = header.indexOf('Celeriac');
    const runsAt = header.indexOf('first runs');
    if (codeAt < 0 || runsAt < 0 || /^-+$/.test(cells[0] ?? '')) return;
    const where = `docs/scheduler.md:${i + 1}`;
    const cell = cells[codeAt] ?? '';
    const code = /^`(.*)`$/.exec(cell)?.[1];
    if (code === undefined) throw new Error(`${where}: the Celeriac cell is not one code span`);
    out.push({ where, code: `${code};\n`, expected: [parseRuns(cells[runsAt] ?? '', where)] });
  });
  return out;
}

function splitRow(line: string): string[] {
  return line
    .slice(1, line.endsWith('|') ? -1 : undefined)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** Names an example may use without declaring them; each is added only when used and undeclared. */
const AMBIENT_IMPORTS: Record<string, { from: string; type?: boolean }> = {
  Scheduler: { from: '@celeriac/beat' },
  crontab: { from: '@celeriac/beat' },
  cron: { from: '@celeriac/beat' },
  interval: { from: '@celeriac/beat' },
  oneOff: { from: '@celeriac/beat' },
  every: { from: '@celeriac/beat' },
  SchedulerEventMap: { from: '@celeriac/beat', type: true },
};
const AMBIENT_DECLARATIONS: Record<string, string> = {
  scheduler: 'const scheduler = new Scheduler();',
  job: 'function job(): void {}',
  greet: 'function greet(_name: string): void {}',
  myJob: 'function myJob(_text: string): void {}',
  backup: 'function backup(): void {}',
  report: 'function report(): void {}',
  myfunc: 'function myfunc(): void {}',
  flaky: 'function flaky(): void {}',
};

/** The example as a whole program: with the imports and declarations it leaves out. */
export function programOf(code: string): string {
  const uses = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(code);
  const declares = (name: string): boolean =>
    new RegExp(`(function|const|let|class)\\s+${name}\\b|import[^;]*\\b${name}\\b[^;]*from`).test(
      code,
    );
  const decls = Object.entries(AMBIENT_DECLARATIONS)
    .filter(([name]) => uses(name) && !declares(name))
    .map(([, d]) => d);
  const all = `${decls.join('\n')}\n${code}`;
  const imports = Object.entries(AMBIENT_IMPORTS)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(all) && !declares(name))
    .map(([name, i]) => `import ${i.type ? 'type ' : ''}{ ${name} } from '${i.from}';`);
  // The example's own imports first: they must stay at the top of the module.
  const own = [...code.matchAll(/^import [^;]*;\n/gm)].map((m) => m[0]).join('');
  const rest = code.replace(/^import [^;]*;\n/gm, '');
  return `${own}${imports.join('\n')}\n${decls.join('\n')}\n${rest}\nexport {};\n`;
}

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
  paths: {
    '@celeriac/beat': [here('../index.ts')],
    '@celeriac/beat/sqlite': [here('../sqlite/index.ts')],
  },
};

/** Type-checks the programs together; resolves with the errors in them, as `file:line: text`. */
export function typeCheck(programs: ReadonlyMap<string, string>): string[] {
  const files = new Map<string, string>();
  let n = 0;
  const names = new Map<string, string>();
  for (const [where, source] of programs) {
    const file = here(`./__doc_example_${++n}.ts`);
    files.set(file, source);
    names.set(file, where);
  }
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) => {
    const text = files.get(file);
    return text === undefined
      ? getSourceFile(file, lang, ...rest)
      : ts.createSourceFile(file, text, lang, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => files.has(file) || fileExists(file);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => files.get(file) ?? readFile(file);
  const program = ts.createProgram([...files.keys()], COMPILER_OPTIONS, host);
  const errors: string[] = [];
  for (const file of files.keys()) {
    const sf = program.getSourceFile(file);
    if (!sf) continue;
    for (const d of ts.getPreEmitDiagnostics(program, sf)) {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line + 1;
      errors.push(
        `${names.get(file)} (program line ${line}): ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
    }
  }
  return errors;
}

/** The program as the body of an async function: imports become `__import(...)` calls. */
export function toFunctionBody(source: string): string {
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  return js
    .replace(/^export \{\};?$/gm, '')
    .replace(
      /^import\s*\{([^}]*)\}\s*from\s*["']([^"']+)["'];?$/gm,
      (_all, names: string, from: string) =>
        `const {${names.replace(/\s+as\s+/g, ': ')}} = __import(${JSON.stringify(from)});`,
    );
}
