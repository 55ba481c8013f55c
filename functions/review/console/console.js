// The staff console: a small static app on the staff API (/v1/staff/...), no build step.
// Every element is built with the DOM API and filled with textContent, never HTML strings, so
// no value from the API can become markup; the page's CSP allows no inline script anyway.
//
// The session is the API's bearer token, kept in sessionStorage: it survives a reload of the tab
// but not the tab, is never sent by the browser on its own (so a cross-site request can't carry
// it: no CSRF), and the server ends it after 30 idle minutes, 10 hours, a logout or a disable.

const IDLE_MS = 29 * 60 * 1000; // the server's idle timeout is 30 minutes; leave before it does
const ROLE = { point: '报名点', site: '考点', district: '考区', centre: '中心' };
const STATUS = {
  draft: '填写中', submitted: '已提交,待确认', confirmed: '已确认,待考点审核',
  confirm_rejected: '确认不通过', site_approved: '考点审核通过,待考区审核', approved: '审核通过',
  paid: '已缴费', rejected: '审核不通过', lapsed: '视为放弃',
};
const EVENT = {
  created: '创建报名', agreed: '同意报考承诺', page_saved: '保存报名信息', photo_chosen: '选择照片',
  material_added: '上传材料', materials_completed: '材料上传完成', submitted: '提交报名',
  auto_confirmed: '自动确认', withdrawn: '撤回报名', district_changed: '更改考区', confirmed: '现场确认',
  confirmation_rejected: '确认不通过', site_approved: '考点审核通过', site_rejected: '考点审核不通过',
  district_approved: '考区审核通过', district_rejected: '考区审核不通过', order_opened: '创建缴费订单',
  order_closed: '关闭缴费订单', paid: '缴费成功', lapsed: '视为放弃', scores_merged: '成绩合并',
  upload_checked: '上传文件检查',
};
const ACTOR = {
  candidate: '考生', point: '报名点', site: '考点', district: '考区', payment: '微信支付',
  scheduler: '定时任务', system: '系统',
};
const STAGE = { confirm: '待确认', review: '待审核' };
const RESULT = { pending: '未审核', passed: '通过', rejected: '不通过' };
const LAPSE = { not_confirmed: '未在规定时间内完成报名确认', not_resubmitted: '未在规定时间内重新提交', not_paid: '未在规定时间内缴费' };
// A keyboard Enter on the confirm button counts only this long after the button got the focus:
// a scanner's second line end (CR LF) or a double Enter must not confirm a card no one has seen.
const CONFIRM_GUARD_MS = 250;
const NODE_STATE = { done: '已完成', current: '进行中', pending: '未开始' };
// Which decision a role takes on an application in which state (R24, R25, R42).
const DECISIONS = {
  point: { submitted: ['approve_confirmation', 'reject_confirmation'] },
  site: { confirmed: ['approve_site', 'reject_site'] },
  district: { site_approved: ['approve_district', 'reject_district'] },
};

const state = {
  token: sessionStorage.getItem('staff.token'),
  me: null,
  project: sessionStorage.getItem('staff.project'),
  projects: [],
  specialties: new Map(),
  idle: null,
};

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `请求失败 (${status})`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

// ---- DOM helpers ---------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function show(...nodes) {
  const view = $('view');
  view.replaceChildren(...nodes);
}

function notice(text) {
  $('notice').textContent = text || '';
}

function field(label, input, hint) {
  const id = input.id;
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
    hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null);
}

function alertBox(id) {
  return h('p', { id, class: 'error', role: 'alert' });
}

function fail(box, e) {
  if (e instanceof ApiError) box.textContent = `${e.message}(${e.code || e.status})`;
  else box.textContent = e instanceof TypeError ? `网络错误,请重试:${e.message}` : `出错了:${e.message}`;
}

function time(s) {
  if (!s) return '';
  const d = new Date(s);
  // Beijing time, whatever the clerk's machine is set to.
  return d.toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
}

