/* ui: see ui.h. */
#include "gateway/ui.h"
#include "gateway/gw.h"
#include "gateway/metrics.h"
#include "gateway/ops.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "gateway/sessions.h"
#include "upstream/ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the page: HTML, style sheet and script, as served ---- */

/* GET /ui */
static const char ui_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n"
	"<title>kalshi-gateway dashboard</title>\n"
	"<link rel=\"icon\" href=\"data:,\">\n"
	"<link rel=\"stylesheet\" href=\"/ui/app.css\">\n"
	"<script src=\"/ui/app.js\" defer></script>\n"
	"</head>\n"
	"<body data-auth=\"token\">\n"
	"<header id=\"bar\">\n"
	"  <div class=\"brand\">kalshi-gateway <span class=\"muted\">dashboard</span></div>\n"
	"  <span id=\"ready\" class=\"pill\">connecting</span>\n"
	"  <span id=\"feedmode\" class=\"pill muted\" title=\"How session events reach this page\">events: connecting</span>\n"
	"  <div class=\"spacer\"></div>\n"
	"  <span id=\"who\" class=\"muted\"></span>\n"
	"  <button id=\"start-session\" class=\"admin-only\" type=\"button\" hidden>Start session</button>\n"
	"  <button id=\"halt-all\" class=\"danger admin-only\" type=\"button\" hidden>Halt all</button>\n"
	"  <button id=\"signout\" type=\"button\" hidden>Sign out</button>\n"
	"</header>\n"
	"<div id=\"readonly-note\" class=\"banner\" hidden>Read-only view: this token may look but not act (session actions need an admin token).</div>\n"
	"<main id=\"main\" hidden>\n"
	"  <section class=\"card\" id=\"sessions-card\">\n"
	"    <h2>Sessions <span id=\"session-count\" class=\"muted\"></span>\n"
	"      <label class=\"toggle muted\"><input type=\"checkbox\" id=\"show-ended\"> show ended</label></h2>\n"
	"    <table id=\"sessions\">\n"
	"      <thead><tr>\n"
	"        <th>Session</th><th>Status</th><th>Order group</th><th>Contracts submitted</th>\n"
	"        <th>Contracts filled</th><th>Orders</th><th>Started</th><th>Heartbeat</th>\n"
	"        <th class=\"admin-only\" hidden>Actions</th>\n"
	"      </tr></thead>\n"
	"      <tbody></tbody>\n"
	"    </table>\n"
	"    <p id=\"no-sessions\" class=\"empty\">No sessions.</p>\n"
	"  </section>\n"
	"  <section class=\"charts\">\n"
	"    <div class=\"card chart\"><h3><span>Readiness</span><span id=\"ready-now\" class=\"val\"></span></h3><canvas id=\"chart-ready\"></canvas></div>\n"
	"    <div class=\"card chart\"><h3><span>Upstream latency (p50)</span><span id=\"lat-now\" class=\"val\"></span></h3><canvas id=\"chart-lat\"></canvas></div>\n"
	"    <div class=\"card chart\"><h3><span>Rate budget used <span class=\"legend\"><span class=\"c-read\">read</span><span class=\"c-write\">write</span></span></span><span id=\"rate-now\" class=\"val\"></span></h3><canvas id=\"chart-rate\"></canvas></div>\n"
	"  </section>\n"
	"  <section class=\"feeds\">\n"
	"    <div class=\"card\"><h2>Session events</h2><ol id=\"events\" class=\"feed\"></ol><p id=\"no-events\" class=\"empty\">No session events since this page opened.</p></div>\n"
	"    <div class=\"card\"><h2>Recent refusals</h2><ol id=\"refusals\" class=\"feed\"></ol><p id=\"no-refusals\" class=\"empty\">No refusals.</p></div>\n"
	"  </section>\n"
	"</main>\n"
	"<div id=\"login\" class=\"overlay\" hidden>\n"
	"  <div class=\"card login\">\n"
	"    <h2>Sign in to the gateway</h2>\n"
	"    <p class=\"muted\">Paste a client token. It stays in this tab only (sessionStorage) and is sent as <code>Authorization: Bearer</code>.</p>\n"
	"    <input id=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\" placeholder=\"token\" aria-label=\"token\">\n"
	"    <p id=\"login-error\" class=\"error\" hidden></p>\n"
	"    <div class=\"buttons\"><button id=\"login-btn\" class=\"primary\" type=\"button\">Sign in</button></div>\n"
	"  </div>\n"
	"</div>\n"
	"<dialog id=\"confirm\">\n"
	"  <h2 id=\"confirm-title\"></h2>\n"
	"  <p id=\"confirm-text\"></p>\n"
	"  <div id=\"confirm-fields\" hidden>\n"
	"    <label>Session name <input id=\"f-name\" type=\"text\" maxlength=\"64\" placeholder=\"default\" autocomplete=\"off\" spellcheck=\"false\"></label>\n"
	"    <label>Contracts limit <input id=\"f-limit\" type=\"number\" min=\"1\" max=\"1000000\" step=\"1\" value=\"100\"></label>\n"
	"  </div>\n"
	"  <p id=\"confirm-error\" class=\"error\" hidden></p>\n"
	"  <div class=\"buttons\"><button id=\"confirm-cancel\" type=\"button\">Cancel</button><button id=\"confirm-ok\" class=\"danger\" type=\"button\">Confirm</button></div>\n"
	"</dialog>\n"
	"<div id=\"toast\" role=\"status\" aria-live=\"polite\"></div>\n"
	"<noscript><p class=\"banner\">The dashboard needs JavaScript.</p></noscript>\n"
	"</body>\n"
	"</html>\n";

