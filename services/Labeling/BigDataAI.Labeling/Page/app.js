// The labeling page: one module, no framework, no build step (docs/decisions/0014-labeling-page.md).
// It speaks the labeling service's JSON API (the proto3 JSON of protos/labeling.proto) relative to its own URL
// (/labeling/ -> /labeling/api/...), keeps the bearer token in sessionStorage, and keeps a queue of tasks ahead so
// that Enter shows the next task at once while the label is stored in the background.

const TOKEN_KEY = 'bigdataai.labeling.token';
const USER_KEY = 'bigdataai.labeling.user';
const PAGE_SIZE = 10;     // tasks asked for per request
const REFILL_AT = 3;      // ask for more when this few are left in the queue
const KEYS = [...'1234567890abcdefghijklmnopqrstuvwxyz'];
const STATUS_TEXT = {
  0: 'No answer', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

const apiBase = new URL('api/', document.baseURI);
const $ = id => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  user: sessionStorage.getItem(USER_KEY),
  project: null,
  queue: [],          // tasks not yet submitted; queue[0] is shown
  lastPosition: '0',  // position of the last task received (paging)
  beyond: 0,          // tasks the server has after lastPosition
  exhausted: false,   // the server said nothing is left after lastPosition
  fetching: null,     // the page request in flight
  history: [],        // submitted { task, classes, sent } for Backspace, newest last
  selection: new Set(),
  keys: new Map(),    // class -> key
  byKey: new Map(),   // key -> class
  shownAt: 0,
  labeled: 0,         // labels submitted in this session (minus undone ones)
  pending: 0,         // requests that change labels, in flight
  undoing: false,
};

// ---------------------------------------------------------------- API

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.token) {
    headers.Authorization = `Bearer ${state.token}`;
  }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(new URL(path, apiBase), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, `The labeling service did not answer (${error.message}).`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the text itself is the message
  }
  if (!response.ok) {
    throw new ApiError(response.status, json?.error ?? json?.detail ?? json?.title ?? (text.trim() || response.statusText));
  }
  return json;
}

const projectPath = suffix => `projects/${encodeURIComponent(state.project.projectId)}${suffix}`;

// ---------------------------------------------------------------- banner and views

function showBanner(message, kind = 'error') {
  $('banner-text').textContent = message;
  $('banner').className = kind;
  $('banner').hidden = false;
}

function hideBanner() {
  $('banner').hidden = true;
  $('banner-text').textContent = '';
}

/** Shows a failed request: its HTTP status and the server's message; a 401 brings back the log-in form. */
function fail(error) {
  if (!(error instanceof ApiError)) {
    console.error(error);
    showBanner(`Error: ${error.message}`);
    return;
  }
  const status = error.status === 0 ? '' : `${error.status} ${STATUS_TEXT[error.status] ?? ''}`.trim() + ': ';
  showBanner(status + error.message);
  if (error.status === 401) {
    logOut(false);
  }
}

function show(view) {
  for (const id of ['login', 'projects', 'labeling']) {
    $(id).hidden = id !== view;
  }
  document.body.dataset.state = view;
  $('who').textContent = state.user && view !== 'login' ? `Signed in as ${state.user}` : '';
  $('logout').hidden = !state.token || view === 'login';
  if (view === 'login') {
    $('login-form').elements.user.focus();
  }
}

function setPending(delta) {
  state.pending += delta;
  document.body.dataset.pending = String(state.pending);
}

// ---------------------------------------------------------------- log-in

function logOut(clearBanner = true) {
  state.token = null;
  state.user = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  if (clearBanner) {
    hideBanner();
  }
  show('login');
}

async function logIn(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const reply = await api('POST', 'login', { user: form.elements.user.value, password: form.elements.password.value });
    state.token = reply.token;
    state.user = reply.user;
    sessionStorage.setItem(TOKEN_KEY, reply.token);
    sessionStorage.setItem(USER_KEY, reply.user);
    form.reset();
    hideBanner();
    await route();
  } catch (error) {
    fail(error);
  }
}

