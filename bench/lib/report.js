// The Markdown report: the comparison table, the Redis command breakdown and the machine.
import { cell, fmtInt, pairedRatio, verdict } from './table.js';

/** The rows of the main table; `pick` reads one run's value. */
function rows(config) {
  const n = fmtInt.format(config.tasks);
  return [
    {
      w: 'W1',
      label: `W1 end to end, ${n} tasks published while 1 worker runs them`,
      unit: 'tasks/s',
      better: 'higher',
      pick: (r) => r.throughput,
    },
    {
      w: 'W2',
      label: `W2 drain ${n} pre-filled tasks`,
      unit: 'tasks/s',
      better: 'higher',
      pick: (r) => r.throughput,
    },
    {
      w: 'W2',
      label: 'W2 worker process CPU per task',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.workerCpuUsPerTask,
    },
    {
      w: 'W5',
      label: `W5 fan-in, ${n} tasks from 4 producer processes to 2 worker processes`,
      unit: 'tasks/s',
      better: 'higher',
      pick: (r) => r.throughput,
    },
    {
      w: 'W5',
      label: 'W5 worker processes CPU per task (both workers)',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.workerCpuUsPerTask,
    },
    {
      w: 'W3',
      label: `W3a publish, awaited one by one (${fmtInt.format(config.sequential)})`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.sequentialRate,
    },
    {
      w: 'W3',
      label: `W3b publish, concurrent (${n}, Promise.all ${fmtInt.format(config.batch)} at a time)`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.concurrentRate,
    },
    {
      w: 'W3',
      label: `W3c publish, BullMQ addBulk (${fmtInt.format(config.batch)} per call; no Celeriac equivalent)`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.bulkRate,
    },
    {
      w: 'W4',
      label: `W4 round trip, idle worker, p50 (${fmtInt.format(config.roundTrips)} sequential)`,
      unit: 'ms',
      better: 'lower',
      pick: (r) => r.p50,
    },
    {
      w: 'W4',
      label: 'W4 round trip, idle worker, p99',
      unit: 'ms',
      better: 'lower',
      pick: (r) => r.p99,
    },
    {
      w: 'W4',
      label: 'W4 Redis commands per round trip (commandstats, incl. inside Lua)',
      unit: 'cmds',
      better: 'lower',
      pick: (r) => r.commandsPerCall,
    },
    {
      w: 'W1',
      label: 'W1 worker process peak RSS',
      unit: 'MB',
      better: 'lower',
      pick: (r) => r.workerRssPeakMB,
    },
    {
      w: 'W1',
      label: 'W1 Redis commands per task (INFO commandstats, incl. inside Lua)',
      unit: 'cmds',
      better: 'lower',
      pick: (r) => r.commandsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 Redis time executing commands per task (commandstats usec)',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.redisCommandUsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 redis-server CPU per task',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.redisCpuUsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 worker process CPU per task',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.workerCpuUsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 publisher (bench process) CPU per task',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.publisherCpuUsPerTask,
    },
  ];
}

/** Sums commandstats over a system's W1 runs: calls and usec per task by command. */
function commandMix(list) {
  const tasks = list.reduce((s, r) => s + r.tasks, 0);
  /** @type {Record<string, { calls: number, usec: number }>} */
  const total = {};
  for (const r of list) {
    for (const [name, c] of Object.entries(r.commands)) {
      total[name] ??= { calls: 0, usec: 0 };
      total[name].calls += c.calls;
      total[name].usec += c.usec;
    }
  }
  return Object.fromEntries(
    Object.entries(total).map(([k, v]) => [k, { calls: v.calls / tasks, usec: v.usec / tasks }]),
  );
}

/** Rows of the SQLite table: what Celeriac on SQLite does beside Celeriac on Redis. */
const SQLITE_ROWS = new Set([
  'W1 end to end',
  'W2 drain',
  'W3a publish',
  'W3b publish',
  'W4 round trip',
  'W1 worker process peak RSS',
  'W1 worker process CPU',
  'W1 publisher',
]);