/* GET /ui/app.css */
static const char ui_css[] =
	"/* kalshi-gateway dashboard (served at /ui/app.css) */\n"
	":root {\n"
	"  --bg: #0e1319; --panel: #151c25; --line: #243040; --soft: #1c2531;\n"
	"  --text: #dce3ea; --muted: #8b98a9; --ok: #2fbf71; --warn: #e0a526; --bad: #e5484d;\n"
	"  --accent: #4c9aff; --write: #f08c3a;\n"
	"  color-scheme: dark;\n"
	"}\n"
	"* { box-sizing: border-box; }\n"
	"[hidden] { display: none !important; }\n"
	"html, body { margin: 0; background: var(--bg); color: var(--text);\n"
	"  font: 14px/1.4 system-ui, -apple-system, \"Segoe UI\", Roboto, \"DejaVu Sans\", sans-serif; }\n"
	"code { font: 12px ui-monospace, SFMono-Regular, Menlo, \"DejaVu Sans Mono\", monospace; }\n"
	"#bar { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; gap: 10px;\n"
	"  padding: 10px 16px; background: #0a0e13; border-bottom: 1px solid var(--line); }\n"
	".brand { font-weight: 650; font-size: 15px; margin-right: 6px; }\n"
	".spacer { flex: 1; }\n"
	".muted { color: var(--muted); }\n"
	".pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px;\n"
	"  border: 1px solid var(--line); white-space: nowrap; }\n"
	".pill.ok { background: rgba(47, 191, 113, .14); color: var(--ok); border-color: rgba(47, 191, 113, .45); }\n"
	".pill.bad { background: rgba(229, 72, 77, .14); color: #ff8a8d; border-color: rgba(229, 72, 77, .5); }\n"
	".pill.warn { background: rgba(224, 165, 38, .14); color: var(--warn); border-color: rgba(224, 165, 38, .45); }\n"
	"button { font: inherit; color: var(--text); background: #1f2935; border: 1px solid #334154;\n"
	"  border-radius: 6px; padding: 5px 12px; cursor: pointer; }\n"
	"button:hover { background: #283647; }\n"
	"button:focus-visible, input:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }\n"
	"button.primary { background: #2f6fd0; border-color: #4c9aff; color: #fff; }\n"
	"button.danger { background: #b3261e; border-color: #d8453c; color: #fff; font-weight: 600; }\n"
	"button.danger:hover { background: #cc2f26; }\n"
	"button.small { padding: 2px 9px; font-size: 12px; }\n"
	"button.small + button.small { margin-left: 4px; }\n"
	".banner { background: #1b2431; border-bottom: 1px solid var(--line); padding: 6px 16px;\n"
	"  color: var(--muted); font-size: 12.5px; margin: 0; }\n"
	"main { padding: 16px; display: grid; gap: 16px; max-width: 1500px; margin: 0 auto; }\n"
	".card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; min-width: 0; }\n"
	"h2 { font-size: 14px; margin: 0 0 10px; font-weight: 650; display: flex; align-items: center; gap: 10px; }\n"
	"h2 .toggle { margin-left: auto; font-size: 12px; font-weight: 400; display: flex; align-items: center; gap: 4px; }\n"
	"h3 { font-size: 12px; margin: 0 0 6px; color: var(--muted); font-weight: 600;\n"
	"  display: flex; justify-content: space-between; gap: 8px; }\n"
	"h3 .val { color: var(--text); font-variant-numeric: tabular-nums; }\n"
	"table { width: 100%; border-collapse: collapse; }\n"
	"th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .04em;\n"
	"  color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--line); }\n"
	"td { padding: 8px; border-bottom: 1px solid var(--soft); vertical-align: middle; }\n"
	"tbody tr:last-child td { border-bottom: 0; }\n"
	"tr.ended td { opacity: .55; }\n"
	"td.name strong { font-weight: 600; }\n"
	".sub { display: block; font-size: 11px; color: var(--muted); }\n"
	".status { font-weight: 600; text-transform: uppercase; font-size: 11.5px; letter-spacing: .04em; }\n"
	".status.active { color: var(--ok); }\n"
	".status.triggered { color: #ff6b6f; }\n"
	".status.ended { color: var(--muted); }\n"
	"code.group { color: #b8c4d2; max-width: 16ch; overflow: hidden; text-overflow: ellipsis;\n"
	"  display: inline-block; white-space: nowrap; vertical-align: bottom; }\n"
	".bar { width: 150px; height: 8px; background: #0c1116; border: 1px solid var(--line); border-radius: 4px; overflow: hidden; }\n"
	".bar > span { display: block; height: 100%; width: 0; background: var(--accent); transition: width .3s; }\n"
	".bar.warn > span { background: var(--warn); }\n"
	".bar.full > span { background: var(--bad); }\n"
	".bar.nocap > span { background: #56657a; }\n"
	".barlabel { font-size: 11px; color: var(--muted); margin-top: 3px; font-variant-numeric: tabular-nums; }\n"
	".num { font-variant-numeric: tabular-nums; }\n"
	".acc { color: var(--ok); }\n"
	".rej { color: #ff8a8d; }\n"
	".hb-ok { color: var(--ok); }\n"
	".hb-bad { color: #ff8a8d; font-weight: 600; }\n"
	".charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; }\n"
	"canvas { width: 100%; height: 120px; display: block; }\n"
	".legend { font-weight: 400; }\n"
	".legend span::before { content: \"\"; display: inline-block; width: 12px; height: 2px;\n"
	"  vertical-align: middle; margin: 0 4px 0 8px; background: currentColor; }\n"
	".c-read { color: var(--accent); }\n"
	".c-write { color: var(--write); }\n"
	".feeds { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }\n"
	".feed { list-style: none; margin: 0; padding: 0; max-height: 280px; overflow: auto; font-size: 12.5px; }\n"
	".feed li { padding: 5px 0; border-bottom: 1px solid var(--soft); display: flex; gap: 8px; align-items: baseline; }\n"
	".feed li:last-child { border-bottom: 0; }\n"
	".feed .t { color: var(--muted); font-variant-numeric: tabular-nums; flex: none; }\n"
	".feed .msg { color: var(--muted); overflow-wrap: anywhere; }\n"
	".feed .who { flex: none; }\n"
	".tag { font-size: 11px; padding: 0 6px; border-radius: 4px; background: #223043; flex: none; }\n"
	".tag.started { background: rgba(47, 191, 113, .16); color: var(--ok); }\n"
	".tag.triggered { background: rgba(229, 72, 77, .16); color: #ff8a8d; }\n"
	".tag.reset { background: rgba(76, 154, 255, .16); color: var(--accent); }\n"
	".tag.limit_updated { background: rgba(224, 165, 38, .16); color: var(--warn); }\n"
	".tag.ended { color: var(--muted); }\n"
	".tag.code { background: rgba(229, 72, 77, .14); color: #ff8a8d; }\n"
	".empty { color: var(--muted); font-size: 13px; margin: 6px 0 0; }\n"
	".overlay { position: fixed; inset: 0; background: rgba(5, 8, 12, .88); display: flex;\n"
	"  align-items: center; justify-content: center; z-index: 10; }\n"
	".login { width: 400px; }\n"
	".login p { font-size: 13px; }\n"
	"input { font: inherit; color: var(--text); background: #0c1116; border: 1px solid #334154;\n"
	"  border-radius: 6px; padding: 6px 8px; }\n"
	".login input { width: 100%; }\n"
	"dialog { background: var(--panel); color: var(--text); border: 1px solid var(--line);\n"
	"  border-radius: 10px; width: 400px; padding: 16px 18px; }\n"
	"dialog::backdrop { background: rgba(0, 0, 0, .6); }\n"
	"dialog label { display: block; margin: 8px 0; font-size: 13px; color: var(--muted); }\n"
	"dialog label input { display: block; width: 100%; margin-top: 3px; }\n"
	".buttons { display: flex; justify-content: flex-end; gap: 8px; margin-top: 14px; }\n"
	".error { color: #ff8a8d; font-size: 13px; }\n"
	"#toast { position: fixed; right: 16px; bottom: 16px; max-width: 460px; padding: 9px 14px;\n"
	"  border-radius: 8px; background: #1f2935; border: 1px solid #334154; opacity: 0;\n"
	"  transition: opacity .2s; pointer-events: none; z-index: 20; }\n"
	"#toast.show { opacity: 1; }\n"
	"#toast.error { border-color: var(--bad); color: #ffb1b3; }\n"
	"@media (max-width: 1000px) { .charts, .feeds { grid-template-columns: 1fr; } }\n";

