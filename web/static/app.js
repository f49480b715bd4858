// paas dashboard: a small single-page app over the public REST API (/v1).
//
// The API token lives in this tab's sessionStorage and goes out as
// "Authorization: Bearer" on every call; nothing else authenticates.
// Everything that comes from the API is put into the page as text
// (textContent, via h() below), never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'paas.token';
  const POLL_MS = 3000;
  const LOG_LINES = 200;
  const MAX_LOG_LINES = 2000;
  const LOG_POLL_MS = 2000;

  const main = document.getElementById('main');
  const nav = document.getElementById('nav');

  // cleanups run when the page changes: timers, log streams.
  let cleanups = [];
  let pageGen = 0; // counts page changes, so a page that is gone starts no timers
  let me = null; // the signed-in user, from /v1/me

  // --- DOM helpers --------------------------------------------------------

  // h builds an element. attrs: on* are listeners, class sets className,
  // true/false/null toggle boolean attributes, the rest are attributes.
  // Children are nodes or strings (added as text).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of kids.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function replace(el, ...kids) {
    el.replaceChildren();
    for (const c of kids.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty);
    return h('div', { class: 'table-wrap' },
      h('table', {},
        h('thead', {}, h('tr', {}, headers.map((x) => typeof x === 'string' ? h('th', { scope: 'col' }, x) : x))),
        h('tbody', {}, rows)));
  }

  // message shows text in a .msg element: kind is 'error' or 'info'.
  function message(el, text, kind) {
    el.className = 'msg ' + (kind || 'error');
    el.setAttribute('role', kind === 'info' ? 'status' : 'alert');
    el.textContent = text || '';
  }

  function msgBox() {
    const el = h('p', { class: 'msg' });
    return el;
  }

  function ago(when) {
    const t = new Date(when).getTime();
    if (!t) return '';
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const hr = Math.floor(m / 60);
    if (hr < 48) return hr + 'h ' + (m % 60) + 'm';
    return Math.floor(hr / 24) + 'd';
  }

  // timeEl shows how long ago a time was; refreshTimes keeps it current.
  function timeEl(when, bare) {
    if (!when) return '';
    const d = new Date(when);
    return h('time', { datetime: d.toISOString(), title: d.toLocaleString(), 'data-bare': bare ? '1' : null },
      ago(when) + (bare ? '' : ' ago'));
  }

  function refreshTimes() {
    for (const t of main.querySelectorAll('time[datetime]')) {
      t.textContent = ago(t.getAttribute('datetime')) + (t.dataset.bare ? '' : ' ago');
    }
  }

  function badge(text, kind) {
    return h('span', { class: 'badge ' + (kind || '') }, text);
  }

  // confirmButton: the first press arms it, a second press within 5 s acts.
  function confirmButton(label, armedLabel, action, attrs) {
    let timer = null;
    const b = h('button', Object.assign({ type: 'button', class: 'danger' }, attrs || {}), label);
    b.addEventListener('click', async () => {
      if (!b.classList.contains('armed')) {
        b.classList.add('armed');
        b.textContent = armedLabel;
        timer = setTimeout(() => { b.classList.remove('armed'); b.textContent = label; }, 5000);
        return;
      }
      clearTimeout(timer);
      b.classList.remove('armed');
      b.textContent = label;
      b.disabled = true;
      try { await action(); } finally { b.disabled = false; }
    });
    return b;
  }

  // --- API ----------------------------------------------------------------

  class APIError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  function authHeaders(extra) {
    const hd = Object.assign({ Accept: 'application/json' }, extra || {});
    if (token()) hd.Authorization = 'Bearer ' + token();
    return hd;
  }

  async function errorOf(resp) {
    let text = '';
    try { text = await resp.text(); } catch (e) { /* keep the status */ }
    let msg = '';
    try { msg = JSON.parse(text).error || ''; } catch (e) { msg = ''; }
    if (!msg) msg = text.trim() || (resp.status + ' ' + resp.statusText);
    return new APIError(resp.status, msg);
  }

  // api calls the API. A 401 answer means the token no longer works and
  // leads back to the sign-in page, unless signingIn.
  async function api(method, path, body, signingIn) {
    const init = { method, headers: authHeaders(), credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'Cannot reach the paas server. Check your connection and try again.');
    }
    if (!resp.ok) {
      const err = await errorOf(resp);
      if (resp.status === 401 && !signingIn) expired(err.message);
      throw err;
    }
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }

  function appPath(app, ...parts) {
    return '/v1/apps/' + encodeURIComponent(app) + parts.map((p) => '/' + encodeURIComponent(p)).join('');
  }

  // expired: the token no longer works; back to the sign-in page.
  function expired(why) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    renderSignIn('Signed out: ' + why);
  }

  // --- pages --------------------------------------------------------------

  function stopPage() {
    for (const f of cleanups) {
      try { f(); } catch (e) { /* already stopped */ }
    }
    cleanups = [];
  }

  function every(gen, ms, fn) {
    if (gen !== pageGen) return;
    const id = setInterval(fn, ms);
    cleanups.push(() => clearInterval(id));
  }

  // update redraws el with render when data changed. It leaves alone a
  // part where the user is typing (unless force), and gives focus back to
  // the element of the same id after a redraw, so polling never steals it.
  const drawn = new WeakMap();
  function update(el, data, render, force) {
    const key = JSON.stringify(data);
    if (drawn.get(el) === key) return;
    const active = el.contains(document.activeElement) ? document.activeElement : null;
    if (!force && active && (active.tagName === 'INPUT' || active.tagName === 'SELECT' || active.tagName === 'TEXTAREA')) return;
    drawn.set(el, key);
    render();
    if (active && active.id) {
      const again = document.getElementById(active.id);
      if (again) again.focus();
    }
  }

  function renderNav() {
    if (!me) { replace(nav); return; }
    replace(nav,
      h('a', { href: '#/' }, 'Apps'),
      h('span', { class: 'who' }, 'Signed in as ', h('strong', {}, me.name), me.admin ? ' (admin)' : ''),
      h('button', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out'));
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    location.hash = '#/';
    route();
  }

  function renderSignIn(why) {
    stopPage();
    renderNav();
    const err = msgBox();
    const input = h('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, 'aria-describedby': 'token-help',
    });
    const form = h('form', { class: 'card signin', id: 'signin' },
      h('h1', {}, 'Sign in'),
      h('label', { for: 'token' }, 'API token'),
      input,
      h('p', { id: 'token-help', class: 'muted small' },
        'Create a token with ', h('code', {}, 'paas tokens:create'),
        ' (or use the admin token the server wrote on first start). It is kept in this tab only and is forgotten when you close it. ',
        'Signing in with a user name and password is not available yet.'),
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tok = input.value.trim();
      if (!tok) { message(err, 'Enter an API token.'); return; }
      sessionStorage.setItem(TOKEN_KEY, tok);
      try {
        me = await api('GET', '/v1/me', undefined, true);
      } catch (e) {
        sessionStorage.removeItem(TOKEN_KEY);
        message(err, e.status === 401 ? 'This token is not accepted: ' + e.message : e.message);
        input.focus();
        return;
      }
      if (!location.hash.startsWith('#/apps/')) location.hash = '#/';
      route();
    });
    replace(main, form);
    if (why) message(err, why);
    input.focus();
  }

  // appStatus sums up an app from its info and instances.
  function appStatus(info, instances) {
    const cur = info.current_release;
    if (!cur) return ['no release yet', ''];
    if (cur.status === 'pending' || cur.status === 'deploying') return ['deploying', 'warn'];
    if (cur.status === 'failed') return ['failed', 'bad'];
    const desired = (info.formation || []).reduce((n, p) => n + p.quantity, 0);
    const live = instances.filter((i) => i.release === cur.version);
    const healthy = live.filter((i) => i.state === 'running' && i.healthy).length;
    if (instances.some((i) => i.state === 'crashed')) return ['crashed', 'bad'];
    if (desired === 0) return ['scaled to zero', ''];
    if (healthy >= desired) return ['running', 'ok'];
    return ['starting', 'warn'];
  }

  function instanceCounts(info, instances) {
    const healthy = instances.filter((i) => i.state === 'running' && i.healthy).length;
    const desired = (info.formation || []).reduce((n, p) => n + p.quantity, 0);
    return healthy + ' / ' + desired;
  }

  async function renderApps() {
    const gen = pageGen;
    const list = h('div', { id: 'apps' }, h('p', { class: 'muted' }, 'Loading apps…'));
    const err = msgBox();
    const createErr = msgBox();
    const nameInput = h('input', { id: 'new-app', name: 'name', placeholder: 'e.g. shop', autocomplete: 'off', pattern: '[a-z][a-z0-9\\-]{0,29}' });
    const create = h('form', { class: 'row', id: 'create-app' },
      h('div', { class: 'field' }, h('label', { for: 'new-app' }, 'New app name (empty: the server picks one)'), nameInput),
      h('button', { type: 'submit', class: 'primary' }, 'Create app'));
    create.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const body = nameInput.value.trim() ? { name: nameInput.value.trim() } : {};
        const app = await api('POST', '/v1/apps', body);
        location.hash = '#/apps/' + encodeURIComponent(app.name);
      } catch (e) { message(createErr, e.message); }
    });
    replace(main,
      h('h1', {}, 'Apps'),
      h('section', { class: 'card', 'aria-labelledby': 'apps-h' }, h('h2', { id: 'apps-h' }, 'Your apps'), list, err),
      h('section', { class: 'card', 'aria-labelledby': 'create-h' }, h('h2', { id: 'create-h' }, 'Create an app'), create, createErr));

    async function load() {
      let apps;
      try {
        apps = await api('GET', '/v1/apps');
      } catch (e) { message(err, e.message); return; }
      message(err, '');
      const details = await Promise.all(apps.map(async (a) => {
        try {
          const [info, inst] = await Promise.all([api('GET', appPath(a.name)), api('GET', appPath(a.name, 'instances'))]);
          return { info, inst };
        } catch (e) { return { error: e.message }; }
      }));
      const seen = [];
      const rows = apps.map((a, i) => {
        const d = details[i];
        let status = badge('unknown');
        let counts = '';
        let deployed = '';
        if (d.info) {
          const [text, kind] = appStatus(d.info, d.inst);
          status = badge(text, kind);
          counts = instanceCounts(d.info, d.inst);
          deployed = d.info.current_release ? timeEl(d.info.current_release.created_at) : '';
        } else {
          status = badge('error', 'bad');
          status.title = d.error;
        }
        seen.push([a.name, a.release, a.web_url, status.textContent, status.title, counts, deployed && deployed.getAttribute('datetime')]);
        return h('tr', { 'data-app': a.name },
          h('td', {}, h('a', { id: 'app-link-' + a.name, href: '#/apps/' + encodeURIComponent(a.name) }, a.name)),
          h('td', {}, status),
          h('td', {}, a.release ? 'v' + a.release : '—'),
          h('td', { class: 'num', title: 'healthy / desired' }, counts),
          h('td', { class: 'hide-phone' }, a.web_url ? h('a', { id: 'app-url-' + a.name, href: a.web_url, rel: 'noopener noreferrer', target: '_blank' }, a.web_url) : ''),
          h('td', { class: 'hide-phone' }, deployed));
      });
      update(list, seen, () => replace(list, table(['App', 'Status', 'Release', h('th', { scope: 'col', class: 'num' }, 'Instances'),
        h('th', { scope: 'col', class: 'hide-phone' }, 'URL'), h('th', { scope: 'col', class: 'hide-phone' }, 'Deployed')],
      rows, 'No apps yet. Create one below, or with paas apps:create.')));
    }
    await load();
    every(gen, POLL_MS * 2, load);
    every(gen, POLL_MS, refreshTimes);
  }

  // --- the app page ---------------------------------------------------------

  async function renderApp(name) {
    const gen = pageGen;
    const title = h('h1', { id: 'app-name' }, name);
    const status = h('span', { id: 'app-status' });
    const summary = h('dl', { class: 'summary', id: 'app-summary' });
    const remote = h('div', { class: 'remote' });
    const topErr = msgBox();

    const sections = {};
    function section(id, heading, wide) {
      const body = h('div', { id: id + '-body' }, h('p', { class: 'muted' }, 'Loading…'));
      const msg = msgBox();
      const el = h('section', { class: 'card' + (wide ? ' wide' : ''), id, 'aria-labelledby': id + '-h' },
        h('h2', { id: id + '-h' }, heading), body, msg);
      sections[id] = { el, body, msg };
      return el;
    }

    replace(main,
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All apps')),
      h('div', { class: 'card' },
        h('div', { class: 'summary' }, title, status),
        summary, remote, topErr),
      h('div', { class: 'grid' },
        section('formation', 'Formation'),
        section('instances', 'Instances'),
        section('releases', 'Releases', true),
        section('config', 'Config vars', true),
        section('domains', 'Domains'),
        section('danger', 'Destroy'),
        section('logs', 'Logs', true)));
    main.focus();

    let info = null;
    let instances = [];

    async function loadInfo(force) {
      try {
        [info, instances] = await Promise.all([api('GET', appPath(name)), api('GET', appPath(name, 'instances'))]);
      } catch (e) {
        message(topErr, e.status === 404 ? 'There is no app called ' + name + ' (or you may not see it): ' + e.message : e.message);
        return false;
      }
      message(topErr, '');
      const [text, kind] = appStatus(info, instances);
      replace(status, badge(text, kind));
      const cur = info.current_release;
      update(summary, [info, instances.map((i) => [i.state, i.healthy, i.release])], () => replace(summary,
        h('div', {}, h('dt', {}, 'Release'), h('dd', { id: 'app-release' }, cur ? 'v' + cur.version + ' ' + cur.description : 'none yet: git push to deploy')),
        h('div', {}, h('dt', {}, 'Instances (healthy / desired)'), h('dd', { id: 'app-counts' }, instanceCounts(info, instances))),
        h('div', {}, h('dt', {}, 'URL'), h('dd', {}, info.web_url ? h('a', { id: 'app-url', href: info.web_url, rel: 'noopener noreferrer', target: '_blank' }, info.web_url) : '—')),
        h('div', {}, h('dt', {}, 'Owner'), h('dd', {}, info.owner))), force);
      const line = 'git remote add paas ' + info.git_url;
      const copyBtn = h('button', { type: 'button', id: 'copy-remote' }, 'Copy');
      const code = h('code', { id: 'git-remote', tabindex: '0' }, line);
      copyBtn.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(line);
          copyBtn.textContent = 'Copied';
        } catch (e) {
          window.getSelection().selectAllChildren(code);
          copyBtn.textContent = 'Selected: press Ctrl+C';
        }
        setTimeout(() => { copyBtn.textContent = 'Copy'; }, 2500);
      });
      if (!remote.firstChild || remote.querySelector('code').textContent !== line) {
        replace(remote, h('span', { class: 'muted small' }, 'Git remote'), code, copyBtn);
      }
      update(sections.formation.body, info.formation, renderFormation, force);
      update(sections.instances.body, instances.map((i) => [i.name, i.state, i.healthy, i.restarts, i.release, i.created]), renderInstances, force);
      return true;
    }

    // Formation: one row per process type, each with its own scale form.
    function renderFormation() {
      const s = sections.formation;
      const procs = info.formation || [];
      const rows = procs.map((p) => {
        const q = h('input', {
          id: 'scale-' + p.type, type: 'number', min: 0, max: 100, step: 1, value: p.quantity, required: true,
          'aria-label': 'Instances of ' + p.type,
        });
        const form = h('form', { class: 'inline', 'data-type': p.type },
          q, h('button', { type: 'submit', id: 'scale-' + p.type + '-btn' }, 'Scale'));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const n = Number(q.value);
          if (!Number.isInteger(n) || n < 0) { message(s.msg, 'Give a whole number of instances, 0 or more.'); return; }
          try {
            await api('PATCH', appPath(name, 'formation'), [{ type: p.type, quantity: n }]);
            message(s.msg, 'Scaled ' + p.type + ' to ' + n + '.', 'info');
            await loadInfo(true);
          } catch (e) { message(s.msg, e.message); }
        });
        return h('tr', {},
          h('th', { scope: 'row' }, p.type),
          h('td', { class: 'mono small hide-phone' }, p.command || ''),
          h('td', {}, form),
          h('td', { class: 'small muted hide-phone' }, limits(p)));
      });
      replace(s.body, table(['Type', h('th', { scope: 'col', class: 'hide-phone' }, 'Command'), 'Instances',
        h('th', { scope: 'col', class: 'hide-phone' }, 'Limits')], rows,
      'No process types yet: they come with the first release (Procfile or image command).'));
    }

    function limits(p) {
      const mem = p.memory ? Math.round(p.memory / 1048576) + ' MiB' : 'default memory';
      const cpu = p.cpu ? p.cpu + 'm CPU' : 'default CPU';
      return mem + ', ' + cpu;
    }

    function renderInstances() {
      const s = sections.instances;
      const rows = instances.map((i) => h('tr', {},
        h('th', { scope: 'row' }, i.name),
        h('td', {}, badge(i.state, i.state === 'running' ? 'ok' : i.state === 'crashed' ? 'bad' : 'warn')),
        h('td', {}, i.state === 'running' ? badge(i.healthy ? 'healthy' : 'unhealthy', i.healthy ? 'ok' : 'bad') : '—'),
        h('td', { class: 'num' }, i.restarts),
        h('td', {}, timeEl(i.created, true)),
        h('td', { class: 'hide-phone' }, 'v' + i.release)));
      replace(s.body, table(['Name', 'State', 'Health', h('th', { scope: 'col', class: 'num' }, 'Restarts'), 'Age',
        h('th', { scope: 'col', class: 'hide-phone' }, 'Release')], rows, 'No instances running.'));
    }

    async function loadReleases(force) {
      const s = sections.releases;
      let rels;
      try { rels = await api('GET', appPath(name, 'releases')); } catch (e) { message(s.msg, e.message); return; }
      const current = info && info.current_release ? info.current_release.version : 0;
      update(s.body, [current, rels.map((r) => [r.version, r.status])], () => drawReleases(rels, current), force);
    }
    function drawReleases(rels, current) {
      const s = sections.releases;
      const rows = rels.map((r) => {
        let kind = '';
        if (r.status === 'succeeded') kind = 'ok';
        else if (r.status === 'failed') kind = 'bad';
        else kind = 'warn';
        const st = badge(r.version === current ? 'current' : r.status, r.version === current ? 'ok' : kind);
        if (r.reason) st.title = r.reason;
        const canRollback = r.version !== current && r.status !== 'failed';
        return h('tr', { 'data-version': r.version },
          h('th', { scope: 'row' }, 'v' + r.version),
          h('td', {}, st),
          h('td', { class: 'value' }, r.description, r.reason ? h('div', { class: 'small muted' }, r.reason) : ''),
          h('td', { class: 'hide-phone' }, r.created_by),
          h('td', { class: 'hide-phone' }, timeEl(r.created_at)),
          h('td', { class: 'actions' }, canRollback ? confirmButton('Roll back', 'Confirm: back to v' + r.version, async () => {
            try {
              const nr = await api('POST', appPath(name, 'rollback'), { version: r.version });
              message(s.msg, 'Rolled back to v' + r.version + ' (its image and config): release v' + nr.version + ' is rolling out.', 'info');
              await Promise.all([loadInfo(true), loadConfig()]);
              await loadReleases(true);
            } catch (e) { message(s.msg, e.message); }
          }, { id: 'rollback-v' + r.version, 'aria-label': 'Roll back to v' + r.version }) : ''));
      });
      replace(s.body, table(['Version', 'Status', 'Description', h('th', { scope: 'col', class: 'hide-phone' }, 'By'),
        h('th', { scope: 'col', class: 'hide-phone' }, 'When'), h('th', { scope: 'col' }, h('span', { class: 'muted' }, ''))],
      rows.slice(0, 30), 'No releases yet: git push to deploy.'));
    }

    // Config vars: values hidden until revealed.
    const revealed = new Set();
    let config = {};
    async function loadConfig() {
      const s = sections.config;
      try { config = await api('GET', appPath(name, 'config')) || {}; } catch (e) { message(s.msg, e.message); return; }
      message(s.msg, '');
      renderConfig();
    }
    const keyInput = h('input', { id: 'config-key', name: 'key', autocomplete: 'off', spellcheck: 'false', placeholder: 'KEY', required: true });
    const valInput = h('input', { id: 'config-value', name: 'value', autocomplete: 'off', spellcheck: 'false', placeholder: 'value' });
    const configForm = h('form', { class: 'row', id: 'config-form' },
      h('div', { class: 'field' }, h('label', { for: 'config-key' }, 'Key'), keyInput),
      h('div', { class: 'field' }, h('label', { for: 'config-value' }, 'Value'), valInput),
      h('button', { type: 'submit', class: 'primary', id: 'config-set' }, 'Set'));
    configForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const key = keyInput.value.trim();
      if (!key) { message(sections.config.msg, 'Give the variable a name.'); return; }
      await changeConfig({ [key]: valInput.value }, 'Set ' + key);
      keyInput.value = '';
      valInput.value = '';
    });
    async function changeConfig(vars, what) {
      const s = sections.config;
      try {
        const cc = await api('PATCH', appPath(name, 'config'), vars);
        config = cc.config || {};
        let text = cc.changed ? what + '.' : 'Nothing changed.';
        if (cc.release) text += ' Release v' + cc.release.version + ' is rolling out.';
        message(s.msg, text, 'info');
        renderConfig();
        await loadInfo(true);
        await loadReleases(true);
      } catch (e) { message(s.msg, e.message); }
    }
    function renderConfig() {
      const s = sections.config;
      const keys = Object.keys(config).sort();
      const rows = keys.map((k) => {
        const shown = revealed.has(k);
        const reveal = h('button', { type: 'button', class: 'link', 'aria-pressed': String(shown), 'aria-label': (shown ? 'Hide ' : 'Reveal ') + k },
          shown ? 'Hide' : 'Reveal');
        reveal.addEventListener('click', () => {
          if (revealed.has(k)) revealed.delete(k); else revealed.add(k);
          renderConfig();
          const again = sections.config.body.querySelector('tr[data-key="' + CSS.escape(k) + '"] button.link');
          if (again) again.focus();
        });
        const edit = h('button', { type: 'button', 'aria-label': 'Edit ' + k }, 'Edit');
        edit.addEventListener('click', () => {
          keyInput.value = k;
          valInput.value = config[k];
          valInput.focus();
          valInput.select();
        });
        return h('tr', { 'data-key': k },
          h('th', { scope: 'row', class: 'mono' }, k),
          h('td', { class: 'mono value' }, shown ? config[k] : h('span', { class: 'muted', 'aria-label': 'hidden value' }, '••••••••'), ' ', reveal),
          h('td', { class: 'actions' }, edit, ' ',
            confirmButton('Remove', 'Confirm remove', () => changeConfig({ [k]: null }, 'Removed ' + k), { 'aria-label': 'Remove ' + k })));
      });
      replace(s.body, table(['Key', 'Value', h('th', { scope: 'col' }, h('span', { class: 'muted' }, ''))], rows,
        'No config vars.'), configForm);
    }

    // Domains.
    async function loadDomains() {
      const s = sections.domains;
      let ds;
      try { ds = await api('GET', appPath(name, 'domains')); } catch (e) { message(s.msg, e.message); return; }
      const input = h('input', { id: 'domain-name', name: 'domain', autocomplete: 'off', spellcheck: 'false', placeholder: 'shop.example.com', required: true });
      const form = h('form', { class: 'row', id: 'domain-form' },
        h('div', { class: 'field' }, h('label', { for: 'domain-name' }, 'Add a domain'), input),
        h('button', { type: 'submit' }, 'Add'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          const d = await api('POST', appPath(name, 'domains'), { name: input.value.trim() });
          message(s.msg, 'Added ' + d.name + '.', 'info');
          await loadDomains();
          s.body.querySelector('#domain-name').focus();
        } catch (e) { message(s.msg, e.message); }
      });
      const rows = ds.map((d) => h('tr', {},
        h('td', { class: 'value' }, d.name),
        h('td', { class: 'actions' }, confirmButton('Remove', 'Confirm remove', async () => {
          try {
            await api('DELETE', appPath(name, 'domains', d.name));
            message(s.msg, 'Removed ' + d.name + '.', 'info');
            await loadDomains();
          } catch (e) { message(s.msg, e.message); }
        }, { 'aria-label': 'Remove ' + d.name }))));
      replace(s.body,
        info && info.web_url ? h('p', { class: 'small muted' }, 'Default: ', info.web_url) : '',
        table(['Domain', h('th', { scope: 'col' }, '')], rows, 'No custom domains.'), form);
    }

    function renderDanger() {
      const s = sections.danger;
      const input = h('input', { id: 'destroy-confirm', autocomplete: 'off', spellcheck: 'false' });
      const form = h('form', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'destroy-confirm' }, 'Type ' + name + ' to destroy this app, its releases, config and domains'), input),
        h('button', { type: 'submit', class: 'danger' }, 'Destroy app'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        if (input.value !== name) { message(s.msg, 'Type the app name, ' + name + ', exactly.'); return; }
        try {
          await api('DELETE', appPath(name));
          location.hash = '#/';
        } catch (e) { message(s.msg, e.message); }
      });
      replace(s.body, form);
    }

    // Logs: the last lines, and a live view that asks for them again every
    // LOG_POLL_MS and appends what is new. (Reading the streamed answer of
    // ?follow=1 would be nicer; the API does not flush that stream yet.)
    function renderLogs() {
      const s = sections.logs;
      const pre = h('pre', { class: 'logs', id: 'log-lines', tabindex: '0', 'aria-label': 'Log lines' });
      const ps = h('select', { id: 'logs-ps', 'aria-label': 'Process' }, h('option', { value: '' }, 'all processes'),
        (info ? info.formation || [] : []).map((p) => h('option', { value: p.type }, p.type)));
      const refresh = h('button', { type: 'button', id: 'logs-refresh' }, 'Refresh');
      const live = h('button', { type: 'button', id: 'logs-live', 'aria-pressed': 'false' }, 'Follow live');
      const state = h('span', { class: 'small muted', id: 'logs-state', role: 'status' });
      let shown = []; // the lines in pre, oldest first
      let timer = null;
      let busy = false;

      function following() { return timer !== null; }
      function stop() {
        clearInterval(timer);
        timer = null;
        live.setAttribute('aria-pressed', 'false');
        live.textContent = 'Follow live';
      }
      // show puts the latest lines in pre, appending to what is there when
      // the two overlap, so that scrolling back is not disturbed.
      function show(lines) {
        const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
        let from = -1;
        if (shown.length) {
          const last = shown[shown.length - 1];
          for (let i = lines.length - 1; i >= 0; i--) {
            if (lines[i] === last) { from = i + 1; break; }
          }
        }
        if (from < 0) {
          pre.replaceChildren();
          shown = [];
          from = 0;
        }
        for (const l of lines.slice(from)) {
          pre.append(l + '\n');
          shown.push(l);
        }
        while (shown.length > MAX_LOG_LINES) { shown.shift(); pre.firstChild.remove(); }
        if (!shown.length) pre.replaceChildren(h('span', { class: 'muted' }, 'No log lines yet.'));
        if (atBottom || from === 0) pre.scrollTop = pre.scrollHeight;
      }
      async function load(reset) {
        if (busy) return;
        busy = true;
        if (reset) shown = [];
        const q = new URLSearchParams({ lines: String(LOG_LINES) });
        if (ps.value) q.set('ps', ps.value);
        try {
          const resp = await fetch(appPath(name, 'logs') + '?' + q, { headers: authHeaders(), credentials: 'omit', cache: 'no-store' });
          if (!resp.ok) {
            const e = await errorOf(resp);
            if (resp.status === 401) expired(e.message);
            throw e;
          }
          const text = await resp.text();
          show(text.split('\n').filter((l) => l !== ''));
          message(s.msg, '');
          state.textContent = following() ? 'following: updated ' + new Date().toLocaleTimeString() : '';
        } catch (e) {
          message(s.msg, e instanceof APIError ? e.message : 'Cannot load the logs: ' + e.message);
        } finally {
          busy = false;
        }
      }
      refresh.addEventListener('click', () => load(true));
      live.addEventListener('click', () => {
        if (following()) { stop(); state.textContent = ''; return; }
        timer = setInterval(() => load(false), LOG_POLL_MS);
        live.setAttribute('aria-pressed', 'true');
        live.textContent = 'Stop following';
        state.textContent = 'following…';
        load(false);
      });
      ps.addEventListener('change', () => load(true));
      cleanups.push(stop);
      replace(s.body, h('div', { class: 'logbar' }, ps, refresh, live, state), pre);
      load(true);
    }

    if (!await loadInfo()) return;
    renderDanger();
    renderLogs();
    await Promise.all([loadReleases(), loadConfig(), loadDomains()]);
    every(gen, POLL_MS, async () => {
      if (await loadInfo()) await loadReleases();
      refreshTimes();
    });
  }

  // --- routing --------------------------------------------------------------

  async function route() {
    stopPage();
    pageGen++;
    if (!token()) { renderSignIn(); return; }
    if (!me) {
      try {
        me = await api('GET', '/v1/me');
      } catch (e) {
        if (e.status !== 401) renderSignIn(e.message);
        return;
      }
    }
    renderNav();
    const m = (location.hash || '#/').match(/^#\/apps\/([^/]+)$/);
    if (m) {
      await renderApp(decodeURIComponent(m[1]));
      return;
    }
    await renderApps();
  }

  window.addEventListener('hashchange', route);
  route();
})();
