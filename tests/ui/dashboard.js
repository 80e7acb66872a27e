'use strict';
/*
 * The dashboard (GET /ui) end to end, in Debian's headless Chromium driven by
 * playwright-core (executablePath /usr/bin/chromium: no browser download), against
 * the real gateway and the mock exchange:
 *
 *   HTTP      /ui, /ui/app.js, /ui/app.css are open and carry the strict CSP,
 *             nosniff and no-referrer; /ui/summary needs a token and answers the
 *             caller's role; another Origin is still refused (403), a foreign Host
 *             too (421).
 *   admin     the page asks for a token (a wrong one is refused), keeps it in
 *             sessionStorage only; a session started through the API appears
 *             within 2 s; orders fill its bar; a refusal shows in the feed; the
 *             Start dialog starts a session; a row's End (confirmed) ends one;
 *             Halt all, cancelled, does nothing; Halt all, confirmed, turns every
 *             active session triggered on the page and on the mock exchange; a
 *             row's Reset brings one back; the session events feed shows the
 *             changes; a reload keeps the token; the screenshot is saved.
 *   read-only a read_only and a trader token see the sessions but no action button.
 *   origin    a page from another origin can neither read /ui/summary with a token
 *             nor halt sessions with a simple cross-site POST.
 *   hygiene   no Content-Security-Policy violation and no script error on any page.
 *
 *   node dashboard.js --build DIR --out DIR [--chromium PATH]
 * Prints one line per check and "ui: N passed, N failed"; exit 1 on failure.
 */
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const TEAM_KEY_ID = 'ui-team-key';
const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const TICKER = 'KXMOCK-26DEC31-A';

