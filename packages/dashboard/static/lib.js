// The page's state and plumbing, shared by app.js (the live stream) and views.js (drawing).
// Everything untrusted (task args, results, tracebacks) is set as text, never as HTML.

const MAX_TASKS = 2000;

export const store = {
  config: { allowActions: false },
  workers: new Map(),
  tasks: new Map(),
  taskCounts: {},
  eventCounts: {},
  series: null,
  queues: [],
  beat: null,
  deadLetters: null,
  deadLetterTotal: -1,
  filter: { search: '', state: '' },
  detail: null,
};

/** `h('td', {class: 'x'}, 'text', child)`: an element with attributes and text or children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function keepTask(t) {
  store.tasks.delete(t.uuid);
  store.tasks.set(t.uuid, t);
  while (store.tasks.size > MAX_TASKS) store.tasks.delete(store.tasks.keys().next().value);
}

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 3000);
}

async function request(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await res.json().catch(() => null);
  if (!res.ok) throw new Error(value?.error ?? `${res.status} ${res.statusText}`);
  return value;
}
export const api = {
  get: (path) => request('GET', path),
  post: (path, body = {}) => request('POST', path, body),
};

/** Runs an action, says how it went, and redraws. */
export async function act(label, path, body) {
  try {
    const r = await api.post(path, body);
    toast(`${label}: ${typeof r === 'object' ? JSON.stringify(r) : 'done'}`);
    await refreshDeadLetters(true);
  } catch (err) {
    toast(`${label} failed: ${err.message}`);
  }
  render();
}

export async function refreshDeadLetters(force = false) {
  const total = store.queues.reduce((a, q) => a + q.deadLetters, 0);
  if (!force && store.deadLetters && total === store.deadLetterTotal) return;
  store.deadLetterTotal = total;
  try {
    store.deadLetters = await api.get('/api/dead-letters?limit=200');
  } catch (err) {
    toast(`dead letters: ${err.message}`);
  }
  if (route().view === 'dead-letters') render();
}

/** Fetches the tasks the filter matches from the server's store (beyond what the page holds). */
let searchTimer;
export function searchTasks() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const p = new URLSearchParams({ limit: '500' });
    if (store.filter.search) p.set('search', store.filter.search);
    if (store.filter.state) p.set('state', store.filter.state);
    try {
      for (const t of (await api.get(`/api/tasks?${p}`)).reverse()) keepTask(t);
    } catch (err) {
      toast(`search: ${err.message}`);
    }
    render();
  }, 200);
}

export async function openTask(id) {
  store.detail = { id, result: undefined, error: null };
  try {
    const r = await api.get(`/api/tasks/${encodeURIComponent(id)}`);
    if (r.task) keepTask(r.task);
    store.detail = { id, result: r.result, error: null };
  } catch (err) {
    store.detail = { id, result: null, error: err.message };
  }
  render();
}

export function route() {
  const [, view = 'overview', id] = location.hash.split('/');
  return { view, id: id === undefined ? undefined : decodeURIComponent(id) };
}

let renderer = () => {};
/** Sets what render() draws (app.js). */
export function setRenderer(fn) {
  renderer = fn;
}
/** Redraws the current view (at most once per frame). */
export function render() {
  renderer();
}