// ---- API -----------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, credentials: 'omit', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const v = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const e = new ApiError(r.status, v);
    // The session ended on the server (idle, expired, revoked, disabled): back to login, saying why.
    if (r.status === 401 && state.token && path !== '/v1/staff/sessions') {
      ended(e.message);
    }
    throw e;
  }
  if (state.token) touch();
  return v;
}

function touch() {
  clearTimeout(state.idle);
  state.idle = setTimeout(() => {
    api('DELETE', '/v1/staff/sessions/current').catch(() => {});
    ended('已超过30分钟未操作,为保护考生信息已自动退出,请重新登录。');
  }, IDLE_MS);
}

function ended(message, info) {
  clearTimeout(state.idle);
  state.token = null;
  state.me = null;
  sessionStorage.removeItem('staff.token');
  $('bar').hidden = true;
  // Nothing of the last candidate stays on an unattended screen.
  notice('');
  loginView(info ? { info: message } : { error: message });
}

// A session that was opened but can't be used (the console failed to load): end it on the
// server too, so it doesn't linger for 30 minutes.
async function abandon(e) {
  await api('DELETE', '/v1/staff/sessions/current').catch(() => {});
  if (state.token) ended(`无法加载工作台:${e.message}`);
}

// ---- Login and enrolment -------------------------------------------------------------------