/** Celeriac on a sqlite:// file beside Celeriac on Redis (same workloads, same worker). */
function renderSqlite(out, { runs, config, sqlite, redis }) {
  const both = redis !== undefined;
  out.push('');
  out.push(`### Celeriac on one SQLite file${both ? ' beside Celeriac on Redis' : ''}`);
  out.push('');
  out.push(
    `The same worker (concurrency ${config.concurrency}, its own process) on a \`sqlite://\` file in the OS temp folder (WAL, synchronous=NORMAL). Results: ${sqlite.results}.` +
      (both
        ? ' The Redis column stores every result; "SQLite ÷ Redis" is the median of back-to-back ratios.'
        : ''),
  );
  out.push('');
  const header = [
    'workload',
    'unit',
    'better',
    ...(both ? ['Celeriac on Redis'] : []),
    'Celeriac on SQLite',
    ...(both ? ['SQLite ÷ Redis'] : []),
  ];
  out.push(`| ${header.join(' | ')} |`);
  out.push(`| ${header.map((h, i) => (i >= 3 ? '---:' : '---')).join(' | ')} |`);
  for (const row of rows(config)) {
    if (!config.workloads.includes(row.w) || ![...SQLITE_ROWS].some((p) => row.label.startsWith(p)))
      continue;
    const mine = cell((runs[sqlite.id][row.w] ?? []).map(row.pick), row.unit);
    if (mine.m === undefined) continue;
    const line = [row.label, row.unit, row.better];
    if (both) line.push(cell((runs[redis.id][row.w] ?? []).map(row.pick), row.unit).text);
    line.push(mine.text);
    if (both) {
      const ratio = pairedRatio(runs[sqlite.id][row.w], runs[redis.id][row.w], row.pick);
      line.push(ratio === undefined ? 'n/a' : ratio.toFixed(2));
    }
    out.push(`| ${line.join(' | ')} |`);
  }
}

