// Inline SVG line charts drawn from the server's time slices: no library, no canvas.
const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * A line chart of several series over the same x axis.
 * lines: [{ label, color, values: number[] }]; format: how the y maximum is written.
 */
export function lineChart({ title, lines, format = (v) => String(v), width = 1200, height = 170 }) {
  const pad = { l: 48, r: 10, t: 10, b: 18 };
  const n = Math.max(1, ...lines.map((l) => l.values.length));
  const max = Math.max(0, ...lines.flatMap((l) => l.values)) || 1;
  const x = (i) => pad.l + (i / Math.max(1, n - 1)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width: '100%',
    height,
    role: 'img',
    'aria-label': title,
  });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    svg.append(el('line', { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy, stroke: '#e3e6e1' }));
    const label = el('text', {
      x: pad.l - 6,
      y: yy + 4,
      'text-anchor': 'end',
      'font-size': 11,
      fill: '#68706b',
    });
    label.textContent = format(max * frac);
    svg.append(label);
  }
  for (const line of lines) {
    const points = line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.append(el('polyline', { points, fill: 'none', stroke: line.color, 'stroke-width': 1.8 }));
  }
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.chart = title;
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.textContent = `${title}:`;
  for (const l of lines) {
    const sw = document.createElement('span');
    sw.textContent = ' ■ ';
    sw.style.color = l.color;
    legend.append(sw, document.createTextNode(l.label));
  }
  box.append(legend, svg);
  return box;
}

/** Throughput (tasks per second) and latency (seconds) charts from a SeriesSnapshot. */
export function seriesCharts(series) {
  if (!series) return [];
  const secs = series.bucketMs / 1000;
  const b = series.buckets;
  const perSec = (k) => b.map((x) => x[k] / secs);
  const avg = (sum, count) => b.map((x) => (x[count] > 0 ? x[sum] / x[count] : 0));
  return [
    lineChart({
      title: 'Throughput (tasks/s)',
      lines: [
        { label: 'succeeded', color: '#4b7f52', values: perSec('succeeded') },
        { label: 'failed', color: '#b3412e', values: perSec('failed') },
        { label: 'received', color: '#6c8cbf', values: perSec('received') },
      ],
      format: (v) => v.toFixed(v < 10 ? 1 : 0),
    }),
    lineChart({
      title: 'Latency (s)',
      lines: [
        { label: 'runtime avg', color: '#4b7f52', values: avg('runtimeSum', 'runtimeCount') },
        { label: 'runtime max', color: '#b98a1d', values: b.map((x) => x.runtimeMax) },
        { label: 'queue wait avg', color: '#6c8cbf', values: avg('waitSum', 'waitCount') },
      ],
      format: (v) =>
        v === 0
          ? '0'
          : v < 0.001
            ? `${(v * 1e6).toFixed(0)}µs`
            : v < 1
              ? `${(v * 1000).toFixed(v < 0.01 ? 1 : 0)}ms`
              : `${v.toFixed(1)}s`,
    }),
  ];
}