/* GET /ui/app.js */
static const char ui_js[] =
	"/*\n"
	" * kalshi-gateway dashboard (served at /ui/app.js): plain JavaScript, no\n"
	" * dependencies, no build step. Talks to the gateway it was loaded from:\n"
	" * GET /ui/summary every second (sessions, readiness, latency, rate budget,\n"
	" * refusals), GET /session/events as a stream (fetch, since EventSource\n"
	" * cannot send Authorization), and the /session/* actions for admins.\n"
	" * Every value from the gateway goes into the page as text (textContent).\n"
	" */\n"
	"'use strict';\n"
	"(function () {\n"
	"  var TOKEN_KEY = 'kalshi-gateway.token';\n"
	"  var POLL_MS = 1000;\n"
	"  var HISTORY_MS = 5 * 60 * 1000;\n"
	"  var MAX_EVENTS = 100;\n"
	"  var NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;\n"
	"\n"
	"  var st = {\n"
	"    token: null,\n"
	"    started: false,\n"
	"    role: null,\n"
	"    admin: false,\n"
	"    rowsAdmin: null,\n"
	"    sessions: new Map(),   /* session_id -> S */\n"
	"    rows: new Map(),       /* session_id -> row parts */\n"
	"    primed: false,         /* first session list seen (no events made up for it) */\n"
	"    mode: 'connecting',    /* events: live | polling | connecting | reconnecting */\n"
	"    events: [],\n"
	"    hist: [],\n"
	"    refusalsKey: '',\n"
	"    pollTimer: null,\n"
	"    evTimer: null,\n"
	"    abort: null,\n"
	"    confirmResolve: null,\n"
	"    confirmFields: false,\n"
	"    toastTimer: null,\n"
	"    lastEventId: null\n"
	"  };\n"
	"  try { st.token = window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { st.token = null; }\n"
	"\n"
	"  function $(id) { return document.getElementById(id); }\n"
	"  function el(tag, cls, text) {\n"
	"    var e = document.createElement(tag);\n"
	"    if (cls) e.className = cls;\n"
	"    if (text !== undefined && text !== null) e.textContent = String(text);\n"
	"    return e;\n"
	"  }\n"
	"  function setText(e, text) { text = String(text); if (e.textContent !== text) e.textContent = text; }\n"
	"  function setClass(e, cls) { if (e.className !== cls) e.className = cls; }\n"
	"\n"
	"  /* ---------------------------------------------------------------- HTTP */\n"
	"  function headers(json) {\n"
	"    var h = {};\n"
	"    if (st.token) h.Authorization = 'Bearer ' + st.token;\n"
	"    if (json) h['Content-Type'] = 'application/json';\n"
	"    return h;\n"
	"  }\n"
	"  function api(method, path, body) {\n"
	"    var init = { method: method, headers: headers(body !== undefined), cache: 'no-store', credentials: 'omit' };\n"
	"    if (body !== undefined) init.body = JSON.stringify(body);\n"
	"    return fetch(path, init).then(function (res) {\n"
	"      return res.text().then(function (text) {\n"
	"        var json = null;\n"
	"        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }\n"
	"        return { status: res.status, json: json };\n"
	"      });\n"
	"    }, function () { return { status: 0, json: null }; });\n"
	"  }\n"
	"  function errText(r) {\n"
	"    if (r.status === 0) return 'the gateway is unreachable';\n"
	"    var e = r.json && r.json.error;\n"
	"    return e ? e.code + ': ' + e.message : 'HTTP ' + r.status;\n"
	"  }\n"
	"\n"
	"  /* -------------------------------------------------------------- format */\n"
	"  function pad(n) { return n < 10 ? '0' + n : String(n); }\n"
	"  function clock(ms) {\n"
	"    var d = new Date(ms);\n"
	"    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());\n"
	"  }\n"
	"  function when(iso) {\n"
	"    var ms = Date.parse(iso);\n"
	"    if (isNaN(ms)) return '';\n"
	"    var d = new Date(ms), now = new Date();\n"
	"    var day = d.toDateString() === now.toDateString() ? '' :\n"
	"      d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ';\n"
	"    return day + clock(ms);\n"
	"  }\n"
	"  function ago(ms) {\n"
	"    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));\n"
	"    if (s < 60) return s + ' s ago';\n"
	"    if (s < 3600) return Math.floor(s / 60) + ' min ago';\n"
	"    if (s < 86400) return Math.floor(s / 3600) + ' h ago';\n"
	"    return Math.floor(s / 86400) + ' d ago';\n"
	"  }\n"
	"  function num(v) {\n"
	"    if (v === null || v === undefined) return null;\n"
	"    var n = typeof v === 'number' ? v : parseFloat(v);\n"
	"    return isNaN(n) ? null : n;\n"
	"  }\n"
	"  function count(v) {\n"
	"    var n = num(v);\n"
	"    if (n === null) return '-';\n"
	"    return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0$/, '');\n"
	"  }\n"
	"\n"
	"  /* ------------------------------------------------------------- toasts */\n"
	"  function toast(text, isError) {\n"
	"    var t = $('toast');\n"
	"    t.textContent = text;\n"
	"    t.className = 'show' + (isError ? ' error' : '');\n"
	"    clearTimeout(st.toastTimer);\n"
	"    st.toastTimer = setTimeout(function () { t.className = ''; }, isError ? 7000 : 3500);\n"
	"  }\n"
	"\n"
	"  /* -------------------------------------------------------------- login */\n"
	"  function stopAll() {\n"
	"    st.started = false;\n"
	"    clearTimeout(st.pollTimer);\n"
	"    clearTimeout(st.evTimer);\n"
	"    if (st.abort) { st.abort.abort(); st.abort = null; }\n"
	"  }\n"
	"  function showLogin(message) {\n"
	"    stopAll();\n"
	"    $('main').hidden = true;\n"
	"    $('readonly-note').hidden = true;\n"
	"    $('signout').hidden = true;\n"
	"    setAdmin(false);\n"
	"    $('login').hidden = false;\n"
	"    $('login-error').hidden = !message;\n"
	"    $('login-error').textContent = message || '';\n"
	"    $('token').value = '';\n"
	"    $('token').focus();\n"
	"  }\n"
	"  function forgetToken() {\n"
	"    st.token = null;\n"
	"    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }\n"
	"  }\n"
	"  function signIn() {\n"
	"    var t = $('token').value.trim();\n"
	"    if (!t) return;\n"
	"    st.token = t;\n"
	"    $('login-btn').disabled = true;\n"
	"    api('GET', '/ui/summary').then(function (r) {\n"
	"      $('login-btn').disabled = false;\n"
	"      if (r.status === 200 && r.json) {\n"
	"        try { window.sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* kept in memory only */ }\n"
	"        begin(r.json);\n"
	"      } else {\n"
	"        forgetToken();\n"
	"        showLogin(r.status === 401 ? 'The gateway does not accept this token.' : errText(r));\n"
	"      }\n"
	"    });\n"
	"  }\n"
	"  function signOut(message) {\n"
	"    forgetToken();\n"
	"    st.sessions.clear();\n"
	"    st.primed = false;\n"
	"    clearRows();\n"
	"    showLogin(message);\n"
	"  }\n"
	"  function boot() {\n"
	"    /* the gateway says whether callers must identify (no clients and no\n"
	"     * admin token on loopback: everyone is the anonymous admin) */\n"
	"    if (!st.token && document.body.dataset.auth !== 'none') { showLogin(null); return; }\n"
	"    api('GET', '/ui/summary').then(function (r) {\n"
	"      if (r.status === 200 && r.json) {\n"
	"        begin(r.json);\n"
	"      } else if (r.status === 401) {\n"
	"        var had = !!st.token;\n"
	"        forgetToken();\n"
	"        showLogin(had ? 'The gateway no longer accepts the saved token.' : null);\n"
	"      } else {\n"
	"        setPill($('ready'), 'bad', r.status === 0 ? 'unreachable' : errText(r));\n"
	"        setTimeout(boot, 2000);\n"
	"      }\n"
	"    });\n"
	"  }\n"
	"  function begin(summary) {\n"
	"    $('login').hidden = true;\n"
	"    $('main').hidden = false;\n"
	"    $('signout').hidden = !st.token;\n"
	"    st.started = true;\n"
	"    applySummary(summary).then(schedulePoll);\n"
	"    connectEvents();\n"
	"  }\n"
	"\n"
	"  /* ------------------------------------------------------------- polling */\n"
	"  function schedulePoll() {\n"
	"    clearTimeout(st.pollTimer);\n"
	"    if (st.started) st.pollTimer = setTimeout(poll, POLL_MS);\n"
	"  }\n"
	"  function poll() {\n"
	"    if (!st.started) return;\n"
	"    api('GET', '/ui/summary').then(function (r) {\n"
	"      if (!st.started) return null;\n"
	"      if (r.status === 401) { signOut('The gateway no longer accepts this token.'); return null; }\n"
	"      if (r.status === 200 && r.json) return applySummary(r.json);\n"
	"      setPill($('ready'), 'bad', r.status === 0 ? 'unreachable' : errText(r));\n"
	"      record({ ready: null, lat: null, read: null, write: null });\n"
	"      return null;\n"
	"    }).then(schedulePoll, schedulePoll);\n"
	"  }\n"
	"  function refreshNow() {\n"
	"    clearTimeout(st.pollTimer);\n"
	"    poll();\n"
	"  }\n"
	"\n"
	"  function setPill(e, cls, text, title) {\n"
	"    setClass(e, 'pill ' + cls);\n"
	"    setText(e, text);\n"
	"    e.title = title || '';\n"
	"  }\n"
	"  function setAdmin(admin) {\n"
	"    st.admin = admin;\n"
	"    var list = document.querySelectorAll('.admin-only');\n"
	"    for (var i = 0; i < list.length; i++) list[i].hidden = !admin;\n"
	"  }\n"
	"\n"
	"  function applySummary(s) {\n"
	"    st.role = s.role;\n"
	"    setAdmin(s.role === 'admin');\n"
	"    $('readonly-note').hidden = s.role === 'admin';\n"
	"    setText($('who'), (s.client || '?') + ' \\u00b7 ' + String(s.role || '?').replace('_', '-'));\n"
	"    var reasons = Array.isArray(s.reasons) ? s.reasons.join('; ') : '';\n"
	"    if (s.ready) setPill($('ready'), 'ok', 'ready', 'GET /readyz: ready');\n"
	"    else setPill($('ready'), 'bad', 'not ready', reasons);\n"
	"    if (s.trading_active === false && s.ready) setPill($('ready'), 'warn', 'ready \\u00b7 trading paused', 'the exchange reports trading paused');\n"
	"    renderRefusals(Array.isArray(s.recent_refusals) ? s.recent_refusals : []);\n"
	"    var rb = s.rate_budget;\n"
	"    record({\n"
	"      ready: s.ready ? 1 : 0,\n"
	"      reasons: reasons,\n"
	"      lat: num(s.upstream_latency_ms),\n"
	"      read: rb && rb.read ? num(rb.read.used) : null,\n"
	"      write: rb && rb.write ? num(rb.write.used) : null,\n"
	"      rateOff: !rb\n"
	"    });\n"
	"    var list = Array.isArray(s.sessions) ? Promise.resolve(s.sessions) :\n"
	"      api('GET', '/sessions').then(function (r) {\n"
	"        return r.status === 200 && r.json && Array.isArray(r.json.sessions) ? r.json.sessions : null;\n"
	"      });\n"
	"    return list.then(function (sessions) { if (sessions && st.started) mergeSessions(sessions); });\n"
	"  }\n"
	"\n"
	"  /* ------------------------------------------------------------ sessions */\n"
	"  /* The event a change between two snapshots of a session amounts to. */\n"
	"  function changeEvent(old, s) {\n"
	"    if (!old) return s.status === 'ended' ? null : 'session_started';\n"
	"    if (old.status !== s.status) {\n"
	"      if (s.status === 'triggered') return 'session_triggered';\n"
	"      if (s.status === 'ended') return 'session_ended';\n"
	"      if (s.status === 'active') return 'session_reset';\n"
	"    }\n"
	"    if (old.contracts_limit !== s.contracts_limit ||\n"
	"        old.max_session_filled_contracts !== s.max_session_filled_contracts) return 'session_limit_updated';\n"
	"    if (old.order_group_id !== s.order_group_id) return 'session_reset';\n"
	"    return null;\n"
	"  }\n"
	"  function mergeSessions(list) {\n"
	"    var seen = new Set();\n"
	"    var synth = st.primed && st.mode !== 'live';\n"
	"    list.forEach(function (s) {\n"
	"      if (!s || !s.session_id) return;\n"
	"      seen.add(s.session_id);\n"
	"      if (synth) {\n"
	"        var ev = changeEvent(st.sessions.get(s.session_id), s);\n"
	"        if (ev) addEvent(ev, s);\n"
	"      }\n"
	"      st.sessions.set(s.session_id, s);\n"
	"    });\n"
	"    st.sessions.forEach(function (v, id) { if (!seen.has(id)) st.sessions.delete(id); });\n"
	"    st.primed = true;\n"
	"    renderSessions();\n"
	"  }\n"
	"  function takeSessions(json) {\n"
	"    if (!json) return;\n"
	"    var list = json.sessions || (json.session ? [json.session] : []);\n"
	"    list.forEach(function (s) {\n"
	"      if (!s || !s.session_id) return;\n"
	"      if (st.mode !== 'live') {\n"
	"        var ev = changeEvent(st.sessions.get(s.session_id), s);\n"
	"        if (ev) addEvent(ev, s);\n"
	"      }\n"
	"      st.sessions.set(s.session_id, s);\n"
	"    });\n"
	"    renderSessions();\n"
	"  }\n"
	"\n"
	"  function clearRows() {\n"
	"    st.rows.forEach(function (r) { r.tr.remove(); });\n"
	"    st.rows.clear();\n"
	"  }\n"
	"  function makeBar() {\n"
	"    var wrap = el('div'), bar = el('div', 'bar'), fill = el('span'), label = el('div', 'barlabel');\n"
	"    bar.appendChild(fill);\n"
	"    wrap.appendChild(bar);\n"
	"    wrap.appendChild(label);\n"
	"    return { wrap: wrap, bar: bar, fill: fill, label: label };\n"
	"  }\n"
	"  function setBar(b, value, cap) {\n"
	"    var v = num(value) || 0, c = num(cap);\n"
	"    if (c && c > 0) {\n"
	"      var pct = Math.min(100, v / c * 100);\n"
	"      b.fill.style.width = pct.toFixed(1) + '%';\n"
	"      setClass(b.bar, 'bar' + (v >= c ? ' full' : pct >= 80 ? ' warn' : ''));\n"
	"      setText(b.label, count(value) + ' / ' + count(cap) + '  (' + Math.round(pct) + '%)');\n"
	"    } else {\n"
	"      b.fill.style.width = v > 0 ? '100%' : '0%';\n"
	"      setClass(b.bar, 'bar nocap');\n"
	"      setText(b.label, count(value) + ' (no cap)');\n"
	"    }\n"
	"  }\n"
	"  function actionButton(label, cls, handler) {\n"
	"    var b = el('button', 'small action ' + cls, label);\n"
	"    b.type = 'button';\n"
	"    b.addEventListener('click', handler);\n"
	"    return b;\n"
	"  }\n"
	"  function makeRow(s) {\n"
	"    var r = { tr: el('tr'), id: s.session_id, name: s.name };\n"
	"    r.tr.dataset.name = s.name;\n"
	"    r.tr.dataset.sessionId = s.session_id;\n"
	"    var c = function (cls) { var td = el('td', cls); r.tr.appendChild(td); return td; };\n"
	"    var name = c('name');\n"
	"    r.nameEl = el('strong', null, s.name);\n"
	"    r.subEl = el('span', 'sub');\n"
	"    name.appendChild(r.nameEl);\n"
	"    name.appendChild(r.subEl);\n"
	"    var status = c('status-cell');\n"
	"    r.statusEl = el('span', 'status');\n"
	"    r.reasonEl = el('span', 'sub reason');\n"
	"    status.appendChild(r.statusEl);\n"
	"    status.appendChild(r.reasonEl);\n"
	"    r.groupEl = el('code', 'group');\n"
	"    c('').appendChild(r.groupEl);\n"
	"    r.sub = makeBar();\n"
	"    c('').appendChild(r.sub.wrap);\n"
	"    r.fill = makeBar();\n"
	"    c('').appendChild(r.fill.wrap);\n"
	"    var orders = c('num orders');\n"
	"    r.accEl = el('span', 'acc');\n"
	"    r.rejEl = el('span', 'rej');\n"
	"    orders.appendChild(r.accEl);\n"
	"    orders.appendChild(document.createTextNode(' accepted \\u00b7 '));\n"
	"    orders.appendChild(r.rejEl);\n"
	"    orders.appendChild(document.createTextNode(' refused'));\n"
	"    var started = c('');\n"
	"    r.startEl = el('span', 'num');\n"
	"    r.agoEl = el('span', 'sub');\n"
	"    started.appendChild(r.startEl);\n"
	"    started.appendChild(r.agoEl);\n"
	"    var hb = c('');\n"
	"    r.hbEl = el('span');\n"
	"    r.hbSubEl = el('span', 'sub');\n"
	"    hb.appendChild(r.hbEl);\n"
	"    hb.appendChild(r.hbSubEl);\n"
	"    if (st.admin) {\n"
	"      var act = c('actions');\n"
	"      var who = function () { return st.sessions.get(r.id) || { name: r.name }; };\n"
	"      r.resetBtn = actionButton('Reset', 'reset', function () { sessionAction('reset', who()); });\n"
	"      r.haltBtn = actionButton('Halt', 'halt', function () { sessionAction('halt', who()); });\n"
	"      r.endBtn = actionButton('End', 'end', function () { sessionAction('end', who()); });\n"
	"      act.appendChild(r.resetBtn);\n"
	"      act.appendChild(r.haltBtn);\n"
	"      act.appendChild(r.endBtn);\n"
	"    }\n"
	"    return r;\n"
	"  }\n"
	"  function updateRow(r, s) {\n"
	"    setClass(r.tr, s.status === 'ended' ? 'ended' : '');\n"
	"    setText(r.subEl, 'subaccount ' + (s.subaccount === undefined ? '-' : s.subaccount) +\n"
	"      (s.exchange_index ? ' \\u00b7 exchange ' + s.exchange_index : ''));\n"
	"    setClass(r.statusEl, 'status ' + s.status);\n"
	"    setText(r.statusEl, s.status);\n"
	"    setText(r.reasonEl, s.status_reason ? s.status_reason.replace('_', ' ') : '');\n"
	"    setText(r.groupEl, s.order_group_id || '-');\n"
	"    r.groupEl.title = s.order_group_id || '';\n"
	"    setBar(r.sub, s.contracts_submitted, s.contracts_limit);\n"
	"    setBar(r.fill, s.contracts_filled, s.max_session_filled_contracts);\n"
	"    setText(r.accEl, count(s.orders_accepted));\n"
	"    setText(r.rejEl, count(s.orders_rejected));\n"
	"    var started = Date.parse(s.started_at);\n"
	"    setText(r.startEl, when(s.started_at));\n"
	"    setText(r.agoEl, s.status === 'ended' && s.ended_at ? 'ended ' + when(s.ended_at)\n"
	"      : isNaN(started) ? '' : ago(started));\n"
	"    r.startEl.title = s.started_at || '';\n"
	"    var hb = 'off', hbCls = 'muted', hbSub = '';\n"
	"    if (s.status === 'ended') {\n"
	"      hb = '-';\n"
	"    } else if (s.status_reason === 'dead_man') {\n"
	"      hb = 'lapsed'; hbCls = 'hb-bad';\n"
	"    } else if (s.heartbeat_timeout_s !== null && s.heartbeat_timeout_s !== undefined) {\n"
	"      hb = 'armed'; hbCls = 'hb-ok';\n"
	"      hbSub = 'timeout ' + s.heartbeat_timeout_s + ' s';\n"
	"      var last = Date.parse(s.last_heartbeat_at);\n"
	"      if (!isNaN(last)) hbSub += ' \\u00b7 last ' + ago(last);\n"
	"    }\n"
	"    setText(r.hbEl, hb);\n"
	"    setClass(r.hbEl, hbCls);\n"
	"    setText(r.hbSubEl, hbSub);\n"
	"    if (r.resetBtn) {\n"
	"      r.resetBtn.hidden = s.status === 'ended';\n"
	"      r.haltBtn.hidden = s.status !== 'active';\n"
	"      r.endBtn.hidden = s.status === 'ended';\n"
	"    }\n"
	"  }\n"
	"  function rank(s) { return s.status === 'active' ? 0 : s.status === 'triggered' ? 0 : 1; }\n"
	"  function renderSessions() {\n"
	"    if (st.rowsAdmin !== st.admin) { clearRows(); st.rowsAdmin = st.admin; }\n"
	"    var showEnded = $('show-ended').checked;\n"
	"    var all = Array.from(st.sessions.values());\n"
	"    all.sort(function (a, b) {\n"
	"      if (rank(a) !== rank(b)) return rank(a) - rank(b);\n"
	"      var ta = Date.parse(rank(a) ? a.ended_at || a.started_at : a.started_at) || 0;\n"
	"      var tb = Date.parse(rank(b) ? b.ended_at || b.started_at : b.started_at) || 0;\n"
	"      return tb - ta;\n"
	"    });\n"
	"    var live = all.filter(function (s) { return s.status !== 'ended'; });\n"
	"    var shown = showEnded ? all : live;\n"
	"    var tbody = document.querySelector('#sessions tbody');\n"
	"    var keep = new Set();\n"
	"    shown.forEach(function (s, i) {\n"
	"      var r = st.rows.get(s.session_id);\n"
	"      if (!r) { r = makeRow(s); st.rows.set(s.session_id, r); }\n"
	"      keep.add(s.session_id);\n"
	"      updateRow(r, s);\n"
	"      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);\n"
	"    });\n"
	"    st.rows.forEach(function (r, id) { if (!keep.has(id)) { r.tr.remove(); st.rows.delete(id); } });\n"
	"    var ended = all.length - live.length;\n"
	"    setText($('session-count'), live.length + ' live' + (ended ? ' \\u00b7 ' + ended + ' ended' : ''));\n"
	"    $('no-sessions').hidden = shown.length > 0;\n"
	"    setText($('no-sessions'), live.length === 0 && ended && !showEnded\n"
	"      ? 'No live sessions (' + ended + ' ended: tick \"show ended\").' : 'No sessions.');\n"
	"  }\n"
	"\n"
	"  /* ------------------------------------------------------------- actions */\n"
	"  function confirmDialog(opt) {\n"
	"    if (st.confirmResolve) st.confirmResolve(null);\n"
	"    setText($('confirm-title'), opt.title);\n"
	"    setText($('confirm-text'), opt.text);\n"
	"    setText($('confirm-ok'), opt.ok);\n"
	"    $('confirm-ok').className = opt.danger ? 'danger' : 'primary';\n"
	"    $('confirm-fields').hidden = !opt.fields;\n"
	"    $('confirm-error').hidden = true;\n"
	"    st.confirmFields = !!opt.fields;\n"
	"    if (opt.fields) { $('f-name').value = ''; $('f-limit').value = '100'; }\n"
	"    var d = $('confirm');\n"
	"    if (!d.open) d.showModal();\n"
	"    (opt.fields ? $('f-name') : $('confirm-cancel')).focus();\n"
	"    return new Promise(function (resolve) { st.confirmResolve = resolve; });\n"
	"  }\n"
	"  function closeConfirm(value) {\n"
	"    var resolve = st.confirmResolve;\n"
	"    st.confirmResolve = null;\n"
	"    if ($('confirm').open) $('confirm').close();\n"
	"    if (resolve) resolve(value);\n"
	"  }\n"
	"  function confirmOk() {\n"
	"    var value = {};\n"
	"    if (st.confirmFields) {\n"
	"      var name = $('f-name').value.trim(), limit = $('f-limit').value.trim();\n"
	"      var err = name && !NAME_RE.test(name) ? 'Names are 1 to 64 of A-Z a-z 0-9 _ -.'\n"
	"        : !/^[0-9]{1,7}$/.test(limit) || +limit < 1 || +limit > 1000000 ? 'The limit is a whole number from 1 to 1,000,000.' : '';\n"
	"      if (err) { $('confirm-error').textContent = err; $('confirm-error').hidden = false; return; }\n"
	"      value = { name: name, limit: +limit };\n"
	"    }\n"
	"    closeConfirm(value);\n"
	"  }\n"
	"  function run(label, method, path, body) {\n"
	"    return api(method, path, body).then(function (r) {\n"
	"      if (r.status >= 200 && r.status < 300) {\n"
	"        takeSessions(r.json);\n"
	"        toast(label + ': done');\n"
	"      } else {\n"
	"        toast(label + ' failed: ' + errText(r), true);\n"
	"      }\n"
	"      refreshNow();\n"
	"    });\n"
	"  }\n"
	"  var TEXTS = {\n"
	"    reset: ['Reset session', 'Reset the order group of session \"%s\"? Orders are accepted again.', 'Reset', false],\n"
	"    halt: ['Halt session', 'Halt session \"%s\"? Its order group is triggered: Kalshi cancels its resting orders and refuses new ones until a reset.', 'Halt', true],\n"
	"    end: ['End session', 'End session \"%s\"? Its order group is deleted and Kalshi cancels every resting order in it.', 'End session', true]\n"
	"  };\n"
	"  function sessionAction(op, s) {\n"
	"    var t = TEXTS[op];\n"
	"    confirmDialog({ title: t[0], text: t[1].replace('%s', s.name), ok: t[2], danger: t[3] }).then(function (v) {\n"
	"      if (v) run(t[0] + ' ' + s.name, 'POST', '/session/' + op, { name: s.name });\n"
	"    });\n"
	"  }\n"
	"  function haltAll() {\n"
	"    var n = 0;\n"
	"    st.sessions.forEach(function (s) { if (s.status === 'active') n++; });\n"
	"    confirmDialog({\n"
	"      title: 'Halt all sessions',\n"
	"      text: 'Trigger the order group of every active session (' + n + ' now)? Kalshi cancels their resting orders and refuses new ones until each is reset.',\n"
	"      ok: 'Halt all', danger: true\n"
	"    }).then(function (v) {\n"
	"      if (v) run('Halt all', 'POST', '/session/halt', { all: true });\n"
	"    });\n"
	"  }\n"
	"  function startSession() {\n"
	"    confirmDialog({\n"
	"      title: 'Start a session',\n"
	"      text: 'Creates a Kalshi order group with this contracts limit; every order create goes into it.',\n"
	"      ok: 'Start', danger: false, fields: true\n"
	"    }).then(function (v) {\n"
	"      if (!v) return;\n"
	"      var body = { contracts_limit: v.limit };\n"
	"      if (v.name) body.name = v.name;\n"
	"      run('Start ' + (v.name || 'default'), 'POST', '/session/start', body);\n"
	"    });\n"
	"  }\n"
	"\n"
	"  /* -------------------------------------------------------------- events */\n"
	"  var MODE_TEXT = {\n"
	"    live: ['ok', 'events: live', 'GET /session/events is streaming'],\n"
	"    polling: ['warn', 'events: polling 1 s', 'no event stream: changes are seen by polling /ui/summary every second'],\n"
	"    connecting: ['', 'events: connecting', ''],\n"
	"    reconnecting: ['warn', 'events: reconnecting', 'the event stream dropped; polling meanwhile']\n"
	"  };\n"
	"  function setMode(mode) {\n"
	"    st.mode = mode;\n"
	"    var m = MODE_TEXT[mode];\n"
	"    setPill($('feedmode'), m[0] || 'muted', m[1], m[2]);\n"
	"  }\n"
	"  function addEvent(name, s) {\n"
	"    st.events.unshift({ t: Date.now(), name: String(name || 'message'), s: s });\n"
	"    if (st.events.length > MAX_EVENTS) st.events.length = MAX_EVENTS;\n"
	"    var ol = $('events'), e = st.events[0];\n"
	"    var short = e.name.replace(/^session_/, '');\n"
	"    var li = el('li');\n"
	"    li.appendChild(el('span', 't', clock(e.t)));\n"
	"    li.appendChild(el('span', 'tag ' + short, short.replace('_', ' ')));\n"
	"    li.appendChild(el('strong', 'who', s.name || '?'));\n"
	"    var detail = s.status + (s.status_reason ? ' (' + s.status_reason + ')' : '');\n"
	"    if (short === 'limit_updated' || short === 'started') detail += ' \\u00b7 limit ' + s.contracts_limit;\n"
	"    li.appendChild(el('span', 'msg', detail));\n"
	"    ol.insertBefore(li, ol.firstChild);\n"
	"    while (ol.children.length > MAX_EVENTS) ol.removeChild(ol.lastChild);\n"
	"    $('no-events').hidden = true;\n"
	"  }\n"
	"  function handleSse(block) {\n"
	"    var event = 'message', data = [], id = null;\n"
	"    block.split('\\n').forEach(function (line) {\n"
	"      if (!line || line.charAt(0) === ':') return;\n"
	"      var i = line.indexOf(':');\n"
	"      var field = i < 0 ? line : line.slice(0, i);\n"
	"      var value = i < 0 ? '' : line.slice(i + 1);\n"
	"      if (value.charAt(0) === ' ') value = value.slice(1);\n"
	"      if (field === 'event') event = value;\n"
	"      else if (field === 'data') data.push(value);\n"
	"      else if (field === 'id') id = value;\n"
	"    });\n"
	"    if (id !== null) st.lastEventId = id;\n"
	"    if (!data.length) return;\n"
	"    var obj;\n"
	"    try { obj = JSON.parse(data.join('\\n')); } catch (e) { return; }\n"
	"    var list = obj && Array.isArray(obj.sessions) ? obj.sessions : [obj && obj.session ? obj.session : obj];\n"
	"    list.forEach(function (s) {\n"
	"      if (!s || typeof s !== 'object' || !s.session_id) return;\n"
	"      st.sessions.set(s.session_id, s);\n"
	"      addEvent(event, s);\n"
	"    });\n"
	"    renderSessions();\n"
	"  }\n"
	"  function retryEvents(ms) {\n"
	"    if (!st.started) return;\n"
	"    setMode('reconnecting');\n"
	"    clearTimeout(st.evTimer);\n"
	"    st.evTimer = setTimeout(connectEvents, ms || 2000);\n"
	"  }\n"
	"  function connectEvents() {\n"
	"    if (!st.started || typeof AbortController === 'undefined') { setMode('polling'); return; }\n"
	"    if (st.abort) st.abort.abort();\n"
	"    var ctl = new AbortController();\n"
	"    st.abort = ctl;\n"
	"    if (st.mode !== 'reconnecting') setMode('connecting');\n"
	"    var h = headers(false);\n"
	"    h.Accept = 'text/event-stream';\n"
	"    if (st.lastEventId) h['Last-Event-ID'] = st.lastEventId;  /* a reconnect replays what it missed */\n"
	"    fetch('/session/events', { headers: h, cache: 'no-store', credentials: 'omit', signal: ctl.signal }).then(function (res) {\n"
	"      if (ctl.signal.aborted) return;\n"
	"      var type = res.headers.get('Content-Type') || '';\n"
	"      if (res.status === 404) { setMode('polling'); cancelBody(res); return; }\n"
	"      if (res.status === 401) { cancelBody(res); signOut('The gateway no longer accepts this token.'); return; }\n"
	"      if (res.status !== 200 || !res.body || type.indexOf('text/event-stream') !== 0) {\n"
	"        cancelBody(res);\n"
	"        retryEvents(5000);\n"
	"        return;\n"
	"      }\n"
	"      setMode('live');\n"
	"      var reader = res.body.getReader(), dec = new TextDecoder(), buf = '', cr = false;\n"
	"      var pump = function () {\n"
	"        return reader.read().then(function (chunk) {\n"
	"          if (chunk.done) { if (!ctl.signal.aborted) retryEvents(); return; }\n"
	"          var text = (cr ? '\\r' : '') + dec.decode(chunk.value, { stream: true });\n"
	"          cr = text.charAt(text.length - 1) === '\\r';\n"
	"          if (cr) text = text.slice(0, -1);\n"
	"          buf += text.replace(/\\r\\n|\\r/g, '\\n');\n"
	"          var i;\n"
	"          while ((i = buf.indexOf('\\n\\n')) >= 0) {\n"
	"            var block = buf.slice(0, i);\n"
	"            buf = buf.slice(i + 2);\n"
	"            handleSse(block);\n"
	"          }\n"
	"          return pump();\n"
	"        });\n"
	"      };\n"
	"      return pump();\n"
	"    }).catch(function () { if (!ctl.signal.aborted) retryEvents(); });\n"
	"  }\n"
	"  function cancelBody(res) {\n"
	"    try { if (res.body) res.body.cancel(); } catch (e) { /* already closed */ }\n"
	"  }\n"
	"\n"
	"  /* ----------------------------------------------------------- refusals */\n"
	"  function renderRefusals(list) {\n"
	"    var key = list.length ? list.length + '|' + list[0].ts + '|' + list[0].request_id : '';\n"
	"    if (key === st.refusalsKey) return;\n"
	"    st.refusalsKey = key;\n"
	"    var ol = $('refusals');\n"
	"    while (ol.firstChild) ol.removeChild(ol.firstChild);\n"
	"    list.forEach(function (f) {\n"
	"      var li = el('li');\n"
	"      var t = Date.parse(f.ts);\n"
	"      li.appendChild(el('span', 't', isNaN(t) ? '' : clock(t)));\n"
	"      li.appendChild(el('span', 'tag code', f.code));\n"
	"      li.appendChild(el('strong', 'who', f.client || '-'));\n"
	"      var what = (f.method ? f.method + ' ' : '') + (f.path || '');\n"
	"      li.appendChild(el('span', 'msg', (what ? what + ': ' : '') + (f.message || '')));\n"
	"      ol.appendChild(li);\n"
	"    });\n"
	"    $('no-refusals').hidden = list.length > 0;\n"
	"  }\n"
	"\n"
	"  /* -------------------------------------------------------------- charts */\n"
	"  function record(p) {\n"
	"    p.t = Date.now();\n"
	"    st.hist.push(p);\n"
	"    var cut = p.t - HISTORY_MS;\n"
	"    while (st.hist.length && st.hist[0].t < cut) st.hist.shift();\n"
	"    var last = st.hist[st.hist.length - 1];\n"
	"    setText($('ready-now'), last.ready === null ? 'no answer' : last.ready ? 'ready' : 'not ready');\n"
	"    setText($('lat-now'), last.lat === null ? '-' : fmtMs(last.lat));\n"
	"    setText($('rate-now'), last.rateOff ? 'no limiter' : last.read === null && last.write === null ? '-'\n"
	"      : 'read ' + fmtPct(last.read) + ' \\u00b7 write ' + fmtPct(last.write));\n"
	"    drawCharts();\n"
	"  }\n"
	"  function fmtMs(v) { return v === null ? '-' : v >= 100 ? Math.round(v) + ' ms' : v >= 10 ? v.toFixed(1) + ' ms' : v.toFixed(2) + ' ms'; }\n"
	"  function fmtPct(v) { return v === null || v === undefined ? '-' : Math.round(v * 100) + '%'; }\n"
	"  function niceCeil(v) {\n"
	"    if (!(v > 0)) return 1;\n"
	"    var p = Math.pow(10, Math.floor(Math.log10(v)));\n"
	"    var m = [1, 2, 5, 10];\n"
	"    for (var i = 0; i < m.length; i++) if (m[i] * p >= v) return m[i] * p;\n"
	"    return 10 * p;\n"
	"  }\n"
	"  function frame(cv) {\n"
	"    var dpr = window.devicePixelRatio || 1, w = cv.clientWidth, h = cv.clientHeight;\n"
	"    if (!w || !h) return null;\n"
	"    var W = Math.round(w * dpr), H = Math.round(h * dpr);\n"
	"    if (cv.width !== W) cv.width = W;\n"
	"    if (cv.height !== H) cv.height = H;\n"
	"    var g = cv.getContext('2d');\n"
	"    g.setTransform(dpr, 0, 0, dpr, 0, 0);\n"
	"    g.clearRect(0, 0, w, h);\n"
	"    g.font = '10px system-ui, sans-serif';\n"
	"    /* the last 5 minutes, or since the page opened (at least a minute) */\n"
	"    var now = Date.now(), first = st.hist.length ? st.hist[0].t : now;\n"
	"    var span = Math.min(HISTORY_MS, Math.max(60000, now - first));\n"
	"    var f = { g: g, w: w, h: h, l: 44, r: 6, t: 6, b: 16, t0: now - span };\n"
	"    f.x = function (t) { return f.l + (t - f.t0) / span * (w - f.l - f.r); };\n"
	"    g.fillStyle = '#6f7d8f';\n"
	"    g.textAlign = 'left';\n"
	"    g.fillText(span >= 120000 ? '-' + Math.round(span / 60000) + ' min' : '-' + Math.round(span / 1000) + ' s', f.l, h - 3);\n"
	"    g.textAlign = 'right';\n"
	"    g.fillText('now', w - f.r, h - 3);\n"
	"    return f;\n"
	"  }\n"
	"  function grid(f, max, fmt) {\n"
	"    var g = f.g;\n"
	"    f.y = function (v) { return f.t + (1 - v / max) * (f.h - f.t - f.b); };\n"
	"    g.strokeStyle = '#243040';\n"
	"    g.lineWidth = 1;\n"
	"    g.textAlign = 'right';\n"
	"    g.fillStyle = '#6f7d8f';\n"
	"    for (var k = 0; k <= 2; k++) {\n"
	"      var v = max * k / 2, y = Math.round(f.y(v)) + 0.5;\n"
	"      g.beginPath();\n"
	"      g.moveTo(f.l, y);\n"
	"      g.lineTo(f.w - f.r, y);\n"
	"      g.stroke();\n"
	"      g.fillText(fmt(v), f.l - 5, y + 3);\n"
	"    }\n"
	"  }\n"
	"  function line(f, key, color, max) {\n"
	"    var g = f.g, pen = false, any = false, h = st.hist;\n"
	"    var has = function (i) { return i >= 0 && i < h.length && h[i][key] !== null && h[i][key] !== undefined; };\n"
	"    g.strokeStyle = color;\n"
	"    g.fillStyle = color;\n"
	"    g.lineWidth = 1.6;\n"
	"    g.beginPath();\n"
	"    h.forEach(function (p, i) {\n"
	"      if (!has(i)) { pen = false; return; }\n"
	"      var x = f.x(p.t), y = f.y(Math.max(0, Math.min(p[key], max)));\n"
	"      if (pen) g.lineTo(x, y); else g.moveTo(x, y);\n"
	"      if (!has(i - 1) && !has(i + 1)) g.fillRect(x - 1.5, y - 1.5, 3, 3);  /* a lone point */\n"
	"      pen = true;\n"
	"      any = true;\n"
	"    });\n"
	"    g.stroke();\n"
	"    return any;\n"
	"  }\n"
	"  function empty(f, text) {\n"
	"    f.g.fillStyle = '#6f7d8f';\n"
	"    f.g.textAlign = 'center';\n"
	"    f.g.fillText(text, (f.l + f.w - f.r) / 2, (f.t + f.h - f.b) / 2 + 3);\n"
	"  }\n"
	"  function drawCharts() {\n"
	"    var f = frame($('chart-ready'));\n"
	"    if (f) {\n"
	"      var g = f.g, top = f.t + 8, hgt = f.h - f.t - f.b - 16;\n"
	"      g.fillStyle = '#6f7d8f';\n"
	"      g.textAlign = 'right';\n"
	"      g.fillText('ready', f.l - 5, top + 10);\n"
	"      g.fillText('not', f.l - 5, top + hgt - 2);\n"
	"      st.hist.forEach(function (p, i) {\n"
	"        var next = st.hist[i + 1], x0 = Math.max(f.l, f.x(p.t)), x1 = next ? f.x(next.t) : f.x(Date.now());\n"
	"        if (x1 <= f.l) return;\n"
	"        g.fillStyle = p.ready === null ? '#3a4656' : p.ready ? '#2fbf71' : '#e5484d';\n"
	"        var y = p.ready ? top : top + hgt / 2, hh = p.ready === null ? hgt : hgt / 2;\n"
	"        if (p.ready === null) y = top;\n"
	"        g.globalAlpha = p.ready === null ? 0.5 : 0.85;\n"
	"        g.fillRect(x0, y, Math.max(1, x1 - x0 + 0.5), hh);\n"
	"        g.globalAlpha = 1;\n"
	"      });\n"
	"      if (!st.hist.length) empty(f, 'waiting for data');\n"
	"    }\n"
	"    f = frame($('chart-lat'));\n"
	"    if (f) {\n"
	"      var max = 0;\n"
	"      st.hist.forEach(function (p) { if (p.lat !== null && p.lat > max) max = p.lat; });\n"
	"      max = niceCeil(max * 1.1);\n"
	"      grid(f, max, function (v) { return (v >= 10 || v === 0 ? Math.round(v) : v.toFixed(1)) + ' ms'; });\n"
	"      if (!line(f, 'lat', '#4c9aff', max)) empty(f, 'no forwarded requests yet');\n"
	"    }\n"
	"    f = frame($('chart-rate'));\n"
	"    if (f) {\n"
	"      grid(f, 1, function (v) { return Math.round(v * 100) + '%'; });\n"
	"      var a = line(f, 'read', '#4c9aff', 1), b = line(f, 'write', '#f08c3a', 1);\n"
	"      if (!a && !b) empty(f, st.hist.length && st.hist[st.hist.length - 1].rateOff ? 'rate limiter off' : 'no data yet');\n"
	"    }\n"
	"  }\n"
	"\n"
	"  /* --------------------------------------------------------------- wiring */\n"
	"  function wire() {\n"
	"    $('login-btn').addEventListener('click', signIn);\n"
	"    $('token').addEventListener('keydown', function (e) { if (e.key === 'Enter') signIn(); });\n"
	"    $('signout').addEventListener('click', function () { signOut(null); });\n"
	"    $('halt-all').addEventListener('click', haltAll);\n"
	"    $('start-session').addEventListener('click', startSession);\n"
	"    $('confirm-ok').addEventListener('click', confirmOk);\n"
	"    $('confirm-cancel').addEventListener('click', function () { closeConfirm(null); });\n"
	"    $('confirm').addEventListener('cancel', function (e) { e.preventDefault(); closeConfirm(null); });\n"
	"    $('f-limit').addEventListener('keydown', function (e) { if (e.key === 'Enter') confirmOk(); });\n"
	"    $('f-name').addEventListener('keydown', function (e) { if (e.key === 'Enter') confirmOk(); });\n"
	"    $('show-ended').addEventListener('change', renderSessions);\n"
	"    window.addEventListener('resize', drawCharts);\n"
	"    setInterval(function () { if (st.started) renderSessions(); }, 5000);\n"
	"  }\n"
	"  wire();\n"
	"  boot();\n"
	"}());\n";

