// The Markdown report of `npm run bench:amqp`: per result backend, the comparison table, the bars
// the bench is measured against, and (with --profile) where Celeriac's CPU went.
import { median } from '../../lib/stats.js';
import { cell, fmt, fmtInt, pairedRatio, verdict } from '../../lib/table.js';

function rows(config) {
  const n = fmtInt.format(config.tasks);
  const seq = fmtInt.format(config.sequential);
  return [
    {
      w: 'W1',
      label: `W1 end to end: ${n} tasks published while 1 worker (concurrency 50) runs them, until every result is stored`,
      unit: 'tasks/s',
      better: 'higher',
      pick: (r) => r.throughput,
    },
    {
      w: 'W1',
      label: 'W1 publish phase alone (the publisher, while the worker runs)',
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.publishRate,
    },
    {
      w: 'W2',
      label: `W2 drain ${n} pre-filled tasks`,
      unit: 'tasks/s',
      better: 'higher',
      pick: (r) => r.throughput,
    },
    {
      w: 'W3',
      label: `W3a publish one by one (${seq}): Celeriac/raw await RabbitMQ's confirm; Celery's apply_async returns once written (its default: no confirms)`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.sequentialRate,
    },
    {
      w: 'W3',
      label: `W3a′ publish one by one (${seq}), each confirmed by RabbitMQ (Celery with confirm_publish=True)`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.confirmedRate,
    },
    {
      w: 'W3',
      label: `W3b publish concurrently (${n}; Celeriac/raw: Promise.all, ${fmtInt.format(config.batch)} in flight; Celery: a loop)`,
      unit: 'msg/s',
      better: 'higher',
      pick: (r) => r.concurrentRate,
    },
    {
      w: 'W4',
      label: `W4 round trip, idle worker, p50 (${fmtInt.format(config.roundTrips)} sequential delay().get())`,
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
      w: 'W1',
      label: 'W1 worker peak RSS (Celery prefork: the sum of its process tree)',
      unit: 'MB',
      better: 'lower',
      pick: (r) => r.workerRssPeakMB,
    },
    {
      w: 'W2',
      label: 'W2 worker peak RSS',
      unit: 'MB',
      better: 'lower',
      pick: (r) => r.workerRssPeakMB,
    },
    {
      w: 'W1',
      label: 'W1 worker CPU per task (process tree)',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.workerCpuUsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 publisher process CPU per task',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.publisherCpuUsPerTask,
    },
    {
      w: 'W1',
      label: 'W1 RabbitMQ CPU per task (throwaway node only)',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.rabbitCpuUsPerTask,
    },
    {
      w: 'W1',
      label:
        'W1 CPU per task, worker + publisher + RabbitMQ (the machine has a fixed number of CPUs to share)',
      unit: 'µs',
      better: 'lower',
      pick: (r) => r.totalCpuUsPerTask,
    },
  ];
}