export function renderReport({
  systems: all,
  runs,
  config,
  machine,
  monitor,
  errors,
  elapsedSeconds,
}) {
  const out = [];
  const sqlite = all.find((s) => s.transport === 'sqlite');
  const systems = all.filter((s) => s.transport !== 'sqlite');
  const labels = systems.map((s) => s.label);
  const both = systems.some((s) => s.id === 'celeriac') && systems.some((s) => s.id === 'bullmq');
  out.push(`## Celeriac vs BullMQ on one Redis — medians of ${config.reps} interleaved run(s)`);
  out.push('');
  out.push(
    `node ${machine.node} · ${machine.cpus} CPUs (${machine.cpuModel}) · ${machine.totalMemGB} GB · ${machine.platform} · ` +
      `Redis ${machine.redis} (${machine.redisServer}) · BullMQ ${machine.bullmq} · Celeriac ${machine.celeriac} · ` +
      `worker concurrency ${config.concurrency} in its own process · load average ${machine.loadAverageAtStart[0]} at start, ${machine.loadAverageAtEnd?.[0]} at end · ${elapsedSeconds.toFixed(0)} s`,
  );
  if (both) {
    out.push('');
    out.push(
      'Each cell is the median of the runs, ±half their range. "Celeriac ÷ BullMQ" is the median of the ratios of runs made back to back; ' +
        'above 1 favours Celeriac where higher is better, below 1 where lower is better (the verdict column says which).',
    );
  }
  out.push('');
  const header = [
    'workload',
    'unit',
    'better',
    ...labels,
    ...(both ? ['Celeriac ÷ BullMQ', 'verdict'] : []),
  ];
  out.push(`| ${header.join(' | ')} |`);
  out.push(`| ${header.map((h, i) => (i >= 3 ? '---:' : '---')).join(' | ')} |`);
  for (const row of rows(config)) {
    if (!config.workloads.includes(row.w)) continue;
    const cells = systems.map((s) => cell(runs[s.id][row.w].map(row.pick), row.unit));
    if (cells.every((c) => c.m === undefined)) continue;
    const line = [row.label, row.unit, row.better, ...cells.map((c) => c.text)];
    if (both) {
      const ratio = pairedRatio(runs.celeriac[row.w], runs.bullmq[row.w], row.pick);
      line.push(
        ratio === undefined ? 'n/a' : ratio.toFixed(2),
        ratio === undefined ? '' : verdict(ratio, row.better, 'BullMQ'),
      );
    }
    out.push(`| ${line.join(' | ')} |`);
  }

  for (const [sys, byW] of Object.entries(runs)) {
    const system = all.find((s) => s.id === sys);
    for (const [w, list] of Object.entries(byW)) {
      if (system?.workloads && !system.workloads.includes(w)) continue;
      if (list.length < config.reps)
        out.push(
          `\n⚠ ${sys} ${w}: ${list.length} of ${config.reps} runs succeeded (see errors below).`,
        );
    }
  }

  for (const [id, what] of [
    ['celeriac-events', 'worker -E, nobody listening on this machine'],
    ['celeriac-events-listened', 'worker -E, a listener process on the same CPUs'],
  ]) {
    const on = runs[id]?.W1;
    if (!on?.length || !runs.celeriac?.W1?.length) continue;
    const ratio = pairedRatio(on, runs.celeriac.W1, (r) => r.throughput);
    const cpu = pairedRatio(on, runs.celeriac.W1, (r) => r.workerCpuUsPerTask);
    out.push('');
    out.push(
      `**Events overhead (W1, ${what}):** throughput ${ratio === undefined ? 'n/a' : `${(ratio * 100).toFixed(1)}% of events off (${ratio >= 0.9 ? 'within' : 'NOT within'} the 10% budget)`}; worker CPU per task × ${cpu === undefined ? 'n/a' : cpu.toFixed(2)}.`,
    );
  }

  if (config.workloads.includes('W1')) {
    const mixes = systems.map((s) => (runs[s.id].W1.length ? commandMix(runs[s.id].W1) : {}));
    // Every command either side runs at least once per 20 tasks; rarer ones are in the JSON.
    const names = new Set();
    for (const mix of mixes) {
      for (const [k, v] of Object.entries(mix)) if (v.calls >= 0.05) names.add(k);
    }
    if (names.size > 0) {
      out.push('');
      out.push(
        '### W1: Redis commands per task, by command (INFO commandstats; those run at least once per 20 tasks)',
      );
      out.push('');
      out.push(
        'Commands a Lua script runs are counted as well as the EVALSHA/FCALL that ran them.',
      );
      out.push('');
      out.push(`| command | ${labels.map((l) => `${l} calls/task | ${l} µs/task`).join(' | ')} |`);
      out.push(`| --- | ${labels.map(() => '---: | ---:').join(' | ')} |`);
      const sorted = [...names].sort(
        (a, b) =>
          Math.max(...mixes.map((m) => m[b]?.calls ?? 0)) -
          Math.max(...mixes.map((m) => m[a]?.calls ?? 0)),
      );
      for (const name of sorted) {
        out.push(
          `| ${name} | ${mixes.map((m) => (m[name] ? `${m[name].calls.toFixed(3)} | ${m[name].usec.toFixed(2)}` : '– | –')).join(' | ')} |`,
        );
      }
      const totals = mixes.map((m) =>
        Object.values(m).reduce((s, c) => ({ calls: s.calls + c.calls, usec: s.usec + c.usec }), {
          calls: 0,
          usec: 0,
        }),
      );
      out.push(
        `| **total** | ${totals.map((t) => `**${t.calls.toFixed(2)}** | **${t.usec.toFixed(1)}**`).join(' | ')} |`,
      );
    }
  }

  const monitored = systems.filter((s) => monitor[s.id]);
  if (monitored.length > 0) {
    out.push('');
    out.push(
      `### W1 under MONITOR (${fmtInt.format(monitor[monitored[0].id].tasks)} tasks, untimed): requests a client sent vs commands run inside Lua`,
    );
    out.push('');
    for (const s of monitored) {
      const m = monitor[s.id];
      const list = (o) =>
        Object.entries(o)
          .slice(0, 12)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(', ') || 'none';
      out.push(
        `- **${s.label}**: ${m.clientCommandsPerTask.toFixed(2)} client commands/task (${list(m.client)}); ${m.luaCommandsPerTask.toFixed(2)} inside Lua/task (${list(m.lua)})`,
      );
    }
  }

  const profiled = systems.filter((s) => runs[s.id].W1?.some((r) => r.workerProfile));
  if (profiled.length > 0) {
    out.push('');
    out.push(
      '### W1 worker CPU profile (--profile; self time, first profiled run, whole process life)',
    );
    for (const s of profiled) {
      const p = runs[s.id].W1.find((r) => r.workerProfile).workerProfile;
      out.push('');
      out.push(
        `- **${s.label}** busy ${p.busyMs} ms, idle ${p.idleMs} ms. By area: ${p.byArea.map((a) => `${a.name} ${a.pct}%`).join(', ')}`,
      );
      out.push(
        `  - top functions: ${p.byFunction
          .slice(0, 12)
          .map((f) => `${f.name} ${f.pct}%`)
          .join('; ')}`,
      );
      out.push(`  - profile: ${p.file}`);
    }
  }

  if (sqlite)
    renderSqlite(out, { runs, config, sqlite, redis: systems.find((s) => s.id === 'celeriac') });

  if (errors.length > 0) {
    out.push('');
    out.push('### Errors');
    for (const e of errors)
      out.push(`- ${e.system} ${e.workload} rep ${e.rep}: ${e.error.split('\n')[0]}`);
  }
  return out.join('\n');
}