/* Strict: the page's own script and style sheet only (no inline code),
 * requests to its own origin only, no framing, no forms, no base. */
#define UI_CSP "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; " \
	       "style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/*
 * The session list as GET /sessions answers it. The sessions module does
 * not export it yet: the reference is weak, so until it does the summary
 * leaves "sessions" out and the page calls GET /sessions itself.
 */
json_t *sessions_list_json(struct sessions *s) __attribute__((weak));

/* ---- recent refusals: a ring of the last UI_REFUSALS ---- */

#define UI_REFUSALS 50

struct ui_refusal {
	const void *rq;                /* identity only: one note per request */
	int64_t ts_ms;                 /* wall clock */
	char client[64];
	char code[40];
	char message[240];
	char method[16];
	char path[160];
	char request_id[72];
};

static pthread_mutex_t ui_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ui_refusal ui_ring[UI_REFUSALS];
static size_t ui_ring_next, ui_ring_count;

/* Wall-clock Unix milliseconds. */
static int64_t ui_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC with milliseconds, as the session object's times. */
static void ui_time(int64_t ms, char *buf, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Copies at most len bytes of src (NULL = "") into dst. ascii: bytes
 * outside printable ASCII become '?' (paths of refused requests may hold
 * anything); otherwise UTF-8 is kept and a sequence cut by the cap is
 * dropped, so the copy stays valid UTF-8 when the source was. */
static void ui_copy(char *dst, size_t cap, const char *src, size_t len, int ascii)
{
	size_t n = 0;

	if (!src)
		src = "";
	for (; n + 1 < cap && n < len && src[n]; n++) {
		unsigned char c = (unsigned char)src[n];
		dst[n] = (char)(ascii && (c < 0x20 || c >= 0x7f) ? '?' : c);
	}
	dst[n] = '\0';
	if (!ascii && n < len && src[n]) {
		/* cut: drop a trailing incomplete sequence */
		size_t i = n;
		while (i > 0 && ((unsigned char)dst[i - 1] & 0xC0) == 0x80)
			i--;
		if (i > 0 && ((unsigned char)dst[i - 1] & 0x80))
			dst[i - 1] = '\0';
	}
}

void ui_note_refusal(const struct request *rq, const char *code, const char *message)
{
	struct ui_refusal r;

	r.ts_ms = ui_wall_ms();
	ui_copy(r.client, sizeof r.client, rq->client ? rq->client : "-", SIZE_MAX, 1);
	ui_copy(r.code, sizeof r.code, code, SIZE_MAX, 1);
	ui_copy(r.message, sizeof r.message, message, SIZE_MAX, 0);
	ui_copy(r.method, sizeof r.method, rq->method, SIZE_MAX, 1);
	ui_copy(r.path, sizeof r.path, rq->target, rq->target ? rq->path_len : 0, 1);
	ui_copy(r.request_id, sizeof r.request_id, rq->request_id, SIZE_MAX, 1);
	r.rq = rq;
	pthread_mutex_lock(&ui_lock);
	if (ui_ring_count) {
		/* the same refusal noted twice (two hooks on one path) */
		const struct ui_refusal *last = &ui_ring[(ui_ring_next + UI_REFUSALS - 1) % UI_REFUSALS];
		if (last->rq == rq && strcmp(last->code, r.code) == 0 &&
		    strcmp(last->request_id, r.request_id) == 0) {
			pthread_mutex_unlock(&ui_lock);
			return;
		}
	}
	ui_ring[ui_ring_next] = r;
	ui_ring_next = (ui_ring_next + 1) % UI_REFUSALS;
	if (ui_ring_count < UI_REFUSALS)
		ui_ring_count++;
	pthread_mutex_unlock(&ui_lock);
}

/* The ring, newest first. */
static json_t *ui_refusals_json(void)
{
	struct ui_refusal *copy = malloc(sizeof ui_ring);
	json_t *arr = json_array();
	size_t n, next;

	if (!copy || !arr) {
		free(copy);
		return arr;
	}
	pthread_mutex_lock(&ui_lock);
	memcpy(copy, ui_ring, sizeof ui_ring);
	n = ui_ring_count;
	next = ui_ring_next;
	pthread_mutex_unlock(&ui_lock);
	for (size_t k = 0; k < n; k++) {
		const struct ui_refusal *r = &copy[(next + UI_REFUSALS - 1 - k) % UI_REFUSALS];
		json_t *o = json_object(), *msg = json_string(r->message);
		char ts[80];
		ui_time(r->ts_ms, ts, sizeof ts);
		if (!msg) {  /* not UTF-8 after all */
			char safe[sizeof r->message];
			ui_copy(safe, sizeof safe, r->message, SIZE_MAX, 1);
			msg = json_string(safe);
		}
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "client", json_string(r->client));
		json_object_set_new(o, "code", json_string(r->code));
		json_object_set_new(o, "message", msg);
		json_object_set_new(o, "method", json_string(r->method));
		json_object_set_new(o, "path", json_string(r->path));
		json_object_set_new(o, "request_id", json_string(r->request_id));
		json_array_append_new(arr, o);
	}
	free(copy);
	return arr;
}

