// One function per view: the store in, DOM nodes out (redrawn whole; the page is small).
import { act, h, refreshDeadLetters, render, searchTasks, store } from './lib.js';
import { seriesCharts } from './charts.js';

const STATES = [
  'PENDING',
  'RECEIVED',
  'STARTED',
  'RETRY',
  'SUCCESS',
  'FAILURE',
  'REVOKED',
  'REJECTED',
];
const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

const actions = () => store.config.allowActions === true;
const ago = (epochS) => {
  if (epochS === null || epochS === undefined) return '-';
  const s = Math.max(0, Date.now() / 1000 - epochS);
  return s < 60
    ? `${s.toFixed(0)} s ago`
    : s < 3600
      ? `${(s / 60).toFixed(0)} min ago`
      : `${(s / 3600).toFixed(1)} h ago`;
};
const time = (epochS) =>
  epochS ? new Date(epochS * 1000).toISOString().replace('T', ' ').slice(0, 23) : '-';
const timeMs = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');
const short = (id) => (id && id.length > 13 ? `${id.slice(0, 8)}…` : (id ?? '-'));
const table = (head, rows, empty) =>
  h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length ? rows : h('tr', {}, h('td', { colspan: head.length, class: 'muted' }, empty)),
    ),
  );
const taskLink = (id) =>
  id ? h('a', { href: `#/tasks/${encodeURIComponent(id)}`, class: 'mono' }, short(id)) : '-';

function overview() {
  const workers = [...store.workers.values()];
  const online = workers.filter((w) => w.online).length;
  const card = (label, value, key) =>
    h('div', { class: 'card', dataset: { card: key } }, h('b', {}, value), label);
  const counts = store.taskCounts ?? {};
  return h(
    'section',
    {},
    h(
      'div',
      { class: 'cards' },
      card('workers online', `${online} / ${workers.length}`, 'workers'),
      ...['RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY'].map((s) =>
        card(s.toLowerCase(), counts[s] ?? 0, s),
      ),
      card(
        'queued',
        store.queues.reduce((a, q) => a + q.length, 0),
        'queued',
      ),
      card(
        'dead letters',
        store.queues.reduce((a, q) => a + q.deadLetters, 0),
        'dead-letters',
      ),
    ),
    h('h2', {}, 'Charts'),
    ...seriesCharts(store.series),
  );
}

function workers() {
  const rows = [...store.workers.values()].map((w) => {
    const status = w.online ? 'online' : 'offline';
    const pool = w.pool
      ? `${w.pool.implementation ?? ''} ${w.pool['max-concurrency'] ?? ''}`.trim()
      : '-';
    return h(
      'tr',
      { dataset: { worker: w.hostname } },
      h('td', { class: 'mono' }, w.hostname),
      h('td', { class: 'status', dataset: { status } }, status),
      h('td', { class: 'heartbeat' }, ago(w.lastHeartbeat)),
      h('td', { class: 'active' }, w.active ?? '-'),
      h('td', { class: 'processed' }, w.processed ?? '-'),
      h('td', { class: 'pool' }, pool),
      h('td', {}, w.loadavg ? w.loadavg.map((x) => x.toFixed(2)).join(' ') : '-'),
      h('td', {}, (w.queues ?? []).join(', ') || '-'),
      h('td', { class: 'muted' }, [w.swIdent, w.swVer].filter(Boolean).join(' ') || '-'),
    );
  });
  return table(
    [
      'Worker',
      'Status',
      'Last heartbeat',
      'Active',
      'Processed',
      'Pool',
      'Load',
      'Queues',
      'Software',
    ],
    rows,
    'No worker seen yet: start one with events on (celeriac worker -E).',
  );
}

let tasksBar;
function tasksToolbar() {
  if (tasksBar) return tasksBar;
  const search = h('input', {
    id: 'task-search',
    type: 'search',
    placeholder: 'Search by id or name',
    oninput: (e) => {
      store.filter.search = e.target.value;
      render();
      searchTasks();
    },
  });
  const state = h(
    'select',
    {
      id: 'task-state',
      onchange: (e) => {
        store.filter.state = e.target.value;
        render();
        searchTasks();
      },
    },
    h('option', { value: '' }, 'any state'),
    STATES.map((s) => h('option', { value: s }, s)),
  );
  tasksBar = h('div', { class: 'toolbar' }, search, state);
  return tasksBar;
}

function matches(t) {
  const { search, state } = store.filter;
  if (state && t.state !== state) return false;
  const q = search.trim().toLowerCase();
  return !q || t.uuid.toLowerCase().includes(q) || (t.name ?? '').toLowerCase().includes(q);
}

