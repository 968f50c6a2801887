'use strict';
// The console's pages draw themselves from the JSON API. Every value from it is set as text
// (createTextNode, textContent), never parsed as markup: a name or a reject holding <script> shows as text.
const Ingest = (() => {
  const tokenKey = 'ingest.token';
  const states = ['pending', 'running', 'paused', 'completed', 'completed_with_errors', 'failed', 'cancelled'];

  const token = () => sessionStorage.getItem(tokenKey);

  function askToken(why) {
    const given = window.prompt(`${why}\nToken (INGEST_WEB_TOKEN):`);
    if (given) sessionStorage.setItem(tokenKey, given);
    return given;
  }

  async function api(path, options = {}, asked = false) {
    const headers = {};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401 && !asked && (options.method ?? 'GET') === 'GET' && askToken('This console needs a token to be read.')) return api(path, options, true);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), { status: response.status });
    return body;
  }

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'class') e.className = value;
      else if (key.startsWith('data-')) e.setAttribute(key, value);
      else e[key] = value;
    }
    for (const child of children) e.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
    return e;
  }

  const n = (x) => (x ?? 0).toLocaleString('en-US');
  const duration = (s) => s == null ? '' : s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.floor(s / 60)}m ${Math.round(s % 60)}s` : `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m`;
  const stateBadge = (state) => el('span', { class: `state state-${state}`, 'data-state': state }, state);
  const final = (state) => ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(state);

  function message(text, ok = false) {
    const m = document.getElementById('message');
    m.textContent = text;
    m.className = ok ? 'ok' : '';
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  async function act(id, action) {
    if (!token() && !askToken('Actions need the console\'s token.')) return;
    try {
      const result = await api(`/api/imports/${id}/${action}`, { method: 'POST' });
      message(`import ${id}: ${action} done, now ${result.state}`, true);
    } catch (e) {
      if (e.status === 401) sessionStorage.removeItem(tokenKey);
      message(`import ${id}: ${action} refused: ${e.message}`);
    }
  }

  function actions(status) {
    const buttons = [];
    const add = (action, when) => { if (when) buttons.push(el('button', { type: 'button', 'data-action': action, onclick: () => act(status.id, action) }, action)); };
    add('pause', ['pending', 'running'].includes(status.state));
    add('resume', status.state === 'paused');
    add('cancel', !final(status.state));
    add('retry', ['completed_with_errors', 'failed'].includes(status.state));
    return buttons;
  }

  function progress(status) {
    const u = status.units;
    const value = status.bytesTotal > 0 ? 100 * Math.min(status.bytesRead, status.bytesTotal) / status.bytesTotal
      : u.total > 0 ? 100 * (u.done + u.failed) / u.total : 0;
    return el('progress', { max: 100, value: final(status.state) ? 100 : value });
  }

  function every(seconds, draw) {
    const tick = async () => {
      try { await draw(); } catch (e) { message(e.message); }
      setTimeout(tick, seconds * 1000);
    };
    tick();
  }

  function home() {
    document.addEventListener('DOMContentLoaded', () => {
      const select = document.getElementById('state');
      for (const s of states) select.append(el('option', { value: s }, s));
      const query = new URLSearchParams(location.search);
      select.value = query.get('state') ?? '';
      document.getElementById('name').value = query.get('name') ?? '';
      every(1, async () => {
        const params = new URLSearchParams();
        if (select.value) params.set('state', select.value);
        const name = document.getElementById('name').value;
        if (name) params.set('name', name);
        const imports = await api(`/api/imports?${params}`);
        fill(document.querySelector('#imports tbody'), imports.map((s) => el('tr', { 'data-id': s.id },
          el('td', {}, el('a', { href: `/imports/${s.id}` }, String(s.id))),
          el('td', { class: 'name' }, s.name),
          el('td', {}, stateBadge(s.state)),
          el('td', {}, progress(s)),
          el('td', { class: 'n' }, `${s.units.done + s.units.failed}/${s.units.total}`),
          el('td', { class: 'n rows' }, n(s.rows.read)),
          el('td', { class: 'n' }, `${n(Math.round(s.rowsPerSecond))} rows/s`),
          el('td', { class: 'n' }, final(s.state) ? '' : duration(s.etaSeconds)),
          el('td', {}, ...actions(s)))));
      });
    });
  }

  function importPage() {
    const id = Number(location.pathname.split('/').pop());
    const samples = [];
    document.addEventListener('DOMContentLoaded', () => every(1, async () => {
      const { report, traceUrl } = await api(`/api/imports/${id}`);
      const s = report.status;
      document.title = `ingest: import ${s.id}`;
      document.getElementById('title').replaceChildren(`import ${s.id} `, el('span', { class: 'name' }, s.name), ' ', stateBadge(s.state));
      document.getElementById('actions').replaceChildren(...actions(s), ...(traceUrl ? [el('a', { href: traceUrl, target: '_blank', rel: 'noopener' }, 'trace')] : []));
      const u = s.units;
      const row = (label, ...value) => el('tr', {}, el('th', {}, label), el('td', {}, ...value));
      fill(document.querySelector('#summary tbody'), [
        row('progress', progress(s)),
        row('units', `${u.done} done, ${u.failed} failed, ${u.running} running, ${u.pending} pending, ${u.cancelled} cancelled of ${u.total}`),
        row('rows', `${n(s.rows.read)} read, ${n(s.rows.inserted)} inserted, ${n(s.rows.updated)} updated, ${n(s.rows.unchanged)} unchanged ` +
          `(${n(s.rows.duplicates)} duplicates, ${n(s.rows.kept)} kept), ${n(s.rows.rejected)} rejected`),
        ...(s.files?.skipped ? [row('files skipped', `${n(s.files.skipped)} (committed before in their current version)`)] : []),
        ...(s.messages ? [
          row('messages', `${n(s.messages.consumed)} consumed, ${n(s.messages.duplicate)} duplicate, ${n(s.messages.redelivered)} redelivered, ` +
            `${n(s.messages.rejected)} rejected, ${n(s.messages.deadLettered)} dead-lettered, ${n(Math.round(s.messages.messagesPerSecond))} messages/s`),
          row('backlog', s.messages.backlog == null ? '' : n(s.messages.backlog)),
          row('consumers', Object.entries(s.messages.consumers).map(([silo, c]) => `${silo}: ${c}`).join(', ')),
        ] : []),
        row('rate', `${n(Math.round(s.rowsPerSecond))} rows/s, ${n(Math.round(report.unitsPerHour))} units/h`),
        row('eta', final(s.state) ? '' : duration(s.etaSeconds)),
        row('archive', s.archive ? `${n(s.archive.archived)} uploaded, ${n(s.archive.preExisting)} already there, ${n(s.archive.errors)} failed` +
          (s.archive.pending > 0 ? `, ${n(s.archive.pending)} under way` : '') : ''),
        ...(s.notify ? [row('events', `${n(s.notify.sent)} sent, ${n(s.notify.waiting)} waiting` + (s.notify.givenUp > 0 ? `, ${n(s.notify.givenUp)} given up` : '') +
          (s.notify.lastError && (s.notify.waiting > 0 || s.notify.givenUp > 0) ? ` (last error: ${s.notify.lastError})` : ''))] : []),
        row('error', s.error ?? ''),
        row('trace id', s.traceId ?? ''),
      ]);
      // A flat target is one table: the import's rows are its counts.
      const tables = s.tables ?? { [report.spec.target.table]: { ...s.rows, deleted: 0 } };
      fill(document.querySelector('#tables tbody'), Object.entries(tables).map(([table, c]) =>
        el('tr', {}, el('td', {}, table), el('td', { class: 'n' }, n(c.inserted)), el('td', { class: 'n' }, n(c.updated)), el('td', { class: 'n' }, n(c.unchanged)), el('td', { class: 'n' }, n(c.deleted)))));
      fill(document.querySelector('#failed tbody'), s.failedUnits.map((f) =>
        el('tr', {}, el('td', {}, String(f.unitNo)), el('td', {}, f.key), el('td', { class: 'n' }, String(f.attempts)), el('td', {}, f.error ?? ''))));
      fill(document.querySelector('#rejects tbody'), report.rejects.map((g) =>
        el('tr', {}, el('td', {}, g.column ?? ''), el('td', {}, g.reason), el('td', { class: 'n' }, n(g.count)),
          el('td', {}, ...g.examples.map((x) => el('div', { class: 'reject' }, `${x.file} record ${x.recordIndex}: ${x.reason} — `, el('code', {}, x.raw ?? '')))))));
      const files = Array.isArray(s.files) ? s.files : (s.files?.units ?? []);
      fill(document.querySelector('#files tbody'), files.map((f) =>
        el('tr', {}, el('td', {}, String(f.unitNo)), el('td', {}, f.units > 1 ? `${f.key} (${f.units} ranges)` : f.key), el('td', {}, stateBadge(f.state)),
          el('td', { class: 'n' }, n(f.rows.read)), el('td', { class: 'n' }, n(f.rows.inserted)), el('td', { class: 'n' }, n(f.rows.updated)), el('td', { class: 'n' }, n(f.rows.rejected)))));
      fill(document.querySelector('#skipped tbody'), (s.files?.skippedFiles ?? []).map((f) =>
        el('tr', {}, el('td', {}, f.key), el('td', {}, f.version ?? ''), el('td', { class: 'n' }, f.committedBy == null ? '' : String(f.committedBy)))));
      fill(document.querySelector('#events tbody'), report.timeline.slice(-200).map((e) =>
        el('tr', {}, el('td', {}, e.at), el('td', {}, e.kind), el('td', {}, e.unitNo ?? ''), el('td', {}, e.message ?? ''))));
      document.getElementById('spec').textContent = JSON.stringify(report.spec, null, 2);
      // The run's steps, from its units' ends; a queue's consumers never end, so its rate is sampled as the page polls.
      samples.push({ at: Date.now(), rows: s.rows.read });
      const live = samples.slice(-120);
      chart(s.messages ? live.slice(1).map((p, i) => Math.max(0, (p.rows - live[i].rows) / Math.max(0.001, (p.at - live[i].at) / 1000)))
                       : report.throughput.map((p) => p.rowsPerSecond));
    }));
  }

  // Rows per second, as a line.
  function chart(rates) {
    const canvas = document.getElementById('chart');
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (rates.length < 2) return;
    const top = Math.max(...rates, 1);
    g.strokeStyle = '#2f6fd6';
    g.beginPath();
    rates.forEach((r, i) => {
      const x = i * (canvas.width - 10) / (rates.length - 1) + 5, y = canvas.height - 15 - r / top * (canvas.height - 30);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.fillStyle = '#667';
    g.fillText(`${n(Math.round(top))} rows/s`, 5, 12);
  }

  function silosPage() {
    document.addEventListener('DOMContentLoaded', () => every(2, async () => {
      const silos = await api('/api/silos');
      fill(document.querySelector('#silos tbody'), silos.map((s) => el('tr', {},
        el('td', {}, s.address), el('td', {}, s.name), el('td', {}, s.host), el('td', {}, s.pid ?? ''), el('td', {}, s.status),
        el('td', {}, s.startedAt), el('td', {}, s.iAmAliveAt), el('td', { class: 'n' }, String(s.unitsInFlight)))));
    }));
  }

  return { home, importPage, silosPage };
})();
