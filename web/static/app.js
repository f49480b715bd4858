// paas dashboard: a small single-page app over the public REST API (/v1).
//
// It runs on a session: the browser signs in once (POST /v1/sessions, with
// a user name and password or an API token) and gets an HttpOnly session
// cookie that script cannot read. Every call that changes something also
// sends the session's CSRF token in the X-CSRF-Token header; the token is
// kept in memory only. Everything that comes from the API is put into the
// page as text (textContent, via h() below), never as HTML.
'use strict';

(() => {
  const POLL_MS = 3000;
  const LOG_LINES = 200;
  const MAX_LOG_LINES = 2000;

  const main = document.getElementById('main');
  const nav = document.getElementById('nav');

  // cleanups run when the page changes: timers, log streams.
  let cleanups = [];
  let pageGen = 0; // counts page changes, so a page that is gone starts no timers
  let me = null; // the signed-in user
  let csrf = ''; // the session's CSRF token

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

  // pairs of [element, row builder] and small widgets shared by pages.
  function field(id, label, input) {
    return h('div', { class: 'field' }, h('label', { for: id }, label), input);
  }

  function section(id, heading, wide) {
    const body = h('div', { id: id + '-body' }, h('p', { class: 'muted' }, 'Loading…'));
    const msg = msgBox();
    const el = h('section', { class: 'card' + (wide ? ' wide' : ''), id, 'aria-labelledby': id + '-h' },
      h('h2', { id: id + '-h' }, heading), body, msg);
    return { el, body, msg };
  }

  // --- API ----------------------------------------------------------------

  class APIError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  // plain turns an API error answer into words a person can act on.
  function plain(status, msg) {
    if (status === 429) return msg || 'Too many attempts: wait a little and try again.';
    if (status >= 500 && !msg) return 'The server had a problem (' + status + '). Try again; if it persists, the server log says why.';
    if (status === 502 || status === 503 || status === 504) return 'The paas server is not answering right now (' + status + '). Try again in a moment.';
    return msg || ('The server answered ' + status + '.');
  }

  async function errorOf(resp) {
    let text = '';
    try { text = await resp.text(); } catch (e) { /* keep the status */ }
    let msg = '';
    try { msg = JSON.parse(text).error || ''; } catch (e) { msg = ''; }
    if (!msg && !/^\s*</.test(text)) msg = text.trim().slice(0, 300);
    const m = msg ? msg.charAt(0).toUpperCase() + msg.slice(1) : '';
    return new APIError(resp.status, plain(resp.status, m));
  }

  // request makes a call with the session cookie (and the CSRF token for
  // anything but GET). A 401 answer means the session has ended: back to
  // the sign-in page, unless quiet.
  async function request(method, path, body, opts) {
    opts = opts || {};
    const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store', signal: opts.signal };
    if (method !== 'GET' && method !== 'HEAD') init.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new APIError(0, 'Cannot reach the paas server. Check your connection and try again.');
    }
    if (!resp.ok) {
      const err = await errorOf(resp);
      if (resp.status === 401 && !opts.quiet) toSignIn();
      throw err;
    }
    return resp;
  }

  async function api(method, path, body, opts) {
    const resp = await request(method, path, body, opts);
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }

  function appPath(app, ...parts) {
    return '/v1/apps/' + encodeURIComponent(app) + parts.map((p) => '/' + encodeURIComponent(p)).join('');
  }

  // toSignIn leaves for the sign-in page, keeping the place to come back to.
  function toSignIn() {
    stopPage();
    location.replace('/signin' + location.hash);
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
    const here = location.hash || '#/';
    const link = (href, text, id) => h('a', { href, id, 'aria-current': (href === '#/' ? here === '#/' || here.startsWith('#/apps') : here.startsWith(href)) ? 'page' : null }, text);
    replace(nav,
      link('#/', 'Apps', 'nav-apps'),
      link('#/account', 'Account', 'nav-account'),
      me.admin ? link('#/admin', 'Admin', 'nav-admin') : '',
      h('span', { class: 'who' }, h('strong', {}, me.name), me.admin ? ' (admin)' : ''),
      h('button', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out'));
  }

  async function signOut() {
    try {
      await api('DELETE', '/v1/sessions/current', undefined, { quiet: true });
    } catch (e) {
      if (e.status !== 401) { alertTop('Could not sign out: ' + e.message); return; }
    }
    me = null;
    csrf = '';
    stopPage();
    location.replace('/signin');
  }

  function alertTop(text) {
    const m = msgBox();
    main.prepend(m);
    message(m, text);
  }

  // --- sign in ------------------------------------------------------------

  function renderSignIn(why) {
    stopPage();
    renderNav();
    const err = msgBox();
    let useToken = false;
    const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none', required: true });
    const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const tok = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help' });
    const pwFields = h('div', { id: 'password-fields' }, field('username', 'User name', user), field('password', 'Password', pass));
    const tokFields = h('div', { id: 'token-fields', hidden: true }, field('token', 'API token', tok),
      h('p', { id: 'token-help', class: 'muted small' },
        'Make one with ', h('code', {}, 'paas tokens:create'), ', or use the admin token the server printed on its first start. ',
        'It is sent once to start a session and is not kept in the browser.'));
    const toggle = h('button', { type: 'button', class: 'link', id: 'signin-mode', 'aria-controls': 'password-fields token-fields' }, 'Use an API token instead');
    toggle.addEventListener('click', () => {
      useToken = !useToken;
      pwFields.hidden = useToken;
      tokFields.hidden = !useToken;
      user.required = pass.required = !useToken;
      tok.required = useToken;
      toggle.textContent = useToken ? 'Use a user name and password instead' : 'Use an API token instead';
      message(err, '');
      (useToken ? tok : user).focus();
    });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
    const form = h('form', { class: 'card signin', id: 'signin' },
      h('h1', {}, 'Sign in to paas'),
      pwFields, tokFields,
      h('div', { class: 'signin-actions' }, submit, toggle),
      err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = useToken ? { token: tok.value.trim() } : { username: user.value.trim(), password: pass.value };
      if (useToken ? !body.token : !body.username || !body.password) {
        message(err, useToken ? 'Enter an API token.' : 'Enter your user name and password.');
        return;
      }
      submit.disabled = true;
      try {
        await api('POST', '/v1/sessions', body, { quiet: true });
      } catch (e) {
        message(err, e.status === 401 ? (useToken ? 'This API token is not accepted: it is unknown or revoked.' : 'Wrong user name or password.') : e.message);
        pass.value = '';
        (useToken ? tok : pass.value === '' && user.value ? pass : user).focus();
        return;
      } finally {
        submit.disabled = false;
      }
      location.replace('/' + (location.hash || '#/'));
    });
    replace(main, form);
    if (why) message(err, why);
    user.focus();
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
        section('activity', 'Deploy activity', true),
        section('metrics', 'Requests, last hour', true),
        section('releases', 'Releases', true),
        section('config', 'Config vars', true),
        section('logs', 'Logs', true),
        section('builds', 'Builds', true),
        section('health', 'Health checks', true),
        section('domains', 'Domains'),
        section('danger', 'Destroy')));
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
          h('td', { class: 'mono small hide-phone' }, h('div', { class: 'cmd', title: p.command || '' }, p.command || '')),
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
        // The live release is the newest that rolled out; a newer one (the
        // current, desired release) may still be deploying; an older one
        // that never finished was superseded.
        const live = (rels.find((x) => x.status === 'succeeded') || {}).version || 0;
        let text = r.status, kind = '';
        if (r.version === live) { text = 'live'; kind = 'ok'; }
        else if (r.status === 'failed') kind = 'bad';
        else if (r.status === 'succeeded') { text = 'was live'; kind = ''; }
        else if (r.version === current) kind = 'warn';
        else text = 'superseded';
        const st = badge(text, kind);
        if (r.reason) st.title = r.reason;
        const canRollback = r.version !== current && r.status !== 'failed';
        return h('tr', { 'data-version': r.version },
          h('th', { scope: 'row' }, 'v' + r.version),
          h('td', {}, st),
          h('td', { class: 'value' }, r.description, r.reason ? h('div', { class: 'small muted' }, r.reason) : ''),
          h('td', { class: 'hide-phone' }, r.created_by),
          h('td', { class: 'hide-phone' }, timeEl(r.created_at)),
          h('td', { class: 'actions' }, h('button', {
            type: 'button', id: 'diff-v' + r.version, 'aria-expanded': String(openDiffs.has(r.version)),
            'aria-controls': 'diffrow-v' + r.version, 'aria-label': 'Config changes in v' + r.version,
            onclick: () => toggleDiff(r.version),
          }, 'Changes'), ' ', canRollback ? confirmButton('Roll back', 'Confirm: back to v' + r.version, async () => {
            try {
              const nr = await api('POST', appPath(name, 'rollback'), { version: r.version });
              message(s.msg, 'Rolled back to v' + r.version + ' (its image and config): release v' + nr.version + ' is rolling out.', 'info');
              await Promise.all([loadInfo(true), loadConfig()]);
              await loadReleases(true);
            } catch (e) { message(s.msg, e.message); }
          }, { id: 'rollback-v' + r.version, 'aria-label': 'Roll back to v' + r.version }) : ''));
      });
      const withDiffs = [];
      for (const row of rows.slice(0, 30)) {
        withDiffs.push(row);
        const v = Number(row.dataset.version);
        if (openDiffs.has(v)) withDiffs.push(h('tr', { class: 'diffrow', id: 'diffrow-v' + v }, h('td', { colspan: '6' }, openDiffs.get(v))));
      }
      replace(s.body, table(['Version', 'Status', 'Description', h('th', { scope: 'col', class: 'hide-phone' }, 'By'),
        h('th', { scope: 'col', class: 'hide-phone' }, 'When'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))],
      withDiffs, 'No releases yet: git push to deploy.'));
      lastRels = rels;
    }

    // Config diffs between a release and the one before it; values stay
    // hidden until revealed.
    const openDiffs = new Map(); // version → element
    let lastRels = [];
    async function toggleDiff(v) {
      if (openDiffs.has(v)) {
        openDiffs.delete(v);
      } else {
        const box = h('div', { class: 'diff' }, h('p', { class: 'muted small' }, 'Loading…'));
        openDiffs.set(v, box);
        loadDiff(v, box);
      }
      const current = info && info.current_release ? info.current_release.version : 0;
      drawReleases(lastRels, current);
      const b = document.getElementById('diff-v' + v);
      if (b) b.focus();
    }
    async function loadDiff(v, box) {
      let cur, prev = null;
      try {
        cur = await api('GET', appPath(name, 'releases', 'v' + v));
        if (v > 1) prev = await api('GET', appPath(name, 'releases', 'v' + (v - 1))).catch((e) => { if (e.status === 404) return null; throw e; });
      } catch (e) { replace(box, h('p', { class: 'msg error' }, e.message)); return; }
      const a = (prev && prev.config) || {};
      const b = cur.config || {};
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      const changes = [];
      for (const k of keys) {
        if (!(k in a)) changes.push(['added', k, undefined, b[k]]);
        else if (!(k in b)) changes.push(['removed', k, a[k], undefined]);
        else if (a[k] !== b[k]) changes.push(['changed', k, a[k], b[k]]);
      }
      let shown = false;
      const hidden = () => h('span', { class: 'muted', 'aria-label': 'hidden value' }, '••••••');
      const list = h('div');
      const draw = () => replace(list, changes.length ? h('ul', { class: 'changes' }, changes.map(([kind, k, old, nu]) => h('li', { class: kind },
        badge(kind, kind === 'added' ? 'ok' : kind === 'removed' ? 'bad' : 'warn'), ' ', h('code', {}, k),
        kind !== 'added' ? [' ', h('span', { class: 'small muted' }, 'was '), h('code', { class: 'value' }, shown ? old : hidden())] : '',
        kind !== 'removed' ? [' ', h('span', { class: 'small muted' }, kind === 'added' ? '= ' : 'now '), h('code', { class: 'value' }, shown ? nu : hidden())] : '')))
        : h('p', { class: 'small muted' }, prev || v === 1 ? 'No config changes from v' + (v - 1) + '.' : 'No config changes.'));
      const reveal = h('button', { type: 'button', class: 'link', 'aria-pressed': 'false' }, 'Reveal values');
      reveal.addEventListener('click', () => {
        shown = !shown;
        reveal.setAttribute('aria-pressed', String(shown));
        reveal.textContent = shown ? 'Hide values' : 'Reveal values';
        draw();
      });
      draw();
      replace(box, h('p', { class: 'small' }, 'Config in v' + v + (v > 1 ? ' against v' + (v - 1) : '') + ' · image ', h('code', {}, cur.image), ' ', changes.length ? reveal : ''), list);
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

    // Deploy activity: the platform's events for the app (builds,
    // instances starting and passing health checks, releases going live),
    // newest first, and the output of a build in progress.
    let runningBuild = 0;
    async function loadActivity() {
      const s = sections.activity;
      let evs;
      try { evs = await api('GET', appPath(name, 'events')); } catch (e) { message(s.msg, e.message); return; }
      message(s.msg, '');
      const recent = evs.slice(-12).reverse();
      const cur = info && info.current_release;
      const deploying = cur && (cur.status === 'pending' || cur.status === 'deploying');
      update(s.body, [recent, deploying && cur.version, runningBuild], () => replace(s.body,
        deploying ? h('p', { class: 'deploying', id: 'deploying', role: 'status' }, badge('deploying', 'warn'), ' v' + cur.version + ' is rolling out: new instances start, pass their health check, then take traffic from the old ones.') : '',
        runningBuild ? h('p', { class: 'deploying' }, badge('building', 'warn'), ' build ' + runningBuild + ' is running: its output is under Builds.') : '',
        recent.length ? h('ol', { class: 'events', id: 'events' }, recent.map((e) => h('li', {}, h('span', { class: 'muted small' }, timeEl(e.time)), ' ', e.message)))
          : h('p', { class: 'muted' }, 'Nothing has happened lately.')));
    }

    // Request metrics from the router: small charts of the last hour.
    async function loadMetrics() {
      const s = sections.metrics;
      let m;
      try { m = await api('GET', appPath(name, 'metrics')); } catch (e) {
        replace(s.body, h('p', { class: 'muted' }, e.message));
        return;
      }
      const mins = m.minutes || [];
      const total = mins.reduce((n, x) => n + x.requests, 0);
      update(s.body, mins, () => {
        const last = [...mins].reverse().find((x) => x.requests > 0);
        const classes = ['2xx', '3xx', '4xx', '5xx'];
        const sum = (c) => mins.reduce((n, x) => n + ((x.status || {})[c] || 0), 0);
        replace(s.body,
          h('div', { class: 'charts' },
            chart('Requests per second', mins.map((x) => [x.requests / 60]), ['c-req'], (v) => v.toFixed(v < 10 ? 2 : 0) + '/s', 'chart-rps'),
            chart('Status classes (per minute)', mins.map((x) => classes.map((c) => (x.status || {})[c] || 0)), ['c-2xx', 'c-3xx', 'c-4xx', 'c-5xx'], (v) => String(Math.round(v)), 'chart-status', true),
            chart('p95 latency', mins.map((x) => [x.p95_ms]), ['c-p95'], (v) => v < 1000 ? v.toFixed(v < 10 ? 1 : 0) + ' ms' : (v / 1000).toFixed(1) + ' s', 'chart-p95')),
          h('p', { class: 'small muted', id: 'metrics-summary' },
            total ? total + ' requests in the last hour: ' + classes.map((c) => sum(c) + ' ' + c).join(', ') +
              (last ? '; p95 ' + last.p95_ms.toFixed(1) + ' ms in the last busy minute.' : '') : 'No requests in the last hour.'));
      });
    }

    // Builds: history, and the full output of one.
    let openBuild = 0;
    let newestAtLoad = -1; // the newest build when the page opened
    const closedBuilds = new Set(); // builds whose output the user closed
    const buildLog = h('pre', { class: 'logs buildlog', id: 'build-log', tabindex: '0', 'aria-label': 'Build output', hidden: true });
    async function loadBuilds() {
      const s = sections.builds;
      let bs;
      try { bs = await api('GET', appPath(name, 'builds')); } catch (e) { message(s.msg, e.message); return; }
      runningBuild = (bs.find((b) => b.status === 'running') || {}).id || 0;
      if (newestAtLoad < 0) newestAtLoad = bs.reduce((m, b) => Math.max(m, b.id), 0);
      // A push in progress, or one made since the page opened (a quick build
      // may be over between two polls): show its output as it comes, unless
      // closed.
      const fresh = bs.find((b) => b.id > newestAtLoad && (b.status === 'running' || Date.now() - new Date(b.finished_at) < 120000));
      const push = runningBuild || (fresh ? fresh.id : 0);
      if (push && !openBuild && !closedBuilds.has(push)) {
        openBuild = push;
        loadBuildLog();
      }
      update(s.body, [bs.map((b) => [b.id, b.status]), openBuild], () => {
        const rows = bs.slice(0, 20).map((b) => h('tr', { 'data-build': b.id },
          h('th', { scope: 'row' }, String(b.id)),
          h('td', { class: 'mono hide-phone' }, (b.rev || '').slice(0, 7)),
          h('td', {}, badge(b.status, b.status === 'succeeded' ? 'ok' : b.status === 'failed' ? 'bad' : 'warn')),
          h('td', { class: 'hide-phone' }, b.created_by),
          h('td', {}, timeEl(b.created_at)),
          h('td', { class: 'hide-phone num' }, b.finished_at ? Math.round((new Date(b.finished_at) - new Date(b.created_at)) / 1000) + ' s' : '—'),
          h('td', { class: 'actions' }, h('button', {
            type: 'button', id: 'build-log-' + b.id, 'aria-expanded': String(openBuild === b.id), 'aria-controls': 'build-log',
            onclick: () => {
              if (openBuild === b.id) closedBuilds.add(b.id);
              openBuild = openBuild === b.id ? 0 : b.id;
              loadBuilds();
              loadBuildLog();
            },
          }, openBuild === b.id ? 'Close' : 'Output'))));
        replace(s.body, table(['Build', h('th', { scope: 'col', class: 'hide-phone' }, 'Commit'), 'Status', h('th', { scope: 'col', class: 'hide-phone' }, 'By'), 'Started',
          h('th', { scope: 'col', class: 'hide-phone num' }, 'Took'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))],
        rows, 'No builds yet: git push to build and deploy.'), buildLog);
      }, true);
      // The open build's output grows while it runs, and after: the push's
      // rollout is written to it too. Read it again until two minutes after.
      const open = bs.find((b) => b.id === openBuild);
      if (open && (open.status === 'running' || Date.now() - new Date(open.finished_at) < 120000)) loadBuildLog();
    }
    async function loadBuildLog() {
      buildLog.hidden = !openBuild;
      if (!openBuild) return;
      try {
        const resp = await request('GET', appPath(name, 'builds', String(openBuild), 'log'));
        const text = await resp.text();
        const atBottom = buildLog.scrollHeight - buildLog.scrollTop - buildLog.clientHeight < 24;
        const fresh = buildLog.dataset.build !== String(openBuild);
        buildLog.dataset.build = String(openBuild);
        if (buildLog.textContent !== text) buildLog.textContent = text || '(no output yet)';
        if (atBottom || fresh) buildLog.scrollTop = buildLog.scrollHeight;
      } catch (e) { buildLog.textContent = e.message; }
    }

    // Health checks per process type.
    async function loadHealth() {
      const s = sections.health;
      let hcs;
      try { hcs = await api('GET', appPath(name, 'healthchecks')); } catch (e) { message(s.msg, e.message); return; }
      const types = (info.formation || []).map((p) => p.type);
      const byType = new Map(hcs.map((c) => [c.type, c]));
      const rows = [...new Set([...types, ...byType.keys()])].sort().map((t) => {
        const c = byType.get(t);
        return h('tr', { 'data-type': t },
          h('th', { scope: 'row' }, t),
          h('td', {}, c ? (c.path ? h('code', {}, c.path) : 'TCP connect') : h('span', { class: 'muted' }, t === 'web' ? 'default: TCP connect' : 'default: running')),
          h('td', { class: 'small' }, c ? (c.timeout || 5) + ' s × ' + (c.attempts || 'as many as fit') : ''),
          h('td', { class: 'actions' }, c ? confirmButton('Remove', 'Confirm remove', async () => {
            try {
              await api('DELETE', appPath(name, 'healthchecks', t));
              message(s.msg, 'Removed the health check of ' + t + ': the default applies.', 'info');
              await loadHealth();
            } catch (e) { message(s.msg, e.message); }
          }, { 'aria-label': 'Remove the health check of ' + t }) : ''));
      });
      const type = h('select', { id: 'hc-type' }, types.map((t) => h('option', { value: t }, t)));
      const path = h('input', { id: 'hc-path', placeholder: '/health', autocomplete: 'off', spellcheck: 'false' });
      const timeout = h('input', { id: 'hc-timeout', type: 'number', min: 1, max: 60, value: 5 });
      const attempts = h('input', { id: 'hc-attempts', type: 'number', min: 0, max: 100, value: 0, 'aria-describedby': 'hc-help' });
      // The form starts from the chosen type's settings.
      const fill = () => {
        const c = byType.get(type.value) || {};
        path.value = c.path || '';
        timeout.value = c.timeout || 5;
        attempts.value = c.attempts || 0;
      };
      type.addEventListener('change', fill);
      fill();
      const form = h('form', { class: 'row', id: 'hc-form' },
        field('hc-type', 'Process', type), field('hc-path', 'HTTP path (empty: TCP connect)', path),
        field('hc-timeout', 'Timeout (s)', timeout), field('hc-attempts', 'Attempts', attempts),
        h('button', { type: 'submit' }, 'Save'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          await api('PUT', appPath(name, 'healthchecks', type.value), { path: path.value.trim(), timeout: Number(timeout.value), attempts: Number(attempts.value) });
          message(s.msg, 'Saved the health check of ' + type.value + '; it applies to new instances.', 'info');
          await loadHealth();
        } catch (e) { message(s.msg, e.message); }
      });
      update(s.body, [hcs, types], () => replace(s.body,
        table(['Process', 'Check', 'Timeout × attempts', h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))], rows, 'No process types yet.'),
        types.length ? [form, h('p', { id: 'hc-help', class: 'small muted' }, 'Attempts 0: as many as fit in the server\'s health timeout.')] : ''));
    }

    // Logs: the last lines, then new ones as they come, read from the
    // streamed answer of /logs?follow=1 (fetch and a ReadableStream).
    function renderLogs() {
      const s = sections.logs;
      const pre = h('pre', { class: 'logs', id: 'log-lines', tabindex: '0', 'aria-label': 'Log lines', 'aria-live': 'off' });
      const ps = h('select', { id: 'logs-ps', 'aria-label': 'Process' }, h('option', { value: '' }, 'all processes'),
        (info ? info.formation || [] : []).map((p) => h('option', { value: p.type }, p.type)));
      const live = h('button', { type: 'button', id: 'logs-live', 'aria-pressed': 'true' }, 'Pause');
      const clear = h('button', { type: 'button', id: 'logs-clear' }, 'Clear');
      const state = h('span', { class: 'small muted', id: 'logs-state', role: 'status' });
      let lines = 0;
      let ctl = null; // the AbortController of the stream

      function append(text) {
        const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
        if (!lines) pre.replaceChildren();
        pre.append(text + '\n');
        lines++;
        while (lines > MAX_LOG_LINES) { pre.firstChild.remove(); lines--; }
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      }
      function stop() {
        if (ctl) ctl.abort();
        ctl = null;
      }
      async function follow() {
        stop();
        const mine = new AbortController();
        ctl = mine;
        lines = 0;
        pre.replaceChildren(h('span', { class: 'muted' }, 'Waiting for log lines…'));
        live.setAttribute('aria-pressed', 'true');
        live.textContent = 'Pause';
        const q = new URLSearchParams({ lines: String(LOG_LINES), follow: '1' });
        if (ps.value) q.set('ps', ps.value);
        let backoff = 1000;
        while (ctl === mine) {
          try {
            const resp = await request('GET', appPath(name, 'logs') + '?' + q, undefined, { signal: mine.signal });
            message(s.msg, '');
            state.textContent = 'following live';
            backoff = 1000;
            const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
            let rest = '';
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              const parts = (rest + value).split('\n');
              rest = parts.pop();
              for (const l of parts) if (l !== '') append(l);
            }
            if (rest) append(rest);
            q.set('lines', '1'); // a reconnect need not repeat much
          } catch (e) {
            if (e.name === 'AbortError' || ctl !== mine) return;
            message(s.msg, e instanceof APIError ? e.message : 'The log stream broke off; reconnecting…');
            if (e.status === 401 || e.status === 403 || e.status === 404) { stop(); state.textContent = ''; return; }
          }
          if (ctl !== mine) return;
          state.textContent = 'reconnecting…';
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 15000);
        }
      }
      live.addEventListener('click', () => {
        if (ctl) {
          stop();
          live.setAttribute('aria-pressed', 'false');
          live.textContent = 'Resume';
          state.textContent = 'paused';
        } else {
          follow();
        }
      });
      clear.addEventListener('click', () => { lines = 0; pre.replaceChildren(); });
      ps.addEventListener('change', follow);
      cleanups.push(stop);
      replace(s.body, h('div', { class: 'logbar' }, ps, live, clear, state), pre);
      follow();
    }

    if (!await loadInfo()) return;
    renderDanger();
    renderLogs();
    await Promise.all([loadReleases(), loadConfig(), loadDomains(), loadActivity(), loadMetrics(), loadBuilds(), loadHealth()]);
    every(gen, POLL_MS, async () => {
      if (await loadInfo()) await Promise.all([loadReleases(), loadActivity(), loadBuilds()]);
      refreshTimes();
    });
    every(gen, 30000, loadMetrics);
  }

  // chart draws a small SVG chart of series per minute: rows are minutes,
  // each row one value per series (stacked bars when stacked), classes
  // name each series' colour in the style sheet. fmt formats a value.
  function chart(title, rows, classes, fmt, id, stacked) {
    const NS = 'http://www.w3.org/2000/svg';
    const W = 300, H = 80;
    const svg = (tag, attrs) => {
      const el = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
      return el;
    };
    const totals = rows.map((r) => stacked ? r.reduce((a, b) => a + b, 0) : Math.max(...r));
    const max = Math.max(...totals, 0);
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', preserveAspectRatio: 'none' });
    const label = title + ': ' + (max ? 'peak ' + fmt(max) + ', now ' + fmt(totals[totals.length - 1] || 0) : 'no requests') + ' (last 60 minutes)';
    root.setAttribute('aria-label', label);
    root.append(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'axis' }));
    const bw = W / Math.max(rows.length, 1);
    if (max > 0) {
      rows.forEach((r, i) => {
        let y = H;
        r.forEach((v, j) => {
          if (!v) return;
          const hgt = Math.max(1, (v / max) * (H - 4));
          y -= hgt;
          root.append(svg('rect', { x: (i * bw + 0.5).toFixed(1), y: y.toFixed(1), width: Math.max(bw - 1, 1).toFixed(1), height: hgt.toFixed(1), class: classes[j] }));
          if (!stacked) y = H;
        });
      });
    }
    const legend = classes.length > 1 ? h('span', { class: 'legend small' }, classes.map((c) => h('span', { class: 'key ' + c }, c.slice(2)))) : '';
    return h('figure', { class: 'chart-box', id },
      h('figcaption', { class: 'small' }, h('strong', {}, title), ' ', h('span', { class: 'muted' }, max ? 'peak ' + fmt(max) : 'none yet')),
      root,
      h('div', { class: 'axis-labels small muted' }, h('span', {}, '60 min ago'), legend, h('span', {}, 'now')));
  }

  // --- account --------------------------------------------------------------

  async function renderAccount() {
    const keys = section('keys', 'SSH keys', true);
    const tokens = section('tokens', 'API tokens', true);
    const collabs = section('collabs', 'Collaborators on your apps', true);
    replace(main, h('h1', {}, 'Your account'), h('p', { class: 'muted' }, 'Signed in as ', h('strong', {}, me.name), me.admin ? ' (admin)' : '', '.'),
      keys.el, tokens.el, collabs.el);
    main.focus();

    // SSH keys.
    const keyText = h('textarea', { id: 'key-text', rows: 3, spellcheck: 'false', placeholder: 'ssh-ed25519 AAAA… you@laptop', required: true });
    const keyForm = h('form', { class: 'row', id: 'key-form' }, field('key-text', 'Add a public key (the contents of ~/.ssh/id_ed25519.pub)', keyText),
      h('button', { type: 'submit' }, 'Add key'));
    keyForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const k = await api('POST', '/v1/keys', { public_key: keyText.value.trim() });
        keyText.value = '';
        message(keys.msg, 'Added key ' + k.fingerprint + '.', 'info');
        await loadKeys();
      } catch (e) { message(keys.msg, e.message); }
    });
    async function loadKeys() {
      let ks;
      try { ks = await api('GET', '/v1/keys'); } catch (e) { message(keys.msg, e.message); return; }
      replace(keys.body, table(['Fingerprint', h('th', { scope: 'col', class: 'hide-phone' }, 'Type'), h('th', { scope: 'col', class: 'hide-phone' }, 'Comment'), h('th', { scope: 'col', class: 'hide-phone' }, 'Added'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))],
        ks.map((k) => h('tr', { 'data-key-id': k.id },
          h('td', { class: 'mono value' }, k.fingerprint), h('td', { class: 'hide-phone' }, k.type), h('td', { class: 'hide-phone value' }, k.comment), h('td', { class: 'hide-phone' }, timeEl(k.created_at)),
          h('td', { class: 'actions' }, confirmButton('Remove', 'Confirm remove', async () => {
            try {
              await api('DELETE', '/v1/keys/' + k.id);
              message(keys.msg, 'Removed key ' + k.fingerprint + '.', 'info');
              await loadKeys();
            } catch (e) { message(keys.msg, e.message); }
          }, { 'aria-label': 'Remove key ' + k.fingerprint })))),
        'No SSH keys: add one to git push.'), keyForm);
    }

    // API tokens.
    const desc = h('input', { id: 'token-desc', autocomplete: 'off', placeholder: 'e.g. CI on the build box', maxlength: 256 });
    const tokForm = h('form', { class: 'row', id: 'token-form' }, field('token-desc', 'Description', desc), h('button', { type: 'submit' }, 'Create token'));
    const fresh = h('div', { id: 'new-token' });
    tokForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const t = await api('POST', '/v1/tokens', { description: desc.value.trim() });
        desc.value = '';
        const code = h('code', { id: 'new-token-secret', tabindex: '0' }, t.secret);
        const copy = h('button', { type: 'button' }, 'Copy');
        copy.addEventListener('click', async () => {
          try { await navigator.clipboard.writeText(t.secret); copy.textContent = 'Copied'; } catch (e) {
            window.getSelection().selectAllChildren(code);
            copy.textContent = 'Selected: press Ctrl+C';
          }
        });
        replace(fresh, h('div', { class: 'once', role: 'status' }, h('p', {}, h('strong', {}, 'Your new token, shown only this once. '), 'Copy it now: it cannot be shown again.'),
          h('div', { class: 'remote' }, code, copy)));
        message(tokens.msg, '');
        await loadTokens();
      } catch (e) { message(tokens.msg, e.message); }
    });
    async function loadTokens() {
      let ts;
      try { ts = await api('GET', '/v1/tokens'); } catch (e) { message(tokens.msg, e.message); return; }
      replace(tokens.body, fresh, table(['Token', 'Description', h('th', { scope: 'col', class: 'hide-phone' }, 'Created'), h('th', { scope: 'col', class: 'hide-phone' }, 'Last used'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))],
        ts.map((t) => h('tr', { 'data-token-id': t.id },
          h('td', { class: 'mono' }, t.prefix + '…'), h('td', { class: 'value' }, t.description), h('td', { class: 'hide-phone' }, timeEl(t.created_at)),
          h('td', { class: 'hide-phone' }, t.last_used_at ? timeEl(t.last_used_at) : 'never'),
          h('td', { class: 'actions' }, confirmButton('Revoke', 'Confirm revoke', async () => {
            try {
              await api('DELETE', '/v1/tokens/' + t.id);
              fresh.replaceChildren(); // a secret shown once is of no use once revoked
              message(tokens.msg, 'Revoked token ' + t.prefix + '…: it no longer works.', 'info');
              await loadTokens();
            } catch (e) { message(tokens.msg, e.message); }
          }, { 'aria-label': 'Revoke token ' + t.prefix, id: 'revoke-token-' + t.id })))),
        'No API tokens.'), tokForm);
    }

    // Collaborators on each app the user owns.
    async function loadCollabs() {
      let apps;
      try { apps = await api('GET', '/v1/apps'); } catch (e) { message(collabs.msg, e.message); return; }
      const mine = apps.filter((a) => a.owner === me.name);
      if (!mine.length) { replace(collabs.body, h('p', { class: 'muted' }, 'You own no apps.')); return; }
      const blocks = await Promise.all(mine.map(async (a) => {
        const msg = msgBox();
        let cs = [];
        try { cs = await api('GET', appPath(a.name, 'collaborators')); } catch (e) { message(msg, e.message); }
        const input = h('input', { id: 'collab-' + a.name, autocomplete: 'off', spellcheck: 'false', placeholder: 'user name', required: true });
        const form = h('form', { class: 'row' }, field('collab-' + a.name, 'Add a collaborator to ' + a.name, input), h('button', { type: 'submit' }, 'Add'));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          try {
            await api('POST', appPath(a.name, 'collaborators'), { user: input.value.trim() });
            await loadCollabs();
          } catch (e) { message(msg, e.message); }
        });
        return h('div', { class: 'sub', 'data-app': a.name }, h('h3', {}, a.name),
          cs.length ? h('ul', { class: 'plain' }, cs.map((c) => h('li', {}, c.user, ' ', confirmButton('Remove', 'Confirm remove', async () => {
            try {
              await api('DELETE', appPath(a.name, 'collaborators', c.user));
              await loadCollabs();
            } catch (e) { message(msg, e.message); }
          }, { 'aria-label': 'Remove ' + c.user + ' from ' + a.name })))) : h('p', { class: 'muted small' }, 'Only you.'),
          form, msg);
      }));
      replace(collabs.body, blocks);
    }
    await Promise.all([loadKeys(), loadTokens(), loadCollabs()]);
  }

  // --- admin ----------------------------------------------------------------

  async function renderAdmin() {
    if (!me.admin) { replace(main, h('h1', {}, 'Admin'), h('p', { class: 'msg error' }, 'Only an admin may see this page.')); return; }
    const users = section('users', 'Users', true);
    const auditS = section('audit', 'Audit log', true);
    replace(main, h('h1', {}, 'Admin'), users.el, auditS.el);
    main.focus();

    const name = h('input', { id: 'user-name', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', required: true });
    const pw = h('input', { id: 'user-password', type: 'password', autocomplete: 'new-password', minlength: 8, placeholder: '8+ characters; empty: API token only' });
    const adm = h('input', { id: 'user-admin', type: 'checkbox' });
    const created = h('div', { id: 'new-user' });
    const form = h('form', { class: 'row', id: 'user-form' }, field('user-name', 'User name', name),
      field('user-password', 'Password (optional)', pw),
      h('div', { class: 'check' }, adm, h('label', { for: 'user-admin' }, 'Admin')),
      h('button', { type: 'submit', class: 'primary' }, 'Create user'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const body = { name: name.value.trim(), admin: adm.checked };
        if (pw.value) body.password = pw.value;
        const cu = await api('POST', '/v1/users', body);
        name.value = pw.value = '';
        adm.checked = false;
        replace(created, h('div', { class: 'once', role: 'status' }, h('p', {}, 'Created ', h('strong', {}, cu.user.name), '. Their first API token, shown only this once:'),
          h('div', { class: 'remote' }, h('code', { tabindex: '0' }, cu.token.secret))));
        await loadUsers();
      } catch (e) { message(users.msg, e.message); }
    });
    async function loadUsers() {
      let us;
      try { us = await api('GET', '/v1/users'); } catch (e) { message(users.msg, e.message); return; }
      replace(users.body, created, table(['User', 'Role', 'Password', h('th', { scope: 'col', class: 'hide-phone' }, 'Created'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))],
        us.map((u) => {
          const setPw = h('button', { type: 'button', 'aria-label': 'Set the password of ' + u.name }, 'Set password');
          const row = h('tr', { 'data-user': u.name },
            h('th', { scope: 'row' }, u.name), h('td', {}, u.admin ? badge('admin', 'warn') : 'user'),
            h('td', {}, u.has_password ? 'set' : h('span', { class: 'muted' }, 'none')),
            h('td', { class: 'hide-phone' }, timeEl(u.created_at)),
            h('td', { class: 'actions' }, setPw, ' ', u.name === me.name ? '' : confirmButton('Delete', 'Confirm delete', async () => {
              try {
                await api('DELETE', '/v1/users/' + encodeURIComponent(u.name));
                message(users.msg, 'Deleted ' + u.name + '.', 'info');
                await loadUsers();
              } catch (e) { message(users.msg, e.message); }
            }, { 'aria-label': 'Delete ' + u.name })));
          setPw.addEventListener('click', () => {
            const id = 'pw-' + u.name;
            const input = h('input', { id, type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
            const f = h('form', { class: 'row' }, field(id, 'New password for ' + u.name, input), h('button', { type: 'submit' }, 'Save'),
              h('button', { type: 'button', onclick: () => loadUsers() }, 'Cancel'));
            f.addEventListener('submit', async (ev) => {
              ev.preventDefault();
              try {
                await api('PUT', '/v1/users/' + encodeURIComponent(u.name) + '/password', { password: input.value });
                message(users.msg, 'Set the password of ' + u.name + '; their sessions have ended.', 'info');
                await loadUsers();
              } catch (e) { message(users.msg, e.message); }
            });
            row.after(h('tr', {}, h('td', { colspan: '5' }, f)));
            input.focus();
          });
          return row;
        }), 'No users.'), form);
    }

    const qApp = h('input', { id: 'audit-app', autocomplete: 'off', placeholder: 'any app' });
    const qActor = h('input', { id: 'audit-actor', autocomplete: 'off', placeholder: 'anyone' });
    const filter = h('form', { class: 'row', id: 'audit-filter' }, field('audit-app', 'App', qApp), field('audit-actor', 'User', qActor), h('button', { type: 'submit' }, 'Filter'));
    const tbody = h('tbody');
    const more = h('button', { type: 'button', id: 'audit-more' }, 'Older events');
    let before = 0;
    async function loadAudit(reset) {
      if (reset) { before = 0; tbody.replaceChildren(); }
      const q = new URLSearchParams({ limit: '50' });
      if (qApp.value.trim()) q.set('app', qApp.value.trim());
      if (qActor.value.trim()) q.set('actor', qActor.value.trim());
      if (before) q.set('before', String(before));
      let evs;
      try { evs = await api('GET', '/v1/audit?' + q); } catch (e) { message(auditS.msg, e.message); return; }
      message(auditS.msg, '');
      for (const e of evs) {
        tbody.append(h('tr', {}, h('td', { class: 'small' }, timeEl(e.time)), h('td', { class: 'hide-phone' }, e.actor),
          h('td', { class: 'small' }, h('div', { class: 'show-phone muted' }, e.actor + (e.app ? ' · ' + e.app : '')), h('span', { class: 'mono' }, e.action)),
          h('td', { class: 'hide-phone' }, e.app || ''), h('td', { class: 'value small' }, e.detail || ''), h('td', { class: 'hide-phone small muted' }, e.remote_addr || '')));
        before = e.id;
      }
      more.hidden = evs.length < 50;
      if (!tbody.firstChild) tbody.append(h('tr', {}, h('td', { colspan: '6', class: 'muted' }, 'No events.')));
    }
    filter.addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(true); });
    more.addEventListener('click', () => loadAudit(false));
    replace(auditS.body, filter, h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('thead', {}, h('tr', {}, ['When', 'User', 'Action', 'App', 'Detail', 'From'].map((x) => h('th', { scope: 'col', class: x === 'User' || x === 'App' || x === 'From' ? 'hide-phone' : null }, x)))), tbody)), more);
    await Promise.all([loadUsers(), loadAudit(true)]);
  }

  // --- routing --------------------------------------------------------------

  async function route() {
    stopPage();
    pageGen++;
    renderNav();
    const hash = location.hash || '#/';
    const m = hash.match(/^#\/apps\/([^/]+)$/);
    if (m) await renderApp(decodeURIComponent(m[1]));
    else if (hash === '#/account') await renderAccount();
    else if (hash === '#/admin') await renderAdmin();
    else await renderApps();
  }

  // start: on /signin, the sign-in form (or back to the dashboard if the
  // session is still live); elsewhere, the session's user and CSRF token.
  async function start() {
    let sess = null;
    try {
      sess = await api('GET', '/v1/sessions/current', undefined, { quiet: true });
    } catch (e) {
      if (location.pathname === '/signin') { renderSignIn(e.status === 401 || e.status === 0 ? '' : e.message); return; }
      if (e.status === 401) { toSignIn(); return; }
      replace(main, h('p', { class: 'msg error', role: 'alert' }, e.message));
      return;
    }
    if (location.pathname === '/signin') { location.replace('/' + (location.hash || '#/')); return; }
    me = sess.user;
    csrf = sess.csrf_token || '';
    window.addEventListener('hashchange', route);
    route();
  }

  start();
})();