function loginView(says) {
  const err = alertBox('login-error');
  const info = h('p', { id: 'login-info', role: 'status' });
  if (says && says.error) err.textContent = says.error;
  if (says && says.info) info.textContent = says.info;
  const account = h('input', { id: 'account', name: 'account', autocomplete: 'username', required: true, maxlength: 64 });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const totp = h('input', {
    id: 'totp', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', required: true,
    pattern: '[0-9]{6}', maxlength: 6, 'aria-describedby': 'totp-hint',
  });
  const form = h('form', { id: 'login', novalidate: true },
    h('h2', { text: '工作人员登录' }),
    info,
    field('账号', account),
    field('密码', password),
    field('动态口令', totp, '身份验证器 App 中的6位数字'),
    err,
    h('button', { type: 'submit', id: 'login-submit', text: '登录' }),
    h('p', {}, h('a', { href: '#enrol', id: 'to-enrol', text: '首次使用:用激活码设置密码' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const s = await api('POST', '/v1/staff/sessions', {
        account: account.value.trim(), password: password.value, totp: totp.value.trim(),
      });
      state.token = s.token;
      sessionStorage.setItem('staff.token', s.token);
      state.me = s.staff;
      password.value = '';
    } catch (e) {
      fail(err, e);
      totp.value = '';
      (e.field === 'account' ? account : e.field === 'password' ? password : totp).focus();
      return;
    }
    await start().catch(abandon);
  });
  show(form);
  account.focus();
}

function enrolView() {
  const err = alertBox('enrol-error');
  const account = h('input', { id: 'enrol-account', autocomplete: 'username', required: true, maxlength: 32 });
  const code = h('input', { id: 'enrol-code', autocomplete: 'off', required: true, maxlength: 64 });
  const password = h('input', {
    id: 'enrol-password', type: 'password', autocomplete: 'new-password', required: true,
    minlength: 12, maxlength: 64, 'aria-describedby': 'enrol-password-hint',
  });
  const out = h('div', { id: 'enrol-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'enrol', novalidate: true },
    h('h2', { text: '激活工作人员账号' }),
    field('账号', account), field('激活码', code),
    field('新密码', password, '12–64位,至少包含大写字母、小写字母、数字、符号中的三类'),
    err, h('button', { type: 'submit', text: '激活' }), out,
    h('p', {}, h('a', { href: '#', text: '返回登录' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const v = await api('POST', '/v1/staff/enrolment', {
        account: account.value.trim(), code: code.value.trim(), password: password.value,
      });
      password.value = '';
      out.replaceChildren(
        h('p', { text: '激活成功。请在身份验证器 App 中添加以下密钥(只显示这一次),然后登录。' }),
        h('p', {}, '密钥:', h('code', { id: 'enrol-secret', text: v.secret_base32 })),
        h('p', {}, '链接:', h('code', { text: v.otpauth_uri })));
    } catch (e) {
      fail(err, e);
    }
  });
  show(form);
  account.focus();
}

// ---- After login ---------------------------------------------------------------------------

async function start() {
  if (!state.me) state.me = await api('GET', '/v1/staff/me');
  const me = state.me;
  const scope = me.role === 'centre' ? '全国' : `${ROLE[me.role]} ${me.area}`;
  $('who').textContent = `${me.name}(${me.account})· ${ROLE[me.role]}${me.admin ? '管理员' : ''} · 管辖:${scope}`;
  if (!state.projects.length) state.projects = await api('GET', '/v1/projects');
  const select = $('project');
  select.replaceChildren(...state.projects.map((p) => h('option', { value: p.id, text: p.name })));
  if (!state.projects.some((p) => p.id === state.project)) state.project = state.projects[0] && state.projects[0].id;
  select.value = state.project;
  $('nav-counter').hidden = me.role !== 'site';
  $('nav-queue').hidden = me.role === 'centre';
  $('nav-counts').hidden = me.role === 'centre';
  $('nav-staff').hidden = !me.admin;
  $('bar').hidden = false;
  touch();
  go(me.role === 'site' ? 'counter' : me.role === 'centre' ? 'staff' : 'queue');
}

function go(where, arg) {
  notice('');
  for (const b of document.querySelectorAll('nav [data-go]')) {
    if (b.dataset.go === where) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  const views = { counter: counterView, queue: queueView, counts: countsView, staff: staffView, app: appView };
  views[where](arg);
}

async function specialtyName(code) {
  if (!state.specialties.has(state.project)) {
    const list = await api('GET', `/v1/projects/${state.project}/specialties`).catch(() => []);
    state.specialties.set(state.project, new Map(list.map((s) => [s.code, s.name])));
  }
  const name = state.specialties.get(state.project).get(code);
  return name ? `${name}(${code})` : code;
}

function subjectNames(codes) {
  const p = state.projects.find((x) => x.id === state.project);
  const names = new Map(((p && p.subjects) || []).map((s) => [s.code, s.name]));
  return (codes || []).map((c) => names.get(c) || c).join('、');
}

// The applicant as the clerk checks them against the person at the counter.
async function applicantCard(v) {
  const exam = (v.pages && v.pages.exam) || {};
  const photo = v.photo_url
    ? h('img', { src: v.photo_url, alt: `${v.name}的报名照片`, class: 'photo', width: 179, height: 220 })
    : h('p', { class: 'photo missing', text: '无照片' });
  const rows = [
    ['姓名', v.name],
    ['证件号码', v.id_number_masked],
    ['性别', v.gender === 'male' ? '男' : v.gender === 'female' ? '女' : v.gender],
    ['出生日期', v.birth_date],
    ['报考专业', exam.specialty ? await specialtyName(exam.specialty) : '—'],
    ['报考科目', subjectNames(exam.subjects) || '—'],
    ['考生类型', v.historical ? '往年考生' : '首次报考'],
    ['当前状态', STATUS[v.status] || v.status],
  ];
  if (v.review && (v.review.site !== 'pending' || v.review.district !== 'pending')) {
    rows.push(['考点审核', RESULT[v.review.site]], ['考区审核', RESULT[v.review.district]]);
  }
  if (v.reason) rows.push(['原因', v.reason]);
  return h('section', { class: 'card', 'aria-label': '考生信息' }, photo,
    h('dl', {}, rows.map(([k, val]) => [h('dt', { text: k }), h('dd', { text: val })])));
}

// ---- Counter: confirm by the code on the printed form (R22, R18) ---------------------------

function counterView() {
  const err = alertBox('counter-error');
  const code = h('input', {
    id: 'code', name: 'code', autocomplete: 'off', required: true, maxlength: 20, spellcheck: 'false',
    autocapitalize: 'characters', 'aria-describedby': 'code-hint',
  });
  const result = h('div', { id: 'counter-result' });
  // One row: the clerk's eyes stay on the box, the card and the confirm button below it, all
  // inside a 1366×768 screen without scrolling.
  const form = h('form', { id: 'counter', class: 'wide', novalidate: true },
    h('h2', { text: '现场确认' }),
    h('div', { class: 'field' }, h('label', { for: 'code', text: '报名表验证码' }),
      h('div', { class: 'row' }, code, h('button', { type: 'submit', text: '查询' })),
      h('p', { class: 'hint', id: 'code-hint', text: '输入或扫描报名表上的验证码,按回车查询;查到后按回车确认,Esc 取消' })),
    err);
  // Each lookup has a number; an answer that comes back after a newer lookup started is dropped,
  // so the card always belongs to the code in the box.
  let seq = 0;
  const reset = () => {
    seq += 1;
    result.replaceChildren();
    code.select();
    code.focus();
  };
  result.addEventListener('keydown', (k) => {
    if (k.key === 'Escape') {
      reset();
    } else if (k.key.length === 1 && !k.ctrlKey && !k.metaKey && !k.altKey) {
      // The next form scanned (or typed) while a card is shown: it starts a new lookup; it never
      // reaches the confirm button, whose Enter would confirm the card on screen.
      k.preventDefault();
      reset();
      code.value = k.key;
    }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    notice('');
    const mine = ++seq;
    result.replaceChildren();
    const c = code.value.trim().toUpperCase();
    if (!c) {
      err.textContent = '请输入报名表验证码';
      code.focus();
      return;
    }
    try {
      const v = await api('GET', `/v1/staff/projects/${state.project}/codes/${encodeURIComponent(c)}`);
      const card = await applicantCard(v);
      if (mine !== seq) return;
      if (v.status !== 'submitted') {
        result.replaceChildren(card, h('p', { class: 'info', id: 'counter-info', text: `该报名当前状态为“${STATUS[v.status] || v.status}”,无需现场确认。` }));
        code.select();
        return;
      }
      const confirm = h('button', { type: 'button', id: 'confirm', class: 'primary', text: '确认 (Enter)' });
      const cancel = h('button', { type: 'button', id: 'cancel', text: '取消 (Esc)' });
      let focusedAt = Infinity;
      confirm.addEventListener('focus', () => { focusedAt = performance.now(); });
      confirm.addEventListener('click', async (ev) => {
        // ev.detail is 0 for a click made by the keyboard.
        if (ev.detail === 0 && performance.now() - focusedAt < CONFIRM_GUARD_MS) return;
        confirm.disabled = true;
        try {
          const done = await api('POST', `/v1/staff/projects/${state.project}/codes/${encodeURIComponent(c)}/confirm`);
          notice(`已确认:${done.name}(${STATUS[done.status] || done.status})`);
          code.value = '';
          reset();
        } catch (e) {
          fail(err, e);
          confirm.disabled = false;
          code.select();
          code.focus();
        }
      });
      cancel.addEventListener('click', reset);
      result.replaceChildren(card, h('div', { class: 'actions' }, confirm, cancel));
      confirm.focus();
    } catch (e) {
      if (mine !== seq) return;
      fail(err, e);
      code.select();
      code.focus();
    }
  });
  show(form, result);
  code.focus();
}

// ---- Queues --------------------------------------------------------------------------------

function stagesOf(role) {
  return { point: ['confirm'], site: ['confirm', 'review'], district: ['review'] }[role] || [];
}

async function queueView(arg) {
  const stages = stagesOf(state.me.role);
  const stage = (arg && arg.stage) || stages[stages.length - 1];
  const after = arg && arg.after;
  const err = alertBox('queue-error');
  const counts = h('p', { id: 'queue-count', 'aria-live': 'polite' });
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': '队列' },
    stages.map((s) => h('button', {
      type: 'button', 'aria-pressed': s === stage ? 'true' : 'false', text: STAGE[s],
      onclick: () => go('queue', { stage: s }),
    })));
  const body = h('tbody');
  const table = h('table', { id: 'queue' },
    h('caption', { text: `${STAGE[stage]}(最早提交的在前)` }),
    h('thead', {}, h('tr', {}, ['等待起始', '考点/报名点', '报考专业', '科目', '类型', '提交次数', ''].map((t) => h('th', { scope: 'col', text: t })))),
    body);
  const more = h('div', { class: 'actions' });
  show(h('h2', { text: '工作队列' }), tabs, counts, err, table, more);
  try {
    const q = new URLSearchParams({ limit: '20' });
    if (after) q.set('after', after);
    const [page, n] = await Promise.all([
      api('GET', `/v1/staff/projects/${state.project}/queues/${stage}?${q}`),
      api('GET', `/v1/staff/projects/${state.project}/counts`),
    ]);
    // Counts list every queue in reach (a district's also holds its sites' rows): add up only
    // the rows of the queue on screen.
    const own = (c) => c.stage === stage && (state.me.role === 'point' || (state.me.role === 'site' ? !c.point : !c.site && !c.point));
    const total = n.filter(own).reduce((a, c) => a + c.count, 0);
    const capped = n.some((c) => own(c) && c.capped);
    counts.textContent = `共 ${total}${capped ? '+' : ''} 份`;
    for (const e of page.entries) {
      body.append(h('tr', {},
        h('td', { text: time(e.waiting_since) }),
        h('td', { text: e.point || e.site || '' }),
        h('td', { text: await specialtyName(e.specialty) }),
        h('td', { text: subjectNames(e.subjects) }),
        h('td', { text: e.historical ? '往年考生' : '首次报考' }),
        h('td', { text: e.submissions }),
        h('td', {}, h('button', {
          type: 'button', class: 'open', text: '查看',
          'aria-label': `查看 ${time(e.waiting_since)} 提交的报名`,
          onclick: () => go('app', { cid: e.candidate_id, back: { stage, after } }),
        }))));
    }
    if (!page.entries.length) body.append(h('tr', {}, h('td', { colspan: 7, text: '队列为空' })));
    if (after) more.append(h('button', { type: 'button', text: '回到第一页', onclick: () => go('queue', { stage }) }));
    if (page.next) more.append(h('button', { type: 'button', id: 'next-page', text: '下一页', onclick: () => go('queue', { stage, after: page.next }) }));
  } catch (e) {
    fail(err, e);
  }
}

// ---- One application: photo, materials, history, decision ----------------------------------

async function appView({ cid, back }) {
  const err = alertBox('app-error');
  const path = `/v1/staff/applications/${cid}/${state.project}`;
  show(h('h2', { text: '报名详情' }), err);
  let v;
  try {
    v = await api('GET', path);
  } catch (e) {
    fail(err, e);
    return;
  }
  const card = await applicantCard(v);
  const progress = h('ol', { class: 'progress', 'aria-label': '办理进度' },
    v.progress.map((n) => h('li', { class: n.state, text: `${n.title}:${NODE_STATE[n.state] || n.state}` })));
  const safe = (u) => { try { return ['http:', 'https:'].includes(new URL(u, location.href).protocol); } catch { return false; } };
  const materials = h('ul', { id: 'materials' }, v.materials.map((m, i) => h('li', {}, safe(m.url)
    ? h('a', { href: m.url, target: '_blank', rel: 'noopener noreferrer', text: `材料 ${i + 1}:${m.kind}(第${m.slot}份)` })
    : `材料 ${i + 1}:${m.kind}(链接无效)`)));
  const history = h('ol', { id: 'history', class: 'history' });
  const decide = decisionForm(v, path, err);
  show(
    h('h2', { text: '报名详情' }),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'back', text: '返回队列', onclick: () => go('queue', back) })),
    err, card, progress,
    h('h3', { text: '证明材料' }), v.materials.length ? materials : h('p', { text: '无' }),
    decide,
    h('h3', { text: '办理记录' }), history);
  // Focus on the page itself, not on a decision button an Enter would press.
  $('view').focus();
  try {
    const hist = await api('GET', `${path}/history`);
    for (const e of hist.entries) {
      history.append(h('li', {},
        h('time', { datetime: e.at, text: time(e.at) }), ' ',
        `${ACTOR[e.actor] || e.actor}${e.staff ? `(${e.staff})` : ''}:${EVENT[e.event] || e.event}`,
        e.reason ? `——原因:${LAPSE[e.reason] || e.reason}` : ''));
    }
  } catch (e) {
    fail(err, e);
  }
}

