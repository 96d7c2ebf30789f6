// The console's page. Everything from a domain, a log or a packet is put
// into the DOM as text (el() never parses markup); the server's CSP forbids
// inline scripts anyway. State comes pushed over server-sent events.
import RFB from '@novnc/novnc';
import { Terminal } from '@xterm/xterm';
import { el, clear, chart, human, humanBytes } from './dom.js';

const S = {
  session: null,
  hosts: new Map(), // id -> view {id, uri, driver, domains, error}
  history: new Map(), // "h/name" -> [{t, cpu, mem, rd, wr, rx, tx}]
  sel: null, // {host, name}
  tab: 'machines',
  watches: new Map(), // id -> {url, samples: [], end}
  traffic: [],
  job: null,
  logTick: 0,
};
const HISTORY = 240;

// ---------- server calls ----------
async function api(path, body) {
  const opt = { credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opt.method = 'POST';
    opt.headers['content-type'] = 'application/json';
    opt.headers['x-csrf-token'] = S.session.csrf;
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  let j = null;
  try { j = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new Error((j && j.error) || `${r.status} ${r.statusText}`);
  return j;
}

function say(text, error = false) {
  const box = document.getElementById('log');
  const m = el('div', { class: 'msg' + (error ? ' error' : ''), 'data-testid': error ? 'error' : 'result' }, text);
  box.append(m);
  while (box.children.length > 6) box.firstChild.remove();
  setTimeout(() => m.remove(), error ? 20000 : 8000);
}

async function act(host, name, body, label) {
  try {
    const r = await api(`/api/hosts/${host}/domains/${encodeURIComponent(name)}`, body);
    say(`${label || body.action} ${name}: done in ${r.ms} ms` + summarize(r.result));
    return r.result;
  } catch (e) {
    say(`${label || body.action} ${name}: ${e.message}`, true);
    return null;
  }
}

function summarize(v) {
  if (!v || typeof v !== 'object') return '';
  const keys = ['state', 'name', 'memory_kib', 'vcpus', 'downtime_ms', 'seconds', 'frozen_ms', 'deleted'];
  const parts = keys.filter((k) => v[k] !== undefined && v[k] !== null).map((k) => `${k} ${v[k]}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

// ---------- tabs ----------
const TABS = [
  ['machines', 'Machines'],
  ['console', 'Consoles'],
  ['usage', 'Usage'],
  ['watch', 'Watch'],
  ['logs', 'Logs'],
  ['traffic', 'Traffic'],
];

function renderTabs() {
  const nav = document.getElementById('tabs');
  clear(nav);
  for (const [id, label] of TABS) {
    nav.append(el('button', { role: 'tab', 'aria-selected': String(S.tab === id), 'data-tab': id, onclick: () => show(id) }, label));
  }
}

function show(tab) {
  if (S.tab === 'console' && tab !== 'console') closeConsoles();
  clear(document.getElementById('main'));
  S.tab = tab;
  location.hash = tab;
  renderTabs();
  render();
}

function render() {
  const main = document.getElementById('main');
  ({ machines: renderMachines, console: renderConsole, usage: renderUsage, watch: renderWatch, logs: renderLogs, traffic: renderTraffic })[S.tab](main);
}

// ---------- machines ----------
function domains() {
  const out = [];
  for (const h of S.hosts.values()) for (const d of h.domains) out.push([h, d]);
  return out;
}

function findDomain(sel) {
  if (!sel) return null;
  const h = S.hosts.get(sel.host);
  return h && h.domains.find((d) => d.name === sel.name);
}

function actionButtons(h, d) {
  const ro = S.session.read_only;
  const b = (label, body, enabled, cls = '') =>
    el('button', { class: 'act ' + cls, 'data-action': body.action, disabled: ro || !enabled, onclick: (e) => { e.stopPropagation(); act(h.id, d.name, body); } }, label);
  const st = d.state;
  return [
    b('Start', { action: 'start' }, !d.active),
    b('Shutdown', { action: 'shutdown' }, d.active),
    b('Reboot', { action: 'reboot' }, d.active),
    b('Suspend', { action: 'suspend' }, st === 'running'),
    b('Resume', { action: 'resume' }, st === 'paused'),
    b('Destroy', { action: 'destroy' }, d.active, 'danger'),
  ];
}

// The tables are redrawn on every pushed update; the detail and "new
// machine" panels only when what they show changed, so typing and loaded
// XML survive the updates.
function renderMachines(main) {
  let tables = main.querySelector('#hosts');
  if (!tables) {
    clear(main);
    tables = el('div', { id: 'hosts' });
    main.append(el('div', { class: 'panel', id: 'jobbox', 'data-testid': 'job' }, jobText()), tables, el('div', { id: 'detail' }), el('div', { id: 'newdomain' }));
    S.detailKey = null;
    S.hostCount = -1;
  }
  if (S.hostCount !== S.hosts.size) {
    S.hostCount = S.hosts.size;
    const box = main.querySelector('#newdomain');
    clear(box);
    box.append(hostPanel());
  }
  clear(tables);
  for (const h of S.hosts.values()) {
    tables.append(el('h2', {}, `Host ${h.id}: ${h.uri} (${h.driver})`));
    if (h.error) tables.append(el('p', { class: 'msg error' }, h.error));
    const body = el('tbody');
    for (const d of h.domains) {
      const selected = S.sel && S.sel.host === h.id && S.sel.name === d.name;
      body.append(el('tr', { class: selected ? 'selected' : '', 'data-domain': d.name, 'data-host': String(h.id), onclick: () => select(h.id, d.name) },
        el('td', { class: 'name' }, d.name),
        el('td', {}, el('span', { class: 'state ' + d.state.replace(/ /g, '-'), 'data-testid': 'state' }, d.state)),
        el('td', { class: 'num', 'data-testid': 'vcpus' }, `${d.vcpus} / ${d.max_vcpus}`),
        el('td', { class: 'num', 'data-testid': 'memory' }, `${human(d.memory_kib * 1024)} / ${human(d.max_memory_kib * 1024)}`),
        el('td', { class: 'num hide-sm', 'data-testid': 'cpu' }, d.cpu_percent == null ? '–' : `${d.cpu_percent.toFixed(1)} %`),
        el('td', { class: 'num hide-sm' }, String(d.snapshots)),
        el('td', {}, ...actionButtons(h, d)),
      ));
    }
    tables.append(el('table', { 'data-testid': `domains-${h.id}` },
      el('thead', {}, el('tr', {}, ...['Name', 'State', 'vCPUs', 'Memory', 'CPU', 'Snap.', 'Actions'].map((t, i) => el('th', { class: [2, 3, 4, 5].includes(i) ? 'num' + (i > 3 ? ' hide-sm' : '') : '' }, t)))),
      body));
  }
  const d = findDomain(S.sel);
  const names = d ? S.hosts.get(S.sel.host).domains.map((x) => x.name).join('\n') : '';
  const key = d ? `${S.sel.host}/${d.name}/${d.state}/${d.snapshots}/${S.hosts.size}/${names}` : '';
  if (key !== S.detailKey) {
    S.detailKey = key;
    const box = main.querySelector('#detail');
    clear(box);
    box.append(detailPanel());
  }
}

function select(host, name) {
  S.sel = { host, name };
  render();
}

function form(fields, submit, label) {
  const inputs = {};
  const row = el('div', { class: 'row' });
  for (const f of fields) {
    let input;
    if (f.type === 'select') {
      input = el('select', { name: f.name, 'aria-label': f.label }, ...f.options.map(([v, t]) => el('option', { value: v }, t)));
    } else if (f.type === 'checkbox') {
      input = el('input', { type: 'checkbox', name: f.name });
      row.append(el('label', {}, input, ' ' + f.label));
      inputs[f.name] = input;
      continue;
    } else {
      input = el('input', { name: f.name, placeholder: f.label, 'aria-label': f.label, value: f.value || '', size: f.size || 12 });
    }
    inputs[f.name] = input;
    row.append(input);
  }
  row.append(el('button', { class: 'act', disabled: S.session.read_only, 'data-submit': label, onclick: () => {
    const v = {};
    for (const [k, i] of Object.entries(inputs)) v[k] = i.type === 'checkbox' ? i.checked : i.value;
    submit(v);
  } }, label));
  return row;
}

function detailPanel() {
  const d = findDomain(S.sel);
  const p = el('div', { class: 'panel detail', 'data-testid': 'detail' });
  if (!d) {
    p.append(el('p', { class: 'muted' }, 'Click a machine to see its details, snapshots, XML and more actions.'));
    return p;
  }
  const { host, name } = S.sel;
  const others = domains().filter(([h, o]) => h.id === host && o.name !== name).map(([, o]) => [o.name, o.name]);
  const otherHosts = [...S.hosts.values()].filter((h) => h.id !== host).map((h) => [String(h.id), `host ${h.id}: ${h.uri}`]);
  const snapList = el('div', { 'data-testid': 'snapshots' });
  const xmlBox = el('div');
  p.append(
    el('h2', {}, `${name} `, el('span', { class: 'muted' }, `on host ${host}, ${d.state}, ${d.persistent ? 'persistent' : 'transient'}`)),
    el('div', { class: 'row' },
      el('button', { class: 'act', onclick: () => { S.tab = 'console'; S.consoleKind = 'vnc'; show('console'); }, disabled: !d.vnc || !d.active }, 'Graphical console'),
      el('button', { class: 'act', onclick: () => { S.tab = 'console'; S.consoleKind = 'serial'; show('console'); }, disabled: !d.serials || !d.active }, 'Serial console'),
      el('button', { class: 'act', onclick: () => show('usage') }, 'Usage graphs')),
    el('h2', {}, 'Resources'),
    form([{ name: 'size', label: 'memory, e.g. 512M', value: '' }, { name: 'scope', type: 'select', label: 'scope', options: [['current', 'current'], ['live', 'live'], ['config', 'config']] }],
      (v) => act(host, name, { action: 'setmem', size: v.size, scope: v.scope }), 'Set memory'),
    el('p', { class: 'muted' }, `maximum memory ${human(d.max_memory_kib * 1024)}, maximum vCPUs ${d.max_vcpus}`),
    form([{ name: 'count', label: 'vCPUs', size: 4 }, { name: 'scope', type: 'select', label: 'scope', options: [['current', 'current'], ['live', 'live'], ['config', 'config']] }, { name: 'maximum', type: 'checkbox', label: 'maximum' }],
      (v) => act(host, name, { action: 'setvcpus', count: Number(v.count), scope: v.scope, maximum: v.maximum }), 'Set vCPUs'),
    el('h2', {}, 'Snapshots'),
    form([{ name: 'name', label: 'snapshot name' }], async (v) => { await act(host, name, { action: 'snapshot-create', name: v.name }, 'snapshot'); loadSnaps(host, name, snapList); }, 'Take snapshot'),
    snapList,
    el('h2', {}, 'Clone, backup, migrate, undefine'),
    form([{ name: 'name', label: 'clone name (auto)' }, { name: 'linked', type: 'checkbox', label: 'linked (qcow2 overlay)' }], (v) => act(host, name, { action: 'clone', name: v.name || null, linked: v.linked }), 'Clone'),
    form([{ name: 'dest', label: 'backup directory', size: 24 }, { name: 'external', type: 'checkbox', label: 'external snapshot' }], (v) => act(host, name, { action: 'backup', dest: v.dest, external: v.external }), 'Hot backup'),
    otherHosts.length
      ? form([{ name: 'dest', type: 'select', label: 'destination', options: otherHosts }, { name: 'live', type: 'checkbox', label: 'live' }, { name: 'persistent', type: 'checkbox', label: 'persistent' }, { name: 'undefine_source', type: 'checkbox', label: 'undefine source' }, { name: 'unsafe', type: 'checkbox', label: 'unsafe (no shared storage)' }, { name: 'p2p', type: 'checkbox', label: 'p2p' }],
        (v) => { S.job = { domain: name, samples: [] }; act(host, name, { action: 'migrate', dest: Number(v.dest), live: v.live, persistent: v.persistent, undefine_source: v.undefine_source, unsafe: v.unsafe, p2p: v.p2p }); }, 'Migrate')
      : el('p', { class: 'muted' }, 'Migration needs a second host: start the console with two -c URIs.'),
    form([{ name: 'snapshots_metadata', type: 'checkbox', label: 'drop snapshot metadata' }, { name: 'remove_storage', type: 'checkbox', label: 'remove its storage' }], (v) => { if (confirm(`Undefine ${name}?`)) act(host, name, { action: 'undefine', ...v }); }, 'Undefine'),
    el('h2', {}, 'XML'),
    el('div', { class: 'row' },
      el('button', { class: 'act', 'data-submit': 'dumpxml', onclick: async () => {
        try { const r = await api(`/api/hosts/${host}/domains/${encodeURIComponent(name)}/xml`); clear(xmlBox); xmlBox.append(el('pre', { 'data-testid': 'xml' }, r.xml)); } catch (e) { say(e.message, true); }
      } }, 'Show XML'),
      el('select', { id: 'diffwith', 'aria-label': 'diff with' }, ...others.map(([v, t]) => el('option', { value: v }, t))),
      el('button', { class: 'act', 'data-submit': 'diff', disabled: !others.length, onclick: async () => {
        const b = document.getElementById('diffwith').value;
        try {
          const r = await api(`/api/hosts/${host}/diff?a=${encodeURIComponent(name)}&b=${encodeURIComponent(b)}`);
          clear(xmlBox);
          xmlBox.append(el('pre', { class: 'diff', 'data-testid': 'diff' }, ...r.lines.map((l) => el('div', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : '' }, `${l.op} ${l.text}`))));
          if (!r.lines.length) say(`${name} and ${b}: same XML`);
        } catch (e) { say(e.message, true); }
      } }, 'Diff XML')),
    xmlBox,
  );
  loadSnaps(host, name, snapList);
  return p;
}

function jobText() {
  if (!S.job) return 'No migration yet.';
  const j = S.job;
  if (j.error) return `migration of ${j.domain} failed: ${j.error}`;
  if (j.report) return `migrated ${j.domain} in ${j.report.seconds.toFixed(2)} s, downtime ${j.report.downtime_ms ?? '?'} ms`;
  const p = j.samples[j.samples.length - 1];
  if (!p) return `migrating ${j.domain}: starting`;
  const total = p.data_total || 0, left = p.data_remaining || 0;
  return `migrating ${j.domain}: ${(p.elapsed_ms / 1000).toFixed(1)} s` + (total ? `, ${humanBytes(left)} of ${humanBytes(total)} left (${Math.round(100 * (1 - left / total))} %)` : ', preparing');
}

async function loadSnaps(host, name, box) {
  try {
    const rows = await api(`/api/hosts/${host}/domains/${encodeURIComponent(name)}/snapshots`);
    clear(box);
    if (!rows.length) { box.append(el('p', { class: 'muted' }, 'No snapshots.')); return; }
    box.append(el('table', {}, el('tbody', {}, ...rows.map((s) => el('tr', { 'data-snapshot': s.name },
      el('td', {}, s.name + (s.current ? ' (current)' : '')),
      el('td', {}, s.state),
      el('td', {}, s.creation_time ? new Date(s.creation_time * 1000).toLocaleString() : ''),
      el('td', {},
        el('button', { class: 'act', 'data-action': 'snapshot-revert', disabled: S.session.read_only, onclick: async () => { await act(host, name, { action: 'snapshot-revert', snapshot: s.name }, 'revert'); loadSnaps(host, name, box); } }, 'Revert'),
        el('button', { class: 'act danger', 'data-action': 'snapshot-delete', disabled: S.session.read_only, onclick: async () => { await act(host, name, { action: 'snapshot-delete', snapshot: s.name }, 'delete snapshot'); loadSnaps(host, name, box); } }, 'Delete')),
    )))));
  } catch (e) {
    clear(box);
    box.append(el('p', { class: 'muted' }, e.message));
  }
}

function hostPanel() {
  const p = el('div', { class: 'panel' }, el('h2', {}, 'New machine'));
  const hosts = [...S.hosts.values()].map((h) => [String(h.id), `host ${h.id}: ${h.uri}`]);
  const hostSel = el('select', { 'aria-label': 'host' }, ...hosts.map(([v, t]) => el('option', { value: v }, t)));
  const xml = el('textarea', { 'aria-label': 'domain XML', placeholder: '<domain type="qemu">…</domain>', 'data-testid': 'new-xml' });
  const run = async (action, extra = {}) => {
    try {
      const r = await api(`/api/hosts/${hostSel.value}`, { action, xml: xml.value, ...extra });
      say(`${action}: ${r.result.name}`);
    } catch (e) { say(`${action}: ${e.message}`, true); }
  };
  p.append(el('div', { class: 'row' }, hostSel,
    el('button', { class: 'act', 'data-submit': 'define', disabled: S.session.read_only, onclick: () => run('define') }, 'Define'),
    el('button', { class: 'act', 'data-submit': 'define-start', disabled: S.session.read_only, onclick: () => run('define', { start: true }) }, 'Define and start'),
    el('button', { class: 'act', 'data-submit': 'create', disabled: S.session.read_only, onclick: () => run('create') }, 'Create (transient)')), xml);
  p.append(el('h2', {}, 'On a new qcow2 overlay'),
    form([{ name: 'base', label: 'base image', size: 20 }, { name: 'overlay', label: 'new overlay file', size: 20 }, { name: 'name', label: 'domain name' }, { name: 'memory', label: 'memory', value: '256M', size: 6 }, { name: 'network', label: 'network', value: 'default', size: 8 }],
      async (v) => {
        try {
          const r = await api(`/api/hosts/${hostSel.value}`, { action: 'overlay-import', ...v });
          say(`overlay ${v.overlay} on ${v.base}; imported ${r.result.imported.name}`);
        } catch (e) { say(e.message, true); }
      }, 'Overlay + import'));
  return p;
}

// ---------- consoles ----------
let rfb = null, term = null, serialWs = null;

function closeConsoles() {
  if (rfb) { try { rfb.disconnect(); } catch { /* gone */ } rfb = null; }
  if (serialWs) { serialWs.close(); serialWs = null; }
  if (term) { term.dispose(); term = null; }
}

function wsUrl(kind) {
  const { host, name } = S.sel;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/hosts/${host}/domains/${encodeURIComponent(name)}/${kind}?csrf=${S.session.csrf}`;
}

function renderConsole(main) {
  if (main.querySelector('#screen') || main.querySelector('#term')) return; // keep the live console
  clear(main);
  const running = domains().filter(([, d]) => d.active);
  const pick = el('select', { 'aria-label': 'machine', 'data-testid': 'console-domain' }, ...running.map(([h, d]) => el('option', { value: `${h.id}/${d.name}`, selected: S.sel && S.sel.host === h.id && S.sel.name === d.name }, `${d.name} (host ${h.id})`)));
  const status = el('span', { class: 'muted', 'data-testid': 'console-status' }, '');
  const area = el('div');
  const open = (kind) => {
    const [h, ...n] = pick.value.split('/');
    if (!pick.value) return;
    S.sel = { host: Number(h), name: n.join('/') };
    closeConsoles();
    clear(area);
    S.consoleKind = kind;
    if (kind === 'vnc') {
      const screen = el('div', { id: 'screen', 'data-testid': 'screen' });
      area.append(el('div', { class: 'row' },
        el('button', { class: 'act', 'data-submit': 'cad', onclick: () => rfb && rfb.sendCtrlAltDel() }, 'Ctrl-Alt-Del'),
        el('label', {}, el('input', { type: 'checkbox', checked: true, onchange: (e) => { if (rfb) rfb.scaleViewport = e.target.checked; } }), ' fit to window'),
        el('label', {}, el('input', { type: 'checkbox', onchange: (e) => { if (rfb) rfb.resizeSession = e.target.checked; } }), ' resize the guest')), screen);
      rfb = new RFB(screen, wsUrl('vnc'), { wsProtocols: ['binary'] });
      rfb.scaleViewport = true;
      rfb.focusOnClick = true;
      rfb.addEventListener('connect', () => { status.textContent = 'graphical console connected'; rfb.focus(); });
      rfb.addEventListener('disconnect', (e) => { status.textContent = e.detail.clean ? 'disconnected' : 'connection lost (is the machine running with a VNC display?)'; });
      rfb.addEventListener('desktopname', (e) => { status.textContent = `connected: ${e.detail.name}`; });
      window.tplabRfb = rfb;
    } else {
      const box = el('div', { id: 'term', 'data-testid': 'term' });
      area.append(box);
      term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000 });
      term.open(box);
      serialWs = new WebSocket(wsUrl('serial'));
      serialWs.binaryType = 'arraybuffer';
      const enc = new TextEncoder();
      serialWs.onopen = () => { status.textContent = 'serial console connected' + (S.session.read_only ? ' (read-only: keys are not sent)' : ''); term.focus(); };
      serialWs.onmessage = (m) => { term.write(new Uint8Array(m.data)); window.tplabSerialBytes = (window.tplabSerialBytes || 0) + m.data.byteLength; };
      serialWs.onclose = (e) => { status.textContent = `serial console closed${e.reason ? ': ' + e.reason : ''}`; };
      term.onData((d) => { if (serialWs && serialWs.readyState === 1) serialWs.send(enc.encode(d)); });
      window.tplabTerm = term;
    }
  };
  main.append(el('div', { class: 'row' }, pick,
    el('button', { class: 'act', 'data-submit': 'open-vnc', onclick: () => open('vnc') }, 'Graphical console'),
    el('button', { class: 'act', 'data-submit': 'open-serial', onclick: () => open('serial') }, 'Serial console'),
    el('button', { class: 'act', onclick: () => { closeConsoles(); clear(area); status.textContent = 'closed'; } }, 'Close'), status), area);
  if (!running.length) main.append(el('p', { class: 'muted' }, 'No machine is running.'));
  else if (S.consoleKind) open(S.consoleKind);
}

// ---------- usage ----------
function record(view) {
  const t = Date.now() / 1000;
  for (const d of view.domains) {
    const k = `${view.id}/${d.name}`;
    const h = S.history.get(k) || [];
    h.push({ t, cpu: d.cpu_percent, mem: d.memory_kib * 1024, rd: d.disk_read_bps, wr: d.disk_write_bps, rx: d.net_rx_bps, tx: d.net_tx_bps });
    while (h.length > HISTORY) h.shift();
    S.history.set(k, h);
  }
}

function renderUsage(main) {
  clear(main);
  const list = domains();
  const pick = el('select', { 'aria-label': 'machine', 'data-testid': 'usage-domain', onchange: (e) => { const [h, ...n] = e.target.value.split('/'); S.sel = { host: Number(h), name: n.join('/') }; render(); } },
    ...list.map(([h, d]) => el('option', { value: `${h.id}/${d.name}`, selected: S.sel && S.sel.host === h.id && S.sel.name === d.name }, `${d.name} (host ${h.id}, ${d.state})`)));
  main.append(el('div', { class: 'row' }, pick, el('span', { class: 'muted' }, 'sampled every 0.5 s from libvirt')));
  if (!S.sel && list.length) S.sel = { host: list[0][0].id, name: list[0][1].name };
  if (!S.sel) return;
  const h = S.history.get(`${S.sel.host}/${S.sel.name}`) || [];
  const g = el('div', { class: 'grid' });
  const series = (f) => h.filter((x) => x[f] != null).map((x) => [x.t, x[f]]);
  g.append(
    chart('CPU', [{ name: 'cpu', points: series('cpu') }], (v) => `${v.toFixed(1)} %`, 'cpu'),
    chart('Memory', [{ name: 'memory', points: series('mem') }], humanBytes, 'memory'),
    chart('Disk', [{ name: 'read', points: series('rd') }, { name: 'write', points: series('wr') }], (v) => humanBytes(v) + '/s', 'disk'),
    chart('Network', [{ name: 'rx', points: series('rx') }, { name: 'tx', points: series('tx') }], (v) => humanBytes(v) + '/s', 'net'),
  );
  main.append(g);
}

// ---------- watch ----------
function renderWatch(main) {
  clear(main);
  main.append(el('p', { class: 'muted' }, 'Poll a URL in a guest (the lab\'s heure.php) while you suspend, snapshot or migrate it: every answer and every gap is charted.'),
    form([{ name: 'url', label: 'http://GUEST/heure.php', size: 32 }, { name: 'every', label: 'every (ms)', value: '100', size: 5 }],
      async (v) => {
        try {
          const r = await api('/api/watch', { url: v.url, every_ms: Number(v.every) || 100 });
          S.watches.set(r.id, { url: v.url, samples: [], end: null });
          render();
        } catch (e) { say(e.message, true); }
      }, 'Start watching'));
  for (const [id, w] of [...S.watches.entries()].reverse()) {
    const ok = w.samples.filter((s) => s.ok);
    const failed = w.samples.length - ok.length;
    let gap = 0, last = 0;
    for (const s of ok) { gap = Math.max(gap, s.t_ms - last); last = s.t_ms; }
    if (w.end && w.end.report) gap = w.end.report.longest_gap_ms;
    const p = el('div', { class: 'panel', 'data-watch': String(id) },
      el('div', { class: 'row' }, el('strong', {}, w.url), w.end ? el('span', { class: 'muted' }, 'ended') : el('button', { class: 'act', onclick: () => api(`/api/watch/${id}/stop`, {}).catch((e) => say(e.message, true)) }, 'Stop')),
      el('div', { class: 'kpis' },
        el('div', {}, el('span', {}, 'requests'), el('b', { 'data-testid': 'watch-requests' }, String(w.samples.length))),
        el('div', {}, el('span', {}, 'failed'), el('b', { 'data-testid': 'watch-failed' }, String(failed))),
        el('div', {}, el('span', {}, 'longest gap'), el('b', { 'data-testid': 'watch-gap' }, `${(gap / 1000).toFixed(2)} s`))),
      chart('Latency (ms); failures at 0', [{ name: 'latency', points: w.samples.map((s) => [s.t_ms / 1000, s.ok ? s.latency_ms : 0]) }], (v) => `${v.toFixed(1)} ms`, 'watch'));
    main.append(p);
  }
}

// ---------- logs ----------
async function renderLogs(main) {
  clear(main);
  const logs = S.session.logs;
  if (!logs.length) {
    main.append(el('p', { class: 'muted' }, 'No access log: start the console with --log FILE (the web server\'s access.log).'));
    return;
  }
  S.logFile = S.logFile || 0;
  const f = S.logFilter || {};
  const pick = el('select', { 'aria-label': 'log', onchange: (e) => { S.logFile = Number(e.target.value); renderLogs(main); } }, ...logs.map((l, i) => el('option', { value: String(i), selected: i === S.logFile }, l)));
  main.append(el('div', { class: 'row' }, pick, el('span', { class: 'muted' }, 'tplog\'s answers, redone when the log grows')),
    form([{ name: 'page', label: '--page', value: f.page }, { name: 'ip', label: '--ip', value: f.ip }, { name: 'from', label: '--from', value: f.from }, { name: 'to', label: '--to', value: f.to }, { name: 'status', label: '--status', value: f.status, size: 5 }],
      (v) => { S.logFilter = v; renderLogs(main); }, 'Filter'));
  const grid = el('div', { class: 'grid', id: 'log-panels' });
  main.append(grid);
  const qs = logQuery();
  // tplog report's page, framed: sandboxed (its script runs, in an origin of
  // its own, with no access to the console), redone with the filters. When
  // the log grows the panels are redone but the frame is not (that would
  // drop the reader's narrowing): it offers a reload instead.
  const reportUrl = `/logs/${S.logFile}/report${qs ? `?${qs}` : ''}`;
  const frame = el('iframe', { src: reportUrl, sandbox: 'allow-scripts', title: 'tplog report', 'data-testid': 'log-report' });
  const reload = el('button', { class: 'act', hidden: true, 'data-testid': 'log-report-reload', onclick: () => { reload.hidden = true; frame.src = reportUrl; } }, 'the log grew: redo the report');
  main.append(el('section', { class: 'log-report' },
    el('div', { class: 'row' }, el('h3', {}, 'Report'), el('a', { href: reportUrl, target: '_blank', rel: 'noopener' }, 'open in its own tab'),
      el('span', { class: 'muted' }, 'tplog report: charts, every panel, drag or click to narrow'), reload),
    frame));
  fillLogPanels(grid, qs);
}

function logQuery() {
  return new URLSearchParams(Object.entries(S.logFilter || {}).filter(([, v]) => v)).toString();
}

// The log grew: redo the panels in place, and offer to redo the report.
function logsGrew() {
  const grid = document.getElementById('log-panels');
  if (!grid) return;
  fillLogPanels(grid, logQuery());
  const reload = document.querySelector('[data-testid="log-report-reload"]');
  if (reload) reload.hidden = false;
}

function fillLogPanels(grid, qs) {
  const panels = [['stats', 'Overview'], ['ips', 'Client IPs'], ['pages', 'Pages'], ['status', 'Status codes'], ['days', 'Days'], ['hours', 'Hours'], ['agents', 'User agents'], ['referers', 'Referers']];
  return Promise.all(panels.map(([q, title]) => {
    // aria-busy until its answer is in: the panels fill in any order. A
    // panel being redone keeps its old answer until the new one is in.
    let box = grid.querySelector(`[data-log-panel="${q}"]`);
    if (!box) grid.append(box = el('div', { class: 'chart', 'data-log-panel': q }, el('h3', {}, title), el('p', { class: 'muted' }, '…')));
    box.setAttribute('aria-busy', 'true');
    const show = (...body) => {
      const now = grid.querySelector(`[data-log-panel="${q}"]`);
      const fresh = el('div', { class: 'chart', 'data-log-panel': q }, el('h3', {}, title), ...body);
      if (now) now.replaceWith(fresh); else grid.append(fresh);
    };
    return api(`/api/logs/${S.logFile}/${q}?${qs}`).then((r) => {
      if (q === 'stats') {
        const a = r.answer;
        show(el('div', { class: 'kpis' },
          ...[['requests', a.requests], ['distinct IPs', a.distinct_ips], ['distinct pages', a.distinct_pages], ['malformed', a.malformed],
            ['first', a.first], ['last', a.last], ['bytes p50', a.bytes_sent && a.bytes_sent.p50], ['bytes p99', a.bytes_sent && a.bytes_sent.p99]].map(([k, v]) =>
            el('div', {}, el('span', {}, k), el('b', { 'data-testid': `log-${k.replace(/ /g, '-')}` }, v == null ? '–' : String(v))))),
        ...(r.first_malformed ? [el('p', { class: 'muted' }, `first malformed line: ${r.first_malformed}`)] : []));
        return;
      }
      const rows = Array.isArray(r.answer) ? r.answer : [];
      show(el('table', {}, el('tbody', {}, ...rows.map((row) => el('tr', {}, el('td', { class: 'num' }, String(row.count)), el('td', { 'data-testid': `log-${q}-key` }, String(row.key)))))));
    }).catch((e) => show(el('p', { class: 'muted' }, e.message)));
  }));
}

// ---------- traffic ----------
function renderTraffic(main) {
  clear(main);
  if (!S.session.ifaces.length) {
    main.append(el('p', { class: 'muted' }, 'No capture: start the console with --iface IFACE (as root with --user, or with the capture capabilities).'));
    return;
  }
  main.append(el('p', { class: 'muted' }, `Capturing ${S.session.ifaces.join(', ')}: credentials sent in clear (masked until you click them) and TLS sessions, as tpsniff reports them.`));
  const creds = S.traffic.filter((t) => t.finding.kind === 'credential');
  const tls = S.traffic.filter((t) => t.finding.kind !== 'credential');
  const g = el('div', { class: 'grid' });
  g.append(
    el('div', { class: 'chart' }, el('h3', {}, 'Credentials seen (in clear, or as a crackable hash)'), el('div', { class: 'big', 'data-testid': 'cred-count' }, String(creds.length))),
    el('div', { class: 'chart' }, el('h3', {}, 'Encrypted (TLS): no credential visible'), el('div', { class: 'big', 'data-testid': 'tls-count' }, String(tls.length))));
  main.append(g);
  const rows = S.traffic.slice(-200).reverse().map((t) => {
    const f = t.finding;
    const secret = el('span', { class: 'secret', 'data-testid': 'secret' }, t.revealed ?? f.password ?? '');
    const reveal = t.revealed != null ? '' : el('button', { class: 'act', onclick: async () => {
      try { const full = await api(`/api/traffic/reveal/${t.id}`, {}); t.revealed = full.password ?? ''; secret.textContent = t.revealed; reveal.remove(); } catch (e) { say(e.message, true); }
    } }, 'show');
    return el('tr', { 'data-kind': f.kind },
      el('td', {}, f.ts || ''), el('td', {}, f.kind === 'credential' ? f.proto : 'tls'),
      el('td', {}, f.client || ''), el('td', {}, f.server || ''),
      el('td', { 'data-testid': 'user' }, f.kind === 'credential' ? (f.user ?? '') : (f.sni ?? '')),
      el('td', {}, f.kind === 'credential' ? secret : (f.version ?? '')),
      el('td', {}, f.kind === 'credential' && f.password ? reveal : ''));
  });
  main.append(el('table', { 'data-testid': 'traffic' }, el('thead', {}, el('tr', {}, ...['Time', 'Protocol', 'Client', 'Server', 'User / SNI', 'Password / version', ''].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
}

// ---------- events ----------
function connect() {
  const es = new EventSource('/api/events');
  const status = document.getElementById('status');
  es.onopen = () => { status.textContent = S.session.read_only ? 'live · read-only' : 'live'; };
  es.onerror = () => { status.textContent = 'reconnecting…'; };
  es.addEventListener('host', (m) => {
    const v = JSON.parse(m.data);
    S.hosts.set(v.id, v);
    record(v);
    window.tplabUpdates = (window.tplabUpdates || 0) + 1;
    if (S.tab === 'machines' || S.tab === 'usage') render();
    if (S.tab === 'console' && !rfb && !term) render();
  });
  es.addEventListener('job', (m) => {
    const j = JSON.parse(m.data);
    if (!S.job || S.job.domain !== j.domain && !j.done) S.job = { domain: j.domain, samples: [] };
    if (j.progress) S.job.samples.push(j.progress);
    if (j.done) { S.job.report = j.report; S.job.error = j.error; }
    const box = document.getElementById('jobbox');
    if (box) box.textContent = jobText();
  });
  es.addEventListener('watch', (m) => {
    const s = JSON.parse(m.data);
    const w = S.watches.get(s.id) || { url: '?', samples: [], end: null };
    w.samples.push(s);
    S.watches.set(s.id, w);
    if (S.tab === 'watch') throttle('watch', render);
  });
  es.addEventListener('watch-end', (m) => {
    const e = JSON.parse(m.data);
    const w = S.watches.get(e.id);
    if (w) w.end = e;
    if (S.tab === 'watch') render();
  });
  es.addEventListener('logs', () => { if (S.tab === 'logs') throttle('logs', logsGrew, 1000); });
  es.addEventListener('traffic', (m) => {
    S.traffic.push(JSON.parse(m.data));
    if (S.traffic.length > 1000) S.traffic.shift();
    if (S.tab === 'traffic') throttle('traffic', render);
  });
}

const pending = {};
function throttle(key, f, ms = 250) {
  if (pending[key]) return;
  pending[key] = setTimeout(() => { pending[key] = null; f(); }, ms);
}

async function start() {
  try {
    S.session = await api('/api/session');
  } catch (e) {
    document.getElementById('main').append(el('p', {}, e.message));
    return;
  }
  for (const w of S.session.watches) S.watches.set(w[0], { url: w[1], samples: [], end: null });
  const h = location.hash.slice(1);
  if (TABS.some(([id]) => id === h)) S.tab = h;
  renderTabs();
  render();
  connect();
  window.tplabState = S; // read by the browser tests
  window.tplabReady = true;
}

start();