const children = new Set();
function killAll() {
    for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
            try { c.kill('SIGKILL'); } catch (e) { /* gone */ }
        }
    }
}
process.on('exit', killAll);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { killAll(); process.exit(130); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(method, url, body, headers) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        const h = Object.assign({}, headers || {});
        if (data) {
            if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
            h['Content-Length'] = data.length;
        }
        const req = http.request(url, { method, headers: h, timeout: 15000 }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString();
                let json = null;
                try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

/* The status and content type of a request whose body may never end (an
 * event stream): the connection is dropped once the headers are in. */
function probeHeaders(url, headers) {
    return new Promise((resolve) => {
        const req = http.request(url, { method: 'GET', headers, timeout: 5000 }, (res) => {
            resolve({ status: res.statusCode, type: res.headers['content-type'] || '' });
            req.destroy();
        });
        req.on('timeout', () => { req.destroy(); resolve({ status: 0, type: '' }); });
        req.on('error', () => resolve({ status: 0, type: '' }));
        req.end();
    });
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
}

function keyPair(dir, name) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const priv = path.join(dir, `${name}.pem`);
    const pub = path.join(dir, `${name}.pub.pem`);
    fs.writeFileSync(priv, privateKey, { mode: 0o600 });
    fs.writeFileSync(pub, publicKey);
    return { priv, pub };
}

function startMock(build, pub) {
    return new Promise((resolve, reject) => {
        const p = spawn(path.join(build, 'mock-exchange'), ['--listen', '127.0.0.1:0', '--public-key', pub, '--key-id', TEAM_KEY_ID],
            { stdio: ['ignore', 'pipe', 'pipe'] });
        children.add(p);
        let out = '', err = '';
        const t = setTimeout(() => reject(new Error(`mock-exchange did not start: ${err}`)), 10000);
        p.stderr.on('data', (d) => { err += d; });
        p.stdout.on('data', (d) => {
            out += d;
            const m = out.match(/listening on (\S+)/);
            if (m) { clearTimeout(t); resolve({ proc: p, url: `http://${m[1]}`, stderr: () => err }); }
        });
        p.on('exit', (code) => { clearTimeout(t); reject(new Error(`mock-exchange exited ${code}: ${err}`)); });
    });
}

async function startGateway(build, dir, mockUrl, teamKey, config, adminTokenFile) {
    const port = await freePort();
    fs.mkdirSync(dir, { recursive: true });
    const log = path.join(dir, 'gateway.log');
    const args = ['--listen', `127.0.0.1:${port}`];
    if (config) {
        const cfg = path.join(dir, 'gateway.json');
        fs.writeFileSync(cfg, JSON.stringify(config, null, 2));
        args.push('-c', cfg);
    }
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(GATEWAY_|KALSHI_)/.test(k)) env[k] = v;
    Object.assign(env, {
        KALSHI_UPSTREAM_URL: mockUrl, KALSHI_API_KEY_ID: TEAM_KEY_ID, KALSHI_PRIVATE_KEY_FILE: teamKey,
        GATEWAY_STATE_DIR: path.join(dir, 'state'),
    });
    if (adminTokenFile) env.GATEWAY_ADMIN_TOKEN_FILE = adminTokenFile;
    const fd = fs.openSync(log, 'w');
    const p = spawn(path.join(build, 'kalshi-gateway'), args, { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    children.add(p);
    const url = `http://127.0.0.1:${port}`;
    const logs = () => { try { return fs.readFileSync(log, 'utf8'); } catch (e) { return ''; } };
    const deadline = Date.now() + 10000;
    for (;;) {
        if (p.exitCode !== null) throw new Error(`gateway exited ${p.exitCode}: ${logs()}`);
        try {
            const r = await request('GET', `${url}/healthz`);
            if (r.status === 200) break;
        } catch (e) { /* not yet */ }
        if (Date.now() > deadline) throw new Error(`gateway did not answer /healthz: ${logs()}`);
        await sleep(50);
    }
    let ready = null;
    while (Date.now() < deadline + 5000) {
        ready = await request('GET', `${url}/readyz`);
        if (ready.status === 200) break;
        await sleep(100);
    }
    const stop = () => new Promise((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode);
        const t = setTimeout(() => { p.kill('SIGKILL'); }, 20000);
        p.on('exit', (code, sig) => { clearTimeout(t); children.delete(p); resolve(sig ? sig : code); });
        p.kill('SIGTERM');
    });
    return { url, port, logs, stop, ready, proc: p };
}

/* A page on another origin, for the cross-origin checks. */
function startEvilSite(gwUrl, token) {
    const page = `<!DOCTYPE html><title>evil</title><script>
(async () => {
  const out = {};
  try {
    const r = await fetch(${JSON.stringify(gwUrl)} + '/ui/summary', { headers: { Authorization: 'Bearer ${token}' } });
    out.read = 'status ' + r.status;
  } catch (e) { out.read = 'blocked'; }
  try {
    await fetch(${JSON.stringify(gwUrl)} + '/session/halt', { method: 'POST', mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ all: true }) });
    out.halt = 'sent';
  } catch (e) { out.halt = 'blocked'; }
  window.result = out;
})();
</script>`;
    return new Promise((resolve) => {
        const srv = http.createServer((req, res) => {
            res.writeHead(200, { 'Content-Type': 'text/html' });
            res.end(page);
        });
        srv.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${srv.address().port}/`, close: () => srv.close() }));
    });
}

async function main() {
    const argv = process.argv.slice(2);
    const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
    const build = path.resolve(arg('--build', 'build'));
    const outDir = path.resolve(arg('--out', path.join(build, 'ui')));
    const chromiumPath = arg('--chromium', '/usr/bin/chromium');
    fs.mkdirSync(outDir, { recursive: true });
    const { chromium } = require('playwright-core');
    const pwVersion = require('playwright-core/package.json').version;

    let passed = 0, failed = 0;
    const report = (name, ok, detail) => {
        if (ok) { passed++; console.log(`ok   ${name}`); } else {
            failed++;
            console.log(`FAIL ${name}${detail ? '\n     ' + String(detail).replace(/\n/g, '\n     ') : ''}`);
        }
        return !!ok;
    };
    /* Polls fn until it returns a truthy value or ms pass; returns the value and the time taken. */
    const until = async (fn, ms) => {
        const t0 = Date.now();
        let v;
        for (;;) {
            try { v = await fn(); } catch (e) { v = null; }
            if (v || Date.now() - t0 > ms) return { v, ms: Date.now() - t0 };
            await sleep(50);
        }
    };

    console.log(`ui: playwright-core ${pwVersion}, node ${process.version}, browser ${chromiumPath}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kalshi-ui-'));
    const team = keyPair(dir, 'team');
    const tok = (n) => {
        const t = crypto.randomBytes(24).toString('hex');
        const f = path.join(dir, `${n}.token`);
        fs.writeFileSync(f, t + '\n', { mode: 0o600 });
        return { t, f };
    };
    const admin = tok('admin'), viewer = tok('viewer'), bot = tok('bot');
    const adminH = { Authorization: `Bearer ${admin.t}` };
    const botH = { Authorization: `Bearer ${bot.t}` };
    let mock = null, gw = null, anon = null, context = null, evil = null, userDataDir = null;
    try {
        mock = await startMock(build, team.pub);
        gw = await startGateway(build, dir, mock.url, team.priv, {
            clients: [
                { name: 'viewer', role: 'read_only', token_file: viewer.f },
                { name: 'bot', role: 'trader', token_file: bot.f },
            ],
        }, admin.f);
        report('gateway ready (/readyz 200)', gw.ready && gw.ready.status === 200, gw.ready && gw.ready.text);
        const G = gw.url;

        // ------------------------------------------------------------ HTTP
        console.log('== HTTP');
        for (const [p, type] of [['/ui', 'text/html'], ['/ui/app.js', 'text/javascript'], ['/ui/app.css', 'text/css']]) {
            const r = await request('GET', G + p);
            report(`GET ${p} without a token: 200 ${type}`, r.status === 200 && (r.headers['content-type'] || '').startsWith(type),
                `${r.status} ${r.headers['content-type']} ${r.text.slice(0, 200)}`);
            report(`GET ${p}: strict Content-Security-Policy, nosniff, no-referrer`,
                r.headers['content-security-policy'] === CSP && r.headers['x-content-type-options'] === 'nosniff' &&
                r.headers['referrer-policy'] === 'no-referrer',
                JSON.stringify(r.headers));
            if (p === '/ui') {
                const inline = /<script(?![^>]*\bsrc=)[^>]*>/i.test(r.text) || /\sstyle\s*=/i.test(r.text) || /\son[a-z]+\s*=/i.test(r.text);
                const external = /(src|href)\s*=\s*"(https?:)?\/\//i.test(r.text);
                report('GET /ui: no inline script, style or handler, no external asset', !inline && !external, r.text.slice(0, 400));
            }
        }
        let r = await request('GET', G + '/ui/summary');
        report('GET /ui/summary without a token: 401 unauthorized', r.status === 401 && r.json && r.json.error.code === 'unauthorized', r.text);
        r = await request('GET', G + '/ui/summary', undefined, { Authorization: `Bearer ${viewer.t}` });
        const sumOk = r.status === 200 && r.json && r.json.client === 'viewer' && r.json.role === 'read_only' &&
            typeof r.json.ready === 'boolean' && Array.isArray(r.json.reasons) && Array.isArray(r.json.recent_refusals) &&
            'upstream_latency_ms' in r.json && 'rate_budget' in r.json;
        report('GET /ui/summary (read_only token): 200, role read_only, readiness, refusals, latency, rate budget', sumOk, r.text.slice(0, 600));
        r = await request('GET', G + '/ui/summary', undefined, adminH);
        report('GET /ui/summary (admin token): role admin', r.status === 200 && r.json && r.json.role === 'admin' && r.json.client === 'admin', r.text.slice(0, 300));
        r = await request('GET', G + '/ui/summary', undefined, Object.assign({ Origin: G }, adminH));
        report(`GET /ui/summary with the page's own Origin (${G}): 200`, r.status === 200, r.text.slice(0, 300));
        r = await request('GET', G + '/ui/summary', undefined, Object.assign({ Origin: 'http://evil.example' }, adminH));
        report('GET /ui/summary with Origin http://evil.example: 403 forbidden', r.status === 403 && r.json && r.json.error.code === 'forbidden', r.text);
        r = await request('POST', G + '/session/halt', { all: true }, Object.assign({ Origin: 'http://evil.example' }, adminH));
        report('POST /session/halt with Origin http://evil.example (admin token): 403 forbidden', r.status === 403, r.text);
        r = await request('POST', G + '/session/halt', { all: true }, Object.assign({ Origin: 'null' }, adminH));
        report('POST /session/halt with Origin null: 403 forbidden', r.status === 403, r.text);
        r = await request('GET', G + '/ui', undefined, { Host: `evil.example:${gw.port}` });
        report('GET /ui with Host evil.example: 421 host_not_allowed', r.status === 421, r.text);
        r = await request('POST', G + '/ui', {});
        report('POST /ui: 404', r.status === 404, r.text);
        r = await request('GET', G + '/ui/nope', undefined, adminH);
        report('GET /ui/nope: 404 not_found', r.status === 404 && r.json && r.json.error.code === 'not_found', r.text);
        const ev = await probeHeaders(G + '/session/events', adminH);
        const haveEvents = ev.status === 200 && ev.type.startsWith('text/event-stream');
        console.log(`     (GET /session/events: ${ev.status} ${ev.type}: the page should be ${haveEvents ? 'live' : 'polling'})`);

        // ------------------------------------------------------------ browser
        console.log('== browser (admin)');
        userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kalshi-ui-chromium-'));
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: chromiumPath,
            headless: true,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync'],
            viewport: { width: 1440, height: 900 },
            timeout: 60000,
        });
        const problems = [];
        const watch = (page, label) => {
            page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
            page.on('console', (m) => {
                const t = m.text();
                if (/Content[- ]Security[- ]Policy|Refused to/i.test(t)) problems.push(`${label}: CSP: ${t}`);
                else if (m.type() === 'error' && !/^Failed to load resource/.test(t)) problems.push(`${label}: console error: ${t}`);
            });
        };
        const page = context.pages()[0] || await context.newPage();
        watch(page, 'admin');
        await page.goto(G + '/ui');
        report('the page asks for a token', await page.locator('#login').isVisible() && await page.locator('#token').isVisible());
        await page.fill('#token', 'not-a-token');
        await page.click('#login-btn');
        let w = await until(async () => (await page.locator('#login-error').isVisible()) && (await page.textContent('#login-error')), 3000);
        report('a wrong token is refused on the page', w.v && /not accept/.test(w.v), w.v);
        await page.fill('#token', admin.t);
        await page.click('#login-btn');
        w = await until(async () => /admin/.test(await page.textContent('#who')) && await page.locator('#main').isVisible(), 5000);
        report('the admin token signs in (client admin, role admin shown)', w.v, await page.textContent('#who'));
        const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('kalshi-gateway.token'), l: localStorage.length }));
        report('the token is kept in sessionStorage only', stored.s === admin.t && stored.l === 0, JSON.stringify(stored));
        report('admin sees Halt all and Start session', await page.locator('#halt-all').isVisible() && await page.locator('#start-session').isVisible());

        // a session started through the API appears within 2 s
        const t0 = Date.now();
        r = await request('POST', G + '/session/start', { name: 'alpha', contracts_limit: 40 }, adminH);
        const alpha = r.json && r.json.session;
        report('POST /session/start alpha (API): 201', r.status === 201 && alpha, r.text);
        const rowAlpha = page.locator('tr[data-name="alpha"]');
        w = await until(async () => await rowAlpha.isVisible() && /active/.test(await rowAlpha.locator('.status').textContent()), 2000);
        report(`session alpha appears on the page, active, within 2 s (${Date.now() - t0} ms)`, w.v && Date.now() - t0 <= 2000);
        report('its row shows the order group id', alpha && (await rowAlpha.locator('code.group').textContent()) === alpha.order_group_id);

        // orders, traffic and a refusal
        const order = (count) => ({ ticker: TICKER, side: 'bid', count, price: '0.0300',
            time_in_force: 'good_till_canceled', self_trade_prevention_type: 'taker_at_cross' });
        for (const c of ['6.00', '4.00']) {
            r = await request('POST', G + '/trade-api/v2/portfolio/events/orders', order(c), Object.assign({ 'X-Gateway-Session': 'alpha' }, botH));
            report(`bot order (${c} contracts) in alpha: 201`, r.status === 201, r.text.slice(0, 300));
        }
        for (let i = 0; i < 5; i++) await request('GET', G + '/trade-api/v2/markets?limit=5', undefined, botH);
        w = await until(async () => /10 \/ 40/.test(await rowAlpha.locator('.barlabel').first().textContent()), 3000);
        report('alpha\'s submitted bar shows 10 / 40', w.v, await rowAlpha.locator('.barlabel').first().textContent());
        w = await until(async () => /2/.test(await rowAlpha.locator('.acc').textContent()), 3000);
        report('alpha shows 2 orders accepted', w.v, await rowAlpha.locator('.orders').textContent());
        await request('GET', G + '/sessions', undefined, { Authorization: 'Bearer wrong-token' });
        w = await until(async () => (await page.locator('#refusals li', { hasText: 'unauthorized' }).count()) > 0, 3000);
        report('a refused request (401 unauthorized) shows in the refusals feed', w.v, await page.textContent('#refusals'));
        w = await until(async () => /ms/.test(await page.textContent('#lat-now')), 4000);
        report('the upstream latency chart has a value', w.v, await page.textContent('#lat-now'));

        // Start session through the page
        await page.click('#start-session');
        await page.waitForSelector('#confirm[open]', { timeout: 2000 });
        await page.fill('#f-name', 'beta');
        await page.fill('#f-limit', '25');
        await page.click('#confirm-ok');
        const rowBeta = page.locator('tr[data-name="beta"]');
        w = await until(async () => await rowBeta.isVisible() && /active/.test(await rowBeta.locator('.status').textContent()), 3000);
        report('Start session (dialog: name beta, limit 25) starts beta', w.v);
        r = await request('GET', G + '/session?name=beta', undefined, adminH);
        report('the gateway has beta active with contracts_limit 25', r.json && r.json.session && r.json.session.status === 'active' &&
            r.json.session.contracts_limit === 25, r.text.slice(0, 300));
        r = await request('POST', G + '/trade-api/v2/portfolio/events/orders', order('5.00'), Object.assign({ 'X-Gateway-Session': 'beta' }, botH));
        report('bot order (5 contracts) in beta: 201', r.status === 201, r.text.slice(0, 300));

        // End a session from its row
        r = await request('POST', G + '/session/start', { name: 'gamma', contracts_limit: 10 }, adminH);
        const gamma = r.json && r.json.session;
        const rowGamma = page.locator('tr[data-name="gamma"]');
        await until(async () => rowGamma.isVisible(), 2000);
        await rowGamma.locator('button.end').click();
        await page.waitForSelector('#confirm[open]', { timeout: 2000 });
        await page.click('#confirm-ok');
        w = await until(async () => (await rowGamma.count()) === 0, 3000);
        report('End on gamma\'s row (confirmed): gamma leaves the live list', w.v);
        let state = (await request('GET', mock.url + '/_mock/state')).json;
        report('the exchange deleted gamma\'s order group', gamma && state && !state.order_groups.some((g) => g.id === gamma.order_group_id),
            JSON.stringify(state && state.order_groups.map((g) => g.id)));

        // Halt all, cancelled, then confirmed
        await page.click('#halt-all');
        await page.waitForSelector('#confirm[open]', { timeout: 2000 });
        await page.click('#confirm-cancel');
        await sleep(1200);
        r = await request('GET', G + '/sessions', undefined, adminH);
        report('Halt all, cancelled: nothing halted', r.json && r.json.sessions.filter((s) => s.status === 'triggered').length === 0,
            r.text.slice(0, 300));
        await page.click('#halt-all');
        await page.waitForSelector('#confirm[open]', { timeout: 2000 });
        const text = await page.textContent('#confirm-text');
        report('Halt all asks for confirmation (2 active sessions named in the text)', /\(2 now\)/.test(text), text);
        const th = Date.now();
        await page.click('#confirm-ok');
        w = await until(async () => /triggered/.test(await rowAlpha.locator('.status').textContent()) &&
            /triggered/.test(await rowBeta.locator('.status').textContent()), 3000);
        report(`Halt all (confirmed): alpha and beta turn triggered on the page (${Date.now() - th} ms)`, w.v);
        report('the page shows the reason halted', /halted/.test(await rowAlpha.locator('.reason').textContent()));
        state = (await request('GET', mock.url + '/_mock/state')).json;
        const grp = (id) => state && state.order_groups.find((g) => g.id === id);
        const betaS = (await request('GET', G + '/session?name=beta', undefined, adminH)).json.session;
        report('the exchange has alpha\'s and beta\'s order groups triggered', grp(alpha.order_group_id) && grp(alpha.order_group_id).triggered &&
            grp(betaS.order_group_id) && grp(betaS.order_group_id).triggered, JSON.stringify(state && state.order_groups));
        w = await until(async () => (await page.locator('#events li', { hasText: 'triggered' }).count()) >= 2, 3000);
        report('the session events feed shows both triggers', w.v, await page.textContent('#events'));
        const mode = await page.textContent('#feedmode');
        report(`events reach the page by ${haveEvents ? 'the /session/events stream' : 'polling (no /session/events)'}: "${mode}"`,
            haveEvents ? /live/.test(mode) : /polling/.test(mode), mode);

        // Reset from a row
        await rowBeta.locator('button.reset').click();
        await page.waitForSelector('#confirm[open]', { timeout: 2000 });
        await page.click('#confirm-ok');
        w = await until(async () => /active/.test(await rowBeta.locator('.status').textContent()), 3000);
        report('Reset on beta\'s row (confirmed): beta active again', w.v);
        state = (await request('GET', mock.url + '/_mock/state')).json;
        report('the exchange has beta\'s group reset (not triggered)', grp(betaS.order_group_id) && !grp(betaS.order_group_id).triggered,
            JSON.stringify(grp(betaS.order_group_id)));
        r = await request('POST', G + '/trade-api/v2/portfolio/events/orders', order('8.00'), Object.assign({ 'X-Gateway-Session': 'beta' }, botH));
        for (let i = 0; i < 5; i++) await request('GET', G + '/trade-api/v2/markets?limit=5', undefined, botH);

        // the screenshot
        await page.check('#show-ended');
        await until(async () => (await page.locator('tr[data-name="gamma"]').count()) > 0, 2000);
        await sleep(4000);
        const shot = path.join(outDir, 'dashboard.png');
        await page.screenshot({ path: shot, fullPage: true });
        report(`screenshot saved: ${shot}`, fs.existsSync(shot) && fs.statSync(shot).size > 10000);

        // reload keeps the token
        await page.reload();
        w = await until(async () => await page.locator('#main').isVisible() && /admin/.test(await page.textContent('#who')), 4000);
        report('a reload keeps the token (no new prompt)', w.v && !(await page.locator('#login').isVisible()));

        // ------------------------------------------------------ read-only
        console.log('== browser (read-only, trader)');
        for (const [who, t, role] of [['viewer', viewer.t, 'read-only'], ['bot', bot.t, 'trader']]) {
            const p2 = await context.newPage();
            watch(p2, who);
            await p2.goto(G + '/ui');
            report(`${who}: a new tab asks for a token again (sessionStorage is per tab)`, await p2.locator('#login').isVisible());
            await p2.fill('#token', t);
            await p2.click('#login-btn');
            w = await until(async () => (await p2.textContent('#who')).includes(role) && await p2.locator('tr[data-name="alpha"]').isVisible(), 4000);
            report(`${who} (${role}) sees the sessions`, w.v, await p2.textContent('#who'));
            const visibleButtons = await p2.locator('button:visible').allTextContents();
            report(`${who} sees no action button (visible buttons: ${JSON.stringify(visibleButtons)})`,
                visibleButtons.length === 1 && visibleButtons[0] === 'Sign out' && (await p2.locator('button.action').count()) === 0 &&
                !(await p2.locator('#halt-all').isVisible()) && !(await p2.locator('#start-session').isVisible()));
            report(`${who} sees the read-only note`, await p2.locator('#readonly-note').isVisible());
            if (who === 'viewer') await p2.screenshot({ path: path.join(outDir, 'dashboard-read-only.png'), fullPage: true });
            await p2.click('#signout');
            const gone = await p2.evaluate(() => sessionStorage.getItem('kalshi-gateway.token'));
            report(`${who}: Sign out forgets the token and asks again`, gone === null && await p2.locator('#login').isVisible());
            await p2.close();
        }

        // ------------------------------------------------------ other origin
        console.log('== another origin');
        evil = await startEvilSite(G, admin.t);
        const p3 = await context.newPage();
        await p3.goto(evil.url);
        w = await until(async () => p3.evaluate(() => window.result), 5000);
        report(`a page on ${evil.url} cannot read /ui/summary with the admin token (${w.v && w.v.read})`, w.v && w.v.read === 'blocked', JSON.stringify(w.v));
        await sleep(300);
        r = await request('GET', G + '/session?name=beta', undefined, adminH);
        report('its cross-site POST /session/halt {"all":true} halted nothing (beta still active)',
            r.json && r.json.session && r.json.session.status === 'active', r.text.slice(0, 300));
        await p3.close();

        // ------------------------------------------------------ no clients
        console.log('== anonymous admin (no clients, no admin token, loopback)');
        anon = await startGateway(build, path.join(dir, 'anon'), mock.url, team.priv, null, null);
        const p4 = await context.newPage();
        watch(p4, 'anonymous');
        await p4.goto(anon.url + '/ui');
        w = await until(async () => await p4.locator('#main').isVisible() && /anonymous/.test(await p4.textContent('#who')), 4000);
        report('with no clients the page opens without a token prompt, as the anonymous admin', w.v && !(await p4.locator('#login').isVisible()) &&
            await p4.locator('#halt-all').isVisible(), await p4.textContent('#who'));
        await p4.close();

        report('no Content-Security-Policy violation or script error on the dashboard', problems.length === 0, problems.join('\n'));

        for (const name of ['alpha', 'beta']) await request('POST', G + '/session/end', { name }, adminH);
    } catch (e) {
        report('the test ran to the end', false, e && e.stack || e);
    } finally {
        if (context) await context.close().catch(() => {});
        if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
        if (evil) evil.close();
        if (anon) {
            const rc = await anon.stop();
            report('the anonymous gateway stops on SIGTERM, exit 0', rc === 0, `exit ${rc}`);
        }
        if (gw) {
            const rc = await gw.stop();
            report('gateway stops on SIGTERM, exit 0', rc === 0, `exit ${rc}`);
            if (failed) {
                console.log('---- gateway log (last 40 lines)');
                console.log(gw.logs().split('\n').slice(-40).join('\n'));
            }
        }
        killAll();
        if (!failed) fs.rmSync(dir, { recursive: true, force: true });
        else console.log(`ui: kept ${dir} (logs, configs)`);
    }
    console.log(`ui: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

const overall = setTimeout(() => { console.error('ui: timed out after 240 s'); killAll(); process.exit(1); }, 240000);
overall.unref();
main().catch((e) => { console.error(e && e.stack || e); killAll(); process.exit(1); });