function decisionForm(v, path, err) {
  const kinds = (DECISIONS[state.me.role] || {})[v.status];
  if (!kinds) {
    return h('p', { class: 'info', id: 'no-decision', text: `当前状态“${STATUS[v.status] || v.status}”下,您无需在此作出决定。` });
  }
  const [approve, reject] = kinds;
  const reason = h('textarea', { id: 'reason', name: 'reason', maxlength: 200, rows: 3, 'aria-describedby': 'reason-hint' });
  const form = h('form', { id: 'decision', novalidate: true },
    h('h3', { text: '审核决定' }),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'approve', class: 'primary', text: '通过' })),
    field('不通过原因', reason, '不通过时必填,不超过200字,考生可见'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'reject', class: 'danger', text: '不通过' })));
  const send = async (decision, why) => {
    err.textContent = '';
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const body = why === undefined ? { decision } : { decision, reason: why };
      const done = await api('POST', `${path}/decisions`, body);
      go('app', { cid: v.candidate_id, back: { stage: stagesOf(state.me.role).slice(-1)[0] } });
      notice(`已提交:${done.name} 现为“${STATUS[done.status] || done.status}”`);
    } catch (e) {
      fail(err, e);
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  form.querySelector('#approve').addEventListener('click', () => send(approve));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      err.textContent = '请填写不通过原因';
      reason.focus();
      return;
    }
    send(reject, why);
  });
  return form;
}