// ---------------------------------------------------------------- projects

/** The project named by ?project=ID, else the list. The server decides whether a log-in is needed (401). */
async function route() {
  const id = new URLSearchParams(location.search).get('project');
  try {
    if (id) {
      await openProject(await api('GET', `projects/${encodeURIComponent(id)}`));
    } else {
      listProjects((await api('GET', 'projects')).projects ?? []);
    }
  } catch (error) {
    fail(error);
    if (error.status !== 401 && !id) {
      show('projects');
    }
  }
}

function listProjects(projects) {
  const list = $('project-list');
  list.replaceChildren(...projects.map(p => {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `?project=${encodeURIComponent(p.projectId)}`;
    link.textContent = p.name || p.projectId;
    const detail = document.createElement('span');
    detail.className = 'detail';
    detail.textContent = `${p.dataset} v${p.version} · ${p.completed ?? 0} of ${p.tasks ?? 0} rows done · ${(p.classes ?? []).length} classes${p.multiLabel ? ' (multi-label)' : ''}`;
    item.append(link, detail);
    return item;
  }));
  $('no-projects').hidden = projects.length > 0;
  show('projects');
}

async function openProject(project) {
  state.project = project;
  Object.assign(state, { queue: [], lastPosition: '0', beyond: 0, exhausted: false, fetching: null, history: [], labeled: 0 });
  document.title = `${project.name || project.projectId} · BigDataAI labeling`;
  document.body.dataset.multiLabel = String(Boolean(project.multiLabel));
  $('project-name').textContent = project.name || project.projectId;
  renderClassButtons();
  show('labeling');
  await refill();
  showTask();
}

// ---------------------------------------------------------------- the queue (server-side paging)

/** Asks for the next page after the last task received; one request at a time. */
function refill() {
  if (state.fetching || state.exhausted) {
    return state.fetching ?? Promise.resolve();
  }
  const project = state.project;
  const fetching = (async () => {
    try {
      const reply = await api('GET', projectPath(`/tasks?count=${PAGE_SIZE}&after=${encodeURIComponent(state.lastPosition)}`));
      if (state.project !== project) {
        return;
      }
      const tasks = reply.tasks ?? [];
      const known = new Set(state.queue.map(t => String(t.row)));
      state.queue.push(...tasks.filter(t => !known.has(String(t.row))));
      if (tasks.length > 0) {
        state.lastPosition = String(tasks[tasks.length - 1].position);
      }
      state.beyond = Math.max(0, Number(reply.remaining ?? 0) - tasks.length);
      state.exhausted = tasks.length === 0 || state.beyond === 0;
      for (const task of tasks) {
        preloadImages(task);
      }
    } catch (error) {
      fail(error); // the queue stays as it was; Enter on an empty queue asks again
    } finally {
      if (state.fetching === fetching) {
        state.fetching = null;
      }
    }
  })();
  state.fetching = fetching;
  return fetching;
}

function preloadImages(task) {
  for (const cell of task.cells ?? []) {
    if (cell.image) {
      const image = new Image();
      image.src = imageUrl(cell);
      image.decode?.().catch(() => {});
    }
  }
}

const imageUrl = cell => `data:${cell.mediaType || 'image/png'};base64,${cell.image}`;

// ---------------------------------------------------------------- showing a task

/**
 * Each class's key: a class named by one key character keeps it (digits 0-9 are their own keys), the others take the
 * unused keys in the order 1-9, 0, a-z. Classes beyond 36 are clicked.
 */
function assignKeys(classes) {
  const keys = new Map();
  const used = new Set();
  const names = new Set(classes.map(c => c.toLowerCase()));
  for (const name of classes) {
    const own = name.toLowerCase();
    if (own.length === 1 && KEYS.includes(own) && !used.has(own)) {
      keys.set(name, own);
      used.add(own);
    }
  }
  const free = KEYS.filter(k => !used.has(k) && !names.has(k));
  for (const name of classes) {
    if (!keys.has(name) && free.length > 0) {
      keys.set(name, free.shift());
    }
  }
  return keys;
}