function tasks() {
  const list = [...store.tasks.values()].reverse().filter(matches).slice(0, 500);
  const rows = list.map((t) =>
    h(
      'tr',
      { dataset: { task: t.uuid } },
      h('td', {}, taskLink(t.uuid)),
      h('td', { class: 'name mono' }, t.name ?? '-'),
      h('td', { class: 'state', dataset: { state: t.state } }, t.state),
      h('td', { class: 'args mono' }, t.args ?? ''),
      h('td', { class: 'result mono' }, t.result ?? t.exception ?? ''),
      h('td', {}, t.runtime === null ? '-' : `${(t.runtime * 1000).toFixed(1)} ms`),
      h('td', { class: 'mono' }, t.hostname ?? '-'),
      h('td', {}, time(t.received ?? t.sent ?? t.timestamp)),
    ),
  );
  return table(
    ['Id', 'Name', 'State', 'Args', 'Result', 'Runtime', 'Worker', 'Received'],
    rows,
    'No task matches.',
  );
}

function taskDetail(id) {
  const t = store.tasks.get(id);
  const d = store.detail;
  const doc = d?.id === id ? d.result : undefined;
  const field = (label, value, cls) => [h('dt', {}, label), h('dd', { class: cls }, value ?? '-')];
  const pre = (text) => (text ? h('pre', {}, text) : '-');
  const docResult = doc && doc.result !== undefined ? JSON.stringify(doc.result, null, 2) : null;
  const buttons = [];
  if (actions() && t && !READY.has(t.state))
    buttons.push(
      h(
        'button',
        {
          class: 'danger revoke',
          onclick: () => void act('revoke', `/api/tasks/${encodeURIComponent(id)}/revoke`, {}),
        },
        'Revoke',
      ),
      h(
        'button',
        {
          class: 'danger',
          onclick: () =>
            void act('terminate', `/api/tasks/${encodeURIComponent(id)}/revoke`, {
              terminate: true,
            }),
        },
        'Terminate',
      ),
    );
  return h(
    'section',
    { id: 'task-detail', dataset: { task: id } },
    h('p', {}, h('a', { href: '#/tasks' }, '← all tasks')),
    h('h2', {}, `Task ${id}`),
    d?.error ? h('p', { class: 'muted' }, d.error) : null,
    h(
      'dl',
      { class: 'detail' },
      field('Name', t?.name ?? doc?.name, 'mono'),
      field(
        'State',
        h(
          'span',
          { class: 'state', dataset: { state: t?.state ?? doc?.status } },
          t?.state ?? doc?.status ?? '-',
        ),
      ),
      field('Worker', t?.hostname ?? doc?.worker, 'mono'),
      field('Queue', t?.queue ?? doc?.queue),
      field('Args', pre(t?.args), 'args'),
      field('Kwargs', pre(t?.kwargs)),
      field('Result', pre(t?.result ?? docResult), 'result'),
      field(
        'Stored result',
        doc === undefined
          ? 'loading…'
          : doc
            ? `${doc.status} (${doc.date_done ?? 'not done'})`
            : 'none in the backend',
        'stored',
      ),
      field('Exception', pre(t?.exception), 'exception'),
      field('Traceback', pre(t?.traceback ?? doc?.traceback), 'traceback'),
      field('Retries', t?.retries ?? doc?.retries),
      field(
        'Runtime',
        t?.runtime === null || t?.runtime === undefined ? '-' : `${t.runtime.toFixed(4)} s`,
      ),
      field('Parent', taskLink(t?.parentId ?? doc?.parent_id)),
      field('Root', taskLink(t?.rootId)),
      field(
        'Children',
        (t?.children ?? []).length
          ? h(
              'span',
              {},
              t.children.map((c) => [taskLink(c), ' ']),
            )
          : '-',
      ),
      field('ETA / expires', `${t?.eta ?? '-'} / ${t?.expires ?? '-'}`),
      field('Sent', time(t?.sent)),
      field('Received', time(t?.received)),
      field('Started', time(t?.started)),
      field('Finished', time(t?.succeeded ?? t?.failed ?? t?.revoked ?? t?.rejected)),
    ),
    h('div', { class: 'toolbar' }, buttons),
  );
}