/* ---- upstream latency: p50 over a recent window, from /metrics ---- */

#define UI_LAT_BUCKETS 32
#define UI_LAT_SAMPLES 16
#define UI_LAT_WINDOW_MS 10000
#define UI_LAT_EVERY_MS 1000

struct ui_lat {
	int64_t at_ms;                 /* monotonic */
	size_t n;                      /* buckets, the last is +Inf */
	double le[UI_LAT_BUCKETS];     /* upper bounds, seconds */
	long cum[UI_LAT_BUCKETS];      /* cumulative counts */
};

static struct ui_lat ui_lat_ring[UI_LAT_SAMPLES];
static size_t ui_lat_next, ui_lat_count;

/* Reads kalshi_gateway_upstream_duration_seconds_bucket out of the
 * Prometheus text (the metrics module keeps its histograms private).
 * Returns 0, or -1 when absent or malformed. */
static int ui_lat_read(struct ui_lat *out)
{
	static const char prefix[] = "kalshi_gateway_upstream_duration_seconds_bucket{le=\"";
	char *buf = NULL;
	size_t len = 0, cap = 0;
	char *p;

	out->n = 0;
	if (metrics_render(&buf, &len, &cap, NULL) < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (p = strstr(buf, prefix); p && out->n < UI_LAT_BUCKETS; p = strstr(p, prefix)) {
		char *end;
		double le;
		long c;
		p += sizeof prefix - 1;
		if (strncmp(p, "+Inf\"", 5) == 0) {
			le = -1;  /* +Inf */
			end = p + 4;
		} else {
			le = strtod(p, &end);
		}
		if (*end != '"' || end[1] != '}' || end[2] != ' ')
			break;
		c = strtol(end + 3, &end, 10);
		out->le[out->n] = le;
		out->cum[out->n] = c;
		out->n++;
		if (le < 0)
			break;
	}
	free(buf);
	return out->n >= 2 && out->le[out->n - 1] < 0 ? 0 : -1;
}

/* The median of the observations between two samples (linear within the
 * bucket, as Prometheus' histogram_quantile), in ms; -1 when none. */
static double ui_lat_p50(const struct ui_lat *from, const struct ui_lat *to)
{
	long total, rank_prev = 0;
	double rank;

	if (from->n != to->n)
		return -1;
	total = to->cum[to->n - 1] - from->cum[from->n - 1];
	if (total <= 0)
		return -1;
	rank = total * 0.5;
	for (size_t i = 0; i < to->n; i++) {
		long c = to->cum[i] - from->cum[i];
		double lo = i ? to->le[i - 1] : 0, hi = to->le[i];
		if (c >= rank) {
			if (hi < 0)  /* in +Inf: the last finite bound */
				return lo * 1000;
			if (c == rank_prev)
				return hi * 1000;
			return (lo + (hi - lo) * (rank - rank_prev) / (double)(c - rank_prev)) * 1000;
		}
		rank_prev = c;
	}
	return -1;
}

/* The p50 over the last ~10 s (from the newest sample at least that old,
 * else the oldest); samples are kept at most once a second. *window_s gets
 * the span covered. -1 when nothing was forwarded in it. */
static double ui_latency(double *window_s)
{
	struct ui_lat cur, base;
	int64_t now = gw_now_ms();
	int have = 0;

	*window_s = 0;
	if (ui_lat_read(&cur) < 0)
		return -1;
	cur.at_ms = now;
	pthread_mutex_lock(&ui_lock);
	for (size_t k = 0; k < ui_lat_count; k++) {
		/* newest first */
		const struct ui_lat *s = &ui_lat_ring[(ui_lat_next + UI_LAT_SAMPLES - 1 - k) % UI_LAT_SAMPLES];
		if (s->at_ms >= now)
			continue;
		base = *s;
		have = 1;
		if (now - s->at_ms >= UI_LAT_WINDOW_MS)
			break;
	}
	if (ui_lat_count == 0 ||
	    now - ui_lat_ring[(ui_lat_next + UI_LAT_SAMPLES - 1) % UI_LAT_SAMPLES].at_ms >= UI_LAT_EVERY_MS) {
		ui_lat_ring[ui_lat_next] = cur;
		ui_lat_next = (ui_lat_next + 1) % UI_LAT_SAMPLES;
		if (ui_lat_count < UI_LAT_SAMPLES)
			ui_lat_count++;
	}
	pthread_mutex_unlock(&ui_lock);
	if (!have)
		return -1;
	*window_s = (double)(now - base.at_ms) / 1000.0;
	return ui_lat_p50(&base, &cur);
}

/* ---- GET /ui/summary ---- */

/* One bucket of the account's rate budget: {"used": 0..1, "tokens",
 * "capacity", "per_s"}; NULL when limiting is off. */
static json_t *ui_bucket(struct ratelimit *rl, enum rl_bucket b)
{
	int64_t tokens = 0, capacity = 0, per_s = 0;
	int off = 0;
	double used;
	json_t *o;

	ratelimit_level(rl, b, gw_now_ms(), &tokens, &capacity, &per_s, &off);
	if (off || capacity <= 0)
		return NULL;
	used = 1.0 - (double)tokens / (double)capacity;
	if (used < 0)
		used = 0;
	if (used > 1)
		used = 1;
	o = json_object();
	json_object_set_new(o, "used", json_real(used));
	json_object_set_new(o, "tokens", json_integer(tokens));
	json_object_set_new(o, "capacity", json_integer(capacity));
	json_object_set_new(o, "per_s", json_integer(per_s));
	return o;
}

static void ui_summary(struct request *rq)
{
	static const char *const roles[] = { "read_only", "trader", "admin" };
	struct gw *gw = rq->gw;
	json_t *body = json_object(), *ready, *rate = json_null();
	double p50, window_s;
	char now[80];
	int ok;

	json_object_set_new(body, "client", json_string(rq->client ? rq->client : "-"));
	json_object_set_new(body, "role", json_string(rq->role >= 0 && rq->role <= 2 ? roles[rq->role]
										      : "read_only"));
	ready = ops_readiness(gw, &ok);
	json_object_set_new(body, "ready", json_boolean(ok));
	json_object_set(body, "reasons", json_object_get(ready, "reasons"));
	if (json_object_get(ready, "trading_active"))
		json_object_set(body, "trading_active", json_object_get(ready, "trading_active"));
	json_decref(ready);
	if (sessions_list_json && gw->sessions) {
		json_t *list = sessions_list_json(gw->sessions);
		if (list)
			json_object_set_new(body, "sessions", list);
	}
	json_object_set_new(body, "recent_refusals", ui_refusals_json());
	p50 = ui_latency(&window_s);
	json_object_set_new(body, "upstream_latency_ms", p50 >= 0 ? json_real(p50) : json_null());
	json_object_set_new(body, "upstream_latency_window_s", json_real(window_s));
	if (gw->ratelimit) {
		json_t *r = ui_bucket(gw->ratelimit, RL_READ), *w = ui_bucket(gw->ratelimit, RL_WRITE);
		if (r || w) {
			json_decref(rate);
			rate = json_object();
			json_object_set_new(rate, "read", r ? r : json_null());
			json_object_set_new(rate, "write", w ? w : json_null());
		}
	}
	json_object_set_new(body, "rate_budget", rate);
	ui_time(ui_wall_ms(), now, sizeof now);
	json_object_set_new(body, "server_time", json_string(now));
	request_answer(rq, 200, reply_json(body));
}

/* ---- routing ---- */

#define UI_IS(lit) (len == sizeof(lit) - 1 && memcmp(path, lit, len) == 0)

int ui_is_public(const char *path, size_t len)
{
	return UI_IS("/ui") || UI_IS("/ui/app.js") || UI_IS("/ui/app.css");
}

/* Answers with one of the page's files. */
static void ui_asset(struct request *rq, const char *body, size_t len, const char *type)
{
	struct MHD_Response *r = reply_bytes(body, len, type);

	if (!r) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	request_answer(rq, 200, r);
}

/* GET /ui: the page, told whether callers must identify: with no clients
 * and no admin token everyone is the anonymous admin, and the page then
 * skips the token prompt. */
static void ui_page(struct request *rq)
{
	static const char mark[] = "data-auth=\"token\"", open_mark[] = "data-auth=\"none\"";
	const char *at = strstr(ui_html, mark);
	char *page;
	size_t n;

	if (!rq->snap->anonymous_admin || !at) {
		ui_asset(rq, ui_html, sizeof ui_html - 1, "text/html; charset=utf-8");
		return;
	}
	n = sizeof ui_html - 1 - (sizeof mark - 1) + (sizeof open_mark - 1);
	if (!(page = malloc(n + 1))) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	snprintf(page, n + 1, "%.*s%s%s", (int)(at - ui_html), ui_html, open_mark, at + sizeof mark - 1);
	ui_asset(rq, page, n, "text/html; charset=utf-8");
	free(page);
}

void ui_handle(struct request *rq)
{
	const char *path = rq->target;
	size_t len = rq->path_len;
	int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;

	if (!get)
		request_fail(rq, "not_found", "no such endpoint", NULL);
	else if (UI_IS("/ui"))
		ui_page(rq);
	else if (UI_IS("/ui/app.js"))
		ui_asset(rq, ui_js, sizeof ui_js - 1, "text/javascript; charset=utf-8");
	else if (UI_IS("/ui/app.css"))
		ui_asset(rq, ui_css, sizeof ui_css - 1, "text/css; charset=utf-8");
	else if (UI_IS("/ui/summary"))
		ui_summary(rq);
	else
		request_fail(rq, "not_found", "no such endpoint", NULL);
	if (rq->reply) {
		MHD_add_response_header(rq->reply, "Content-Security-Policy", UI_CSP);
		MHD_add_response_header(rq->reply, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(rq->reply, "Referrer-Policy", "no-referrer");
		MHD_add_response_header(rq->reply, "X-Frame-Options", "DENY");
		if (UI_IS("/ui/summary"))
			MHD_add_response_header(rq->reply, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
}