function renderClassButtons() {
  const classes = state.project.classes ?? [];
  state.keys = assignKeys(classes);
  state.byKey = new Map([...state.keys].map(([name, key]) => [key, name]));
  $('classes').replaceChildren(...classes.map(name => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'class';
    button.dataset.class = name;
    button.setAttribute('aria-pressed', 'false');
    const key = state.keys.get(name);
    if (key !== undefined) {
      const kbd = document.createElement('kbd');
      kbd.textContent = key;
      button.append(kbd, ' ');
      button.setAttribute('aria-keyshortcuts', key);
    }
    button.append(name);
    button.addEventListener('click', () => pick(name));
    return button;
  }));
}

function showTask() {
  const task = state.queue[0];
  $('done').hidden = task !== undefined || !state.exhausted;
  $('task').hidden = task === undefined;
  $('classes').hidden = task === undefined;
  updateProgress();
  if (task === undefined) {
    document.body.dataset.row = '';
    return;
  }
  document.body.dataset.row = String(task.row);
  $('content').replaceChildren(...renderCells(task.cells ?? []));

  const pre = task.preLabel;
  const preText = $('prelabel');
  if (pre?.label) {
    preText.replaceChildren('Model says ', strong(pre.label), ` (${Math.round((pre.confidence ?? 0) * 100)} %)`);
    preText.title = pre.modelId ? `model ${pre.modelId}` : '';
  } else {
    preText.textContent = 'No pre-label from a model for this row.';
    preText.title = '';
  }
  $('current-label').textContent = task.currentLabel ? `Label so far: ${task.currentLabel}` : '';

  // The pre-label is the default choice: Enter alone accepts it. An undone task comes back with its own classes.
  state.selection = new Set(task.restored ?? (pre?.label && (state.project.classes ?? []).includes(pre.label) ? [pre.label] : []));
  for (const button of $('classes').children) {
    button.classList.toggle('suggested', button.dataset.class === pre?.label);
  }
  renderSelection();
  state.shownAt = performance.now();
}

function renderCells(cells) {
  const images = cells.filter(c => c.image);
  const others = cells.filter(c => !c.image);
  const nodes = images.map(cell => {
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = imageUrl(cell);
    img.alt = `${cell.column} of the row`;
    const caption = document.createElement('figcaption');
    caption.textContent = cell.column;
    figure.append(img, caption);
    return figure;
  });
  // A text to read (the longest cell, when it has a few words) is shown large; the other cells go in a table under it.
  const words = cell => (cell.text ?? '').trim().split(/\s+/).length;
  const prose = images.length === 0 ? others.reduce((a, b) => (b.text ?? '').length > (a?.text ?? '').length ? b : a, undefined) : undefined;
  const rest = prose !== undefined && (others.length === 1 || words(prose) >= 5) ? others.filter(c => c !== prose) : others;
  if (rest !== others) {
    const text = document.createElement('blockquote');
    text.className = 'text';
    text.textContent = prose.text ?? '';
    text.title = prose.column;
    nodes.push(text);
  }
  if (rest.length > 0) {
    const table = document.createElement('table');
    for (const cell of rest) {
      const row = table.insertRow();
      const head = document.createElement('th');
      head.scope = 'row';
      head.textContent = cell.column;
      row.append(head);
      row.insertCell().textContent = cell.text ?? '';
    }
    nodes.push(table);
  }
  return nodes;
}

function strong(text) {
  const node = document.createElement('strong');
  node.textContent = text;
  return node;
}

function renderSelection() {
  for (const button of $('classes').children) {
    const on = state.selection.has(button.dataset.class);
    button.setAttribute('aria-pressed', String(on));
    button.classList.toggle('selected', on);
  }
}

function updateProgress() {
  const left = state.queue.length + state.beyond;
  $('progress').textContent = `${state.labeled} labeled now · ${left} left`;
}

