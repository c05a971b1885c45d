// The dashboard page: one EventSource for live state, fetch() for searches, details and
// actions (lib.js), one drawing function per view (views.js).
import {
  keepTask,
  openTask,
  refreshDeadLetters,
  render,
  route,
  setRenderer,
  store,
} from './lib.js';
import { renderView } from './views.js';

let pending = false;
setRenderer(() => {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    const r = route();
    for (const a of document.querySelectorAll('nav a'))
      a.classList.toggle('active', a.dataset.view === r.view);
    // The toolbar (search box, filters) is kept across redraws, so typing and focus survive.
    const { toolbar, content } = renderView(r);
    const bar = document.getElementById('toolbar');
    if (toolbar) {
      if (bar.firstChild !== toolbar) bar.replaceChildren(toolbar);
    } else if (bar.firstChild) bar.replaceChildren();
    document.getElementById('view').replaceChildren(content);
  });
});

function applySnapshot(s) {
  store.config = s.config ?? store.config;
  store.workers = new Map(s.workers.map((w) => [w.hostname, w]));
  for (const t of [...s.tasks].reverse()) keepTask(t);
  store.taskCounts = s.taskCounts;
  store.eventCounts = s.eventCounts;
  store.series = s.series;
  store.queues = s.queues ?? [];
  store.beat = s.beat ?? null;
  document.getElementById('broker').textContent = store.config.broker ?? '';
  const mode = document.getElementById('mode');
  mode.textContent = store.config.allowActions ? 'actions allowed' : 'read-only';
  mode.dataset.mode = store.config.allowActions ? 'actions' : 'read-only';
}

function connect() {
  const conn = document.getElementById('conn');
  const source = new EventSource('/api/stream');
  const on = (name, fn) =>
    source.addEventListener(name, (e) => {
      fn(JSON.parse(e.data));
      render();
    });
  on('snapshot', (s) => {
    applySnapshot(s);
    conn.textContent = 'live';
    conn.dataset.state = 'live';
    void refreshDeadLetters(true);
  });
  on('update', (u) => {
    for (const w of u.workers) store.workers.set(w.hostname, w);
    for (const t of u.tasks) {
      keepTask(t);
      // A task that became ready while its detail is open: read its stored result once.
      if (store.detail?.id === t.uuid && store.detail.result === null && t.state === 'SUCCESS')
        void openTask(t.uuid);
    }
  });
  on('series', (s) => Object.assign(store, s));
  on('queues', (q) => {
    store.queues = q;
    void refreshDeadLetters();
  });
  on('beat', (b) => (store.beat = b));
  source.onerror = () => {
    conn.textContent = 'reconnecting';
    conn.dataset.state = 'reconnecting';
  };
}

window.addEventListener('hashchange', () => {
  const r = route();
  if (r.view === 'tasks' && r.id) void openTask(r.id);
  else store.detail = null;
  if (r.view === 'dead-letters') void refreshDeadLetters(true);
  render();
});

connect();
const first = route();
if (first.view === 'tasks' && first.id) void openTask(first.id);
render();
// Relative times ("3 s ago") move on even when nothing else does.
setInterval(render, 1000);