function queues() {
  const rows = store.queues.map((q) =>
    h(
      'tr',
      { dataset: { queue: q.name } },
      h('td', { class: 'mono' }, q.name),
      h('td', { class: 'length' }, q.length),
      h('td', {}, q.delayed),
      h('td', { class: 'dead' }, q.deadLetters),
      h('td', {}, `${q.rate.toFixed(2)}/s`),
      h('td', { class: 'mono' }, q.consumers.join(', ') || '-'),
    ),
  );
  return table(
    ['Queue', 'Ready', 'Delayed', 'Dead letters', 'Rate', 'Consumers'],
    rows,
    'No queue known yet.',
  );
}

function beat() {
  const b = store.beat;
  if (!b) return h('p', { class: 'muted' }, 'Loading…');
  if (!b.available) return h('p', { class: 'muted' }, b.reason ?? 'No schedule store.');
  const rows = b.entries.map((e) =>
    h(
      'tr',
      { dataset: { entry: e.name } },
      h('td', { class: 'mono' }, e.name),
      h('td', { class: 'mono' }, e.task),
      h('td', {}, e.schedule),
      h(
        'td',
        { class: 'status', dataset: { status: e.enabled ? 'online' : 'offline' } },
        e.enabled ? 'enabled' : 'paused',
      ),
      h('td', { class: 'next' }, timeMs(e.nextRunAt)),
      h('td', {}, timeMs(e.lastRunAt)),
      h('td', {}, e.totalRunCount),
      actions()
        ? h(
            'td',
            {},
            h(
              'button',
              {
                class: e.enabled ? 'pause' : 'resume',
                onclick: () =>
                  void act(
                    e.enabled ? 'pause' : 'resume',
                    `/api/beat/${encodeURIComponent(e.name)}/${e.enabled ? 'pause' : 'resume'}`,
                  ),
              },
              e.enabled ? 'Pause' : 'Resume',
            ),
          )
        : null,
    ),
  );
  const head = ['Entry', 'Task', 'Schedule', 'State', 'Next run', 'Last run', 'Runs'];
  if (actions()) head.push('');
  return h(
    'section',
    {},
    h(
      'p',
      { class: 'muted' },
      b.leader ? `Leader: ${b.leader}` : 'No beat is running (no leader).',
    ),
    table(head, rows, 'No beat entry.'),
  );
}

function deadLetters() {
  const list = store.deadLetters;
  if (!list) {
    void refreshDeadLetters(true);
    return h('p', { class: 'muted' }, 'Loading…');
  }
  const withDead = store.queues.filter((q) => q.deadLetters > 0);
  const perQueue = actions()
    ? withDead.map((q) =>
        h(
          'div',
          { class: 'toolbar', dataset: { queue: q.name } },
          h('span', { class: 'mono' }, `${q.name}: ${q.deadLetters}`),
          h(
            'button',
            {
              class: 'replay-all',
              onclick: () => void act('replay', '/api/dead-letters/replay', { queue: q.name }),
            },
            'Replay all',
          ),
          h(
            'button',
            {
              class: 'danger purge',
              onclick: () => {
                if (confirm(`Delete the ${q.deadLetters} dead letters of ${q.name}?`))
                  void act('purge', '/api/dead-letters/purge', { queue: q.name });
              },
            },
            'Purge',
          ),
        ),
      )
    : [];
  const rows = list.map((d) =>
    h(
      'tr',
      { dataset: { deadLetter: d.id } },
      h('td', { class: 'mono' }, d.queue),
      h('td', { class: 'mono task' }, d.task ?? '-'),
      h('td', {}, taskLink(d.taskId)),
      h('td', { class: 'mono' }, d.args ?? ''),
      h('td', { class: 'reason' }, h('b', {}, d.code), ' ', d.reason),
      h('td', {}, timeMs(d.deadAt)),
      actions()
        ? h(
            'td',
            {},
            h(
              'button',
              {
                class: 'replay',
                onclick: () =>
                  void act('replay', '/api/dead-letters/replay', { queue: d.queue, ids: [d.id] }),
              },
              'Replay',
            ),
          )
        : null,
    ),
  );
  const head = ['Queue', 'Task', 'Task id', 'Args', 'Reason', 'Dead since'];
  if (actions()) head.push('');
  return h('section', {}, ...perQueue, table(head, rows, 'No dead letters.'));
}

/** The view for a route: `{ toolbar, content }`. */
export function renderView(r) {
  switch (r.view) {
    case 'workers':
      return { content: workers() };
    case 'tasks':
      return r.id ? { content: taskDetail(r.id) } : { toolbar: tasksToolbar(), content: tasks() };
    case 'queues':
      return { content: queues() };
    case 'beat':
      return { content: beat() };
    case 'dead-letters':
      return { content: deadLetters() };
    default:
      return { content: overview() };
  }
}