// ---------------------------------------------------------------- picking, submitting, undoing

function pick(name) {
  if (state.queue.length === 0) {
    return;
  }
  if (state.project.multiLabel) {
    if (state.selection.has(name)) {
      state.selection.delete(name);
    } else {
      state.selection.add(name);
    }
  } else {
    state.selection = new Set([name]);
  }
  renderSelection();
}

/** Shows the next task at once and stores the label in the background; a refused label is shown with its status. */
function submit() {
  const task = state.queue[0];
  if (task === undefined) {
    // Nothing shown: the last page request failed, or others have finished the project; ask the service again.
    state.exhausted = false;
    refill().then(showTask);
    return;
  }
  const classes = [...state.selection];
  if (!state.project.multiLabel && classes.length !== 1) {
    showBanner('Pick a class first (its key or its button), then press Enter.', 'info');
    return;
  }
  const durationMs = Math.max(1, Math.round(performance.now() - state.shownAt));
  const project = state.project;
  const entry = { task, classes, sent: null };
  setPending(1);
  entry.sent = api('POST', projectPath('/labels'), { row: task.row, classes, durationMs })
    .then(() => true, error => {
      fail(error);
      if (state.project === project) {
        state.history = state.history.filter(e => e !== entry);
        state.labeled -= 1;
        if (error.status === 400) {
          // Not stored: the task comes back to be labeled again.
          state.queue.unshift({ ...task, restored: undefined });
          showTask();
        }
        updateProgress();
      }
      return false;
    })
    .finally(() => setPending(-1));
  state.history.push(entry);
  state.labeled += 1;
  state.queue.shift();
  if (!$('banner').hidden && $('banner').className === 'info') {
    hideBanner();
  }
  showTask();
  if (state.queue.length <= REFILL_AT) {
    refill().then(() => {
      if (state.project === project && state.queue[0] !== undefined && document.body.dataset.row !== String(state.queue[0].row)) {
        showTask();
      } else {
        updateProgress();
        $('done').hidden = state.queue.length > 0 || !state.exhausted;
      }
    });
  }
}

/** Withdraws the newest label of this session and shows its task again, with the classes that were chosen. */
async function undo() {
  if (state.undoing) {
    return;
  }
  const entry = state.history.at(-1);
  if (entry === undefined) {
    showBanner('Nothing to undo: no label was submitted from this page yet.', 'info');
    return;
  }
  state.undoing = true;
  setPending(1);
  try {
    if (!(await entry.sent)) {
      return; // it was never stored; fail() has said why
    }
    await api('DELETE', projectPath(`/labels/${encodeURIComponent(entry.task.row)}`));
    state.history = state.history.filter(e => e !== entry);
    state.labeled -= 1;
    state.queue.unshift({ ...entry.task, restored: entry.classes });
    showTask();
  } catch (error) {
    if (error.status === 404) {
      state.history = state.history.filter(e => e !== entry); // withdrawn already (another tab): nothing to undo here
    }
    fail(error);
  } finally {
    state.undoing = false;
    setPending(-1);
  }
}

function onKey(event) {
  if (document.body.dataset.state !== 'labeling' || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target?.isContentEditable) {
    return;
  }
  if (event.key === 'Enter') {
    event.preventDefault(); // a focused class button would also "click"
    if (!event.repeat) {
      submit();
    }
  } else if (event.key === 'Backspace') {
    event.preventDefault();
    undo();
  } else if (event.key === 'Escape') {
    hideBanner();
  } else {
    const name = state.byKey?.get(event.key.toLowerCase());
    if (name !== undefined) {
      event.preventDefault();
      pick(name);
    }
  }
}

// ---------------------------------------------------------------- start

$('login-form').addEventListener('submit', logIn);
$('logout').addEventListener('click', () => logOut());
$('banner-close').addEventListener('click', hideBanner);
document.addEventListener('keydown', onKey);
route();