export function renderReport({ systems, runs, config, machine, errors, elapsedSeconds }) {
  const out = [];
  const celeriac = systems.find((s) => s.kind === 'celeriac');
  const celeries = systems.filter((s) => s.kind === 'celery');
  const raws = systems.filter((s) => s.kind === 'raw');
  out.push(
    `node ${machine.node} · ${machine.cpus} CPUs (${machine.cpuModel}) · ${machine.totalMemGB} GB · ${machine.platform} · ` +
      `RabbitMQ ${machine.rabbitmq} (${machine.rabbitmqServer}) · Celery ${machine.celery ?? '-'} / kombu ${machine.kombu ?? '-'} / py-amqp ${machine.pyamqp ?? '-'} · amqplib ${machine.amqplib} · ` +
      `Celeriac ${machine.celeriac} · load average ${machine.loadAverageAtStart[0]} at start, ${machine.loadAverageAtEnd?.[0]} at end · ${elapsedSeconds.toFixed(0)} s`,
  );
  for (const [backend, bySystem] of Object.entries(runs)) {
    out.push('');
    out.push(
      `## Celeriac vs Celery on RabbitMQ, results in ${backend === 'rpc' ? 'rpc:// (both sides)' : 'Redis (both sides)'} — medians of ${config.reps} interleaved run(s)`,
    );
    out.push('');
    out.push(
      'Each cell is the median of the runs, ±half their range. A ratio is Celeriac ÷ Celery, the median of the ratios of runs made back to back: ' +
        'where higher is better, above 1 favours Celeriac; where lower is better, below 1 does (the verdict column says which). ' +
        '"raw amqplib" is bare publish + consume + ack, no task queue, no results; "raw amqplib + reply" adds Celeriac\'s message shape and an rpc-like reply per task: ceilings, not competitors.',
    );
    out.push('');
    const labels = systems.map((s) => s.label);
    const ratioCols = celeriac && celeries.length ? ['Celeriac ÷ Celery', 'verdict'] : [];
    const header = ['workload', 'unit', 'better', ...labels, ...ratioCols];
    out.push(`| ${header.join(' | ')} |`);
    out.push(`| ${header.map((_, i) => (i >= 3 ? '---:' : '---')).join(' | ')} |`);
    const med = (s, w, pick) => median((bySystem[s.id]?.[w] ?? []).map(pick));
    /** The Celery with the better median on this row (the stronger opponent), or undefined. */
    const bestCelery = (row) => {
      let best;
      for (const c of celeries) {
        const v = med(c, row.w, row.pick);
        if (v === undefined) continue;
        if (!best || (row.better === 'higher' ? v > best.v : v < best.v)) best = { c, v };
      }
      return best?.c;
    };
    const poolOf = (c) => /\((\w+)/.exec(c.label)?.[1] ?? c.label;
    for (const row of rows(config)) {
      if (!config.workloads.includes(row.w)) continue;
      const cells = systems.map((s) =>
        cell((bySystem[s.id]?.[row.w] ?? []).map(row.pick), row.unit),
      );
      if (cells.every((c) => c.m === undefined)) continue;
      const line = [row.label, row.unit, row.better, ...cells.map((c) => c.text)];
      if (ratioCols.length) {
        const c = bestCelery(row);
        const ratio =
          c && pairedRatio(bySystem[celeriac.id][row.w], bySystem[c.id][row.w], row.pick);
        const vs = celeries.length > 1 ? ` (vs ${poolOf(c ?? celeries[0])})` : '';
        line.push(
          ratio === undefined ? 'n/a' : `${ratio.toFixed(2)}${vs}`,
          ratio === undefined ? '' : verdict(ratio, row.better, 'Celery'),
        );
      }
      out.push(`| ${line.join(' | ')} |`);
    }

    // The bars, against the stronger Celery on each.
    if (celeriac && celeries.length > 0) {
      out.push('');
      out.push('### Bars (each against the better of the Celery pools measured)');
      out.push('');
      const w1 = rows(config)[0];
      const w4 = rows(config).find((r) => r.w === 'W4');
      if (config.workloads.includes('W1')) {
        const c = bestCelery(w1);
        const ratio = c && pairedRatio(bySystem[celeriac.id].W1, bySystem[c.id].W1, w1.pick);
        if (ratio !== undefined)
          out.push(
            `- W1 at least 5× Celery's throughput: Celeriac ${fmt(med(celeriac, 'W1', w1.pick), 'tasks/s')} vs ${c.label} ${fmt(med(c, 'W1', w1.pick), 'tasks/s')} tasks/s = **${ratio.toFixed(2)}×** → ${ratio >= 5 ? '**met**' : '**not met**'}`,
          );
      }
      if (config.workloads.includes('W4')) {
        const c = bestCelery(w4);
        const cv = med(celeriac, 'W4', w4.pick);
        const pv = c && med(c, 'W4', w4.pick);
        if (cv !== undefined && pv !== undefined)
          out.push(
            `- W4 p50 below Celery's: Celeriac ${fmt(cv, 'ms')} ms vs ${c.label} ${fmt(pv, 'ms')} ms → ${cv < pv ? '**met**' : '**not met**'}`,
          );
      }
      for (const raw of config.workloads.includes('W1') ? raws : []) {
        const cv = med(celeriac, 'W1', w1.pick);
        const rv = med(raw, 'W1', w1.pick);
        if (cv !== undefined && rv !== undefined)
          out.push(
            `- Ceiling: ${raw.label} (${raw.variant === 'reply' ? 'publish, consume, reply to reply_to, read the reply, ack' : 'publish, consume, ack'}) moved ${fmt(rv, 'msg/s')} msg/s in W1; Celeriac reached ${((cv / rv) * 100).toFixed(0)}% of it.`,
          );
      }
    }

    // Profiles, over the W1 window only.
    for (const s of systems.filter((x) => x.kind !== 'celery')) {
      const profiled = (bySystem[s.id]?.W1 ?? []).find(
        (r) => r.profiles && Object.keys(r.profiles).length,
      );
      if (!profiled) continue;
      out.push('');
      out.push(
        `### ${s.label}: where the W1 CPU went (--profile, rep ${profiled.rep}, the timed window only: ${profiled.profiles.worker?.windowMs ?? '?'} ms)`,
      );
      for (const [role, p] of Object.entries(profiled.profiles)) {
        out.push('');
        out.push(
          `- **${role}** busy ${p.busyMs} ms (${fmt((p.busyMs * 1000) / profiled.tasks, 'µs')} µs/task), idle ${p.idleMs} ms. ${p.byBucket.map((a) => `${a.name} ${a.pct}%`).join(', ')}`,
        );
        out.push(
          `  - top functions (self): ${p.byFunction
            .slice(0, 12)
            .map((f) => `${f.name} ${f.pct}%`)
            .join('; ')}`,
        );
        if (p.celeriacInclusive.length)
          out.push(
            `  - Celeriac frames (inclusive): ${p.celeriacInclusive
              .slice(0, 8)
              .map((f) => `${f.name} ${f.pct}%`)
              .join('; ')}`,
          );
        out.push(`  - profile: ${p.file}`);
      }
    }

    // perf: on-CPU, every thread, over the W1 window.
    for (const s of systems.filter((x) => x.kind !== 'celery')) {
      const r = (bySystem[s.id]?.W1 ?? []).find((x) => x.perf && Object.keys(x.perf).length);
      if (!r) continue;
      out.push('');
      out.push(
        `### ${s.label}: what a W1 task costs in CPU (--perf: on-CPU samples of every thread, rep ${r.rep}, the timed window only)`,
      );
      out.push('');
      for (const [role, p] of Object.entries(r.perf)) {
        out.push(
          `- **${role}** ${fmtInt.format((p.cpuMs * 1000) / r.tasks)} µs/task on CPU (main thread ${fmtInt.format((p.mainThreadMs * 1000) / r.tasks)}): ${p.byCategory.map((c) => `${c.name} ${c.pct}%`).join(', ')}`,
        );
      }
    }
  }

  for (const [backend, bySystem] of Object.entries(runs)) {
    for (const [sys, byW] of Object.entries(bySystem)) {
      const only = systems.find((x) => x.id === sys)?.workloads;
      for (const [w, list] of Object.entries(byW)) {
        if (only && !only.includes(w)) continue;
        if (list.length < config.reps)
          out.push(
            `\n⚠ ${backend} ${sys} ${w}: ${list.length} of ${config.reps} runs succeeded (see errors below).`,
          );
      }
    }
  }
  if (errors.length > 0) {
    out.push('');
    out.push('### Errors');
    for (const e of errors)
      out.push(`- ${e.backend} ${e.system} ${e.workload} rep ${e.rep}: ${e.error.split('\n')[0]}`);
  }
  return out.join('\n');
}