// ---- Counts --------------------------------------------------------------------------------

async function countsView() {
  const err = alertBox('counts-error');
  const body = h('tbody');
  show(h('h2', { text: '各队列数量' }), err, h('table', { id: 'counts' },
    h('caption', { text: '按阶段、考点与报名点' }),
    h('thead', {}, h('tr', {}, ['阶段', '考点', '报名点', '数量'].map((t) => h('th', { scope: 'col', text: t })))),
    body));
  try {
    const n = await api('GET', `/v1/staff/projects/${state.project}/counts`);
    for (const c of n) {
      body.append(h('tr', {}, h('td', { text: STAGE[c.stage] || c.stage }), h('td', { text: c.site || '—' }),
        h('td', { text: c.point || '—' }), h('td', { text: `${c.count}${c.capped ? '+' : ''}` })));
    }
    if (!n.length) body.append(h('tr', {}, h('td', { colspan: 4, text: '暂无' })));
  } catch (e) {
    fail(err, e);
  }
}

// ---- Staff of the admin's district ---------------------------------------------------------

async function staffView() {
  const me = state.me;
  const err = alertBox('staff-error');
  const out = h('div', { id: 'staff-result', 'aria-live': 'polite' });
  const body = h('tbody');
  const district = h('input', { id: 'staff-district', maxlength: 6, value: me.district || '' });
  const account = h('input', { id: 'new-account', required: true, pattern: '[a-z0-9_]{4,32}', maxlength: 32, 'aria-describedby': 'new-account-hint' });
  const name = h('input', { id: 'new-name', required: true, maxlength: 40 });
  const roles = me.role === 'centre' ? ['district'] : ['site', 'point', 'district'];
  const role = h('select', { id: 'new-role' }, roles.map((r) => h('option', { value: r, text: ROLE[r] })));
  const area = h('input', { id: 'new-area', required: true, maxlength: 8, 'aria-describedby': 'new-area-hint' });
  const admin = h('input', { id: 'new-admin', type: 'checkbox' });
  const create = h('form', { id: 'create-staff', novalidate: true },
    h('h3', { text: '新建账号' }),
    field('账号', account, '4–32位小写字母、数字或下划线'), field('姓名', name), field('角色', role),
    field('管辖范围代码', area, '考点如 4101,报名点如 1201P1,考区如 41'),
    h('div', { class: 'field check' }, admin, h('label', { for: 'new-admin', text: '管理员' })),
    h('button', { type: 'submit', text: '创建并生成激活码' }));
  const load = async () => {
    body.replaceChildren();
    const q = me.role === 'centre' ? `?district=${encodeURIComponent(district.value.trim())}` : '';
    const list = await api('GET', `/v1/staff/accounts${q}`);
    for (const s of list) {
      const actions = h('td', {});
      if (s.account !== me.account && !s.disabled) {
        actions.append(
          h('button', { type: 'button', text: '停用', 'aria-label': `停用 ${s.account}`, onclick: () => act(s, 'disable', `停用 ${s.account}?其会话立即失效。`) }),
          h('button', { type: 'button', text: '重置', 'aria-label': `重置 ${s.account} 的密码与动态口令`, onclick: () => act(s, 'reset', `重置 ${s.account} 的密码与动态口令?`) }));
      }
      body.append(h('tr', {}, h('td', { text: s.account }), h('td', { text: s.name }),
        h('td', { text: `${ROLE[s.role]}${s.admin ? '管理员' : ''}` }), h('td', { text: s.area || '—' }),
        h('td', { text: s.disabled ? '已停用' : '正常' }), actions));
    }
  };
  const act = async (s, what, question) => {
    if (!window.confirm(question)) return;
    err.textContent = '';
    try {
      const v = await api('POST', `/v1/staff/accounts/${encodeURIComponent(s.account)}/${what}`);
      out.replaceChildren(v.enrolment_code
        ? h('p', {}, `${s.account} 的新激活码(72小时内有效,请当面交给本人):`, h('code', { text: v.enrolment_code }))
        : h('p', { text: `${s.account} 已停用` }));
      if (me.role !== 'centre' || district.value.trim()) await load();
    } catch (e) {
      fail(err, e);
    }
  };
  create.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const v = await api('POST', '/v1/staff/accounts', {
        account: account.value.trim(), name: name.value.trim(), role: role.value, area: area.value.trim(), admin: admin.checked,
      });
      out.replaceChildren(h('p', {}, `已创建 ${v.staff.account}。激活码(72小时内有效,请当面交给本人):`, h('code', { id: 'new-code', text: v.enrolment_code })));
      create.reset();
      if (me.role !== 'centre' || district.value.trim()) await load();
    } catch (e) {
      fail(err, e);
    }
  });
  const filter = me.role === 'centre'
    ? h('form', { id: 'staff-filter' }, field('考区代码', district), h('button', { type: 'submit', text: '查看' }))
    : null;
  if (filter) filter.addEventListener('submit', (ev) => { ev.preventDefault(); load().catch((e) => fail(err, e)); });
  show(h('h2', { text: '工作人员' }), filter, err, out,
    h('table', { id: 'staff-list' }, h('caption', { text: '账号' }),
      h('thead', {}, h('tr', {}, ['账号', '姓名', '角色', '范围', '状态', '操作'].map((t) => h('th', { scope: 'col', text: t })))), body),
    create);
  if (me.role !== 'centre' || district.value) load().catch((e) => fail(err, e));
}

// ---- Wiring --------------------------------------------------------------------------------

function route() {
  if (location.hash === '#enrol' && !state.token) enrolView();
  else if (!state.token) loginView();
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('nav [data-go]')) b.addEventListener('click', () => go(b.dataset.go));
  $('project').addEventListener('change', (ev) => {
    state.project = ev.target.value;
    sessionStorage.setItem('staff.project', state.project);
    go({ site: 'counter', centre: 'staff' }[state.me.role] || 'queue');
  });
  $('logout').addEventListener('click', async () => {
    await api('DELETE', '/v1/staff/sessions/current').catch(() => {});
    ended('已退出登录。', true);
  });
  window.addEventListener('hashchange', route);
  // A 401 has already sent the clerk to login with the server's reason; anything else ends the
  // session and says so (abandon).
  if (state.token) start().catch(abandon);
  else route();
});
