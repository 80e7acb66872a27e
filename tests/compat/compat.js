'use strict';
/*
 * Drives kalshi-gateway with Kalshi's official TypeScript SDK (kalshi-typescript,
 * the version pinned in package.json), as a bot author would: the SDK's
 * Configuration with basePath set to the gateway and a throwaway key, since the
 * SDK insists on signing every request.  Then checks what the mock exchange
 * received: every request signed by the team key (not the SDK's), each order
 * created carrying the session's order group.
 *
 *   node compat.js --build DIR             orchestrates (run.sh calls this)
 *   node compat.js --worker PLAN           one bot process (spawned by the orchestrator;
 *                                          one process per identity, since each SDK API
 *                                          object adds its signing interceptor to the
 *                                          shared global axios instance)
 *
 * Scenarios (a fresh gateway each, one mock exchange):
 *   loopback  no clients: every loopback caller is the anonymous admin; the
 *             SDK's own KALSHI-ACCESS-* headers are ignored and never forwarded.
 *   tokens    clients with bearer tokens, given to the SDK through
 *             baseOptions.headers; a read_only client is refused order creates
 *             (403) and an unidentified SDK call gets 401.
 *   signed    a client identified by the SDK's own key id whose public key the
 *             gateway has: the SDK's signature must verify (a wrong key gets 401).
 * Prints one line per check and "compat: N passed, N failed"; exit 1 on failure.
 */
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const TEAM_KEY_ID = 'compat-team-key';
const SDK_KEY_ID = 'sdk-throwaway-key';

// ------------------------------------------------------------------ worker
async function worker(plan) {
    const sdk = require('kalshi-typescript');
    const env = process.env;
    const results = [];
    const out = {};
    const check = (name, ok, detail) => results.push({ name, ok: !!ok, detail: ok ? undefined : detail });
    const baseOptions = env.COMPAT_AUTH ? { headers: { Authorization: env.COMPAT_AUTH } } : undefined;
    const config = new sdk.Configuration({
        basePath: env.COMPAT_BASE,
        apiKey: env.COMPAT_SDK_KEY_ID,
        privateKeyPem: fs.readFileSync(env.COMPAT_SDK_KEY, 'utf8'),
        baseOptions,
    });
    const describe = (e) => e && e.response
        ? `HTTP ${e.response.status} ${JSON.stringify(e.response.data)} (x-gateway-rejected: ${e.response.headers['x-gateway-rejected']})`
        : String(e && e.stack || e);
    // Runs one SDK call; records a check on its status; returns the response or null.
    const call = async (name, fn, wantStatus, verify) => {
        try {
            const r = await fn();
            const extra = verify ? verify(r) : null;
            check(`${name}: HTTP ${r.status}` + (r.headers['x-gateway-client'] ? ` (client ${r.headers['x-gateway-client']})` : ''),
                r.status === wantStatus && !extra,
                extra || `expected ${wantStatus}, got ${r.status} ${JSON.stringify(r.data)}`);
            return r;
        } catch (e) {
            check(`${name}`, false, describe(e));
            return null;
        }
    };
    // Runs one SDK call expected to be refused with status/code.
    const refused = async (name, fn, wantStatus, wantCode) => {
        try {
            const r = await fn();
            check(name, false, `expected ${wantStatus} ${wantCode}, got ${r.status} ${JSON.stringify(r.data)}`);
        } catch (e) {
            const r = e.response;
            const code = r && r.data && r.data.error && r.data.error.code;
            check(`${name}: HTTP ${r && r.status} ${code}`,
                r && r.status === wantStatus && code === wantCode && r.headers['x-gateway-rejected'] === '1',
                describe(e));
        }
    };
    const exchange = new sdk.ExchangeApi(config);
    const market = new sdk.MarketApi(config);
    const portfolio = new sdk.PortfolioApi(config);
    const orders = new sdk.OrdersApi(config);
    const groups = new sdk.OrderGroupsApi(config);
    const group = env.COMPAT_GROUP;
    const wantClient = env.COMPAT_CLIENT;
    const clientIs = (r) => (!wantClient || r.headers['x-gateway-client'] === wantClient)
        ? null : `X-Gateway-Client ${r.headers['x-gateway-client']}, expected ${wantClient}`;
    const order = (ticker, price) => ({
        ticker, side: 'bid', count: '1.00', price,
        time_in_force: 'good_till_canceled', self_trade_prevention_type: 'taker_at_cross',
    });

    if (plan === 'trade') {
        await call('ExchangeApi.getExchangeStatus', () => exchange.getExchangeStatus(), 200,
            (r) => typeof r.data.exchange_active === 'boolean' ? clientIs(r) : `body ${JSON.stringify(r.data)}`);
        let tickers = [];
        await call('MarketApi.getMarkets(limit 5, open)', () => market.getMarkets(5, undefined, undefined, undefined,
            undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'open'), 200, (r) => {
            tickers = (r.data.markets || []).map((m) => m.ticker);
            return tickers.length >= 3 ? null : `markets ${JSON.stringify(r.data).slice(0, 300)}`;
        });
        await call('PortfolioApi.getBalance', () => portfolio.getBalance(), 200,
            (r) => typeof r.data.balance === 'number' ? null : `body ${JSON.stringify(r.data)}`);
        const t = tickers.length >= 3 ? tickers : ['KXMOCK-26DEC31-A', 'KXMOCK-26DEC31-B', 'KXMOCK-26DEC31-C'];
        const c1 = await call('OrdersApi.createOrderV2 (no order_group_id given)', () => orders.createOrderV2(order(t[0], '0.0300')), 201,
            (r) => r.data.order_id ? clientIs(r) : `body ${JSON.stringify(r.data)}`);
        out.created = c1 ? [c1.data.order_id] : [];
        const b = await call('OrdersApi.batchCreateOrdersV2 (2 orders)', () => orders.batchCreateOrdersV2({
            orders: [order(t[1], '0.0400'), order(t[2], '0.0500')],
        }), 201, (r) => {
            const os_ = r.data.orders || [];
            return os_.length === 2 && os_.every((o) => o.order_id && !o.error) ? null : `body ${JSON.stringify(r.data)}`;
        });
        if (b) out.created.push(...b.data.orders.map((o) => o.order_id));
        if (out.created.length) {
            await call('OrdersApi.getOrder (created order)', () => orders.getOrder(out.created[0]), 200,
                (r) => r.data.order && r.data.order.order_id === out.created[0] &&
                    (!('order_group_id' in r.data.order) || r.data.order.order_group_id === group)
                    ? null : `body ${JSON.stringify(r.data)}`);
            await call('OrdersApi.cancelOrderV2', () => orders.cancelOrderV2(out.created[0]), 200,
                (r) => r.data.order_id === out.created[0] ? null : `body ${JSON.stringify(r.data)}`);
            out.canceled = out.created[0];
        }
        await call('OrderGroupsApi.getOrderGroups (lists the session group)', () => groups.getOrderGroups(), 200,
            (r) => (r.data.order_groups || []).some((g) => g.id === group)
                ? null : `group ${group} not in ${JSON.stringify(r.data)}`);
    } else if (plan === 'read_only') {
        await call('read_only: PortfolioApi.getBalance', () => portfolio.getBalance(), 200, clientIs);
        await refused('read_only: OrdersApi.createOrderV2 refused', () => orders.createOrderV2(order('KXMOCK-26DEC31-A', '0.0300')),
            403, 'forbidden');
    } else if (plan === 'unidentified') {
        await refused('no token: PortfolioApi.getBalance refused', () => portfolio.getBalance(), 401, 'unauthorized');
    } else if (plan === 'signed') {
        await call('signed: PortfolioApi.getBalance', () => portfolio.getBalance(), 200, clientIs);
        await call('signed: MarketApi.getMarkets (query not part of the signature)', () => market.getMarkets(2, undefined,
            undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'open'), 200, clientIs);
        const c = await call('signed: OrdersApi.createOrderV2', () => orders.createOrderV2(order('KXMOCK-26DEC31-A', '0.0300')), 201, clientIs);
        out.created = c ? [c.data.order_id] : [];
        if (c) {
            await call('signed: OrdersApi.cancelOrderV2', () => orders.cancelOrderV2(c.data.order_id), 200, clientIs);
            out.canceled = c.data.order_id;
        }
        await call('signed: OrderGroupsApi.getOrderGroups', () => groups.getOrderGroups(), 200,
            (r) => (r.data.order_groups || []).some((g) => g.id === group) ? clientIs(r) : JSON.stringify(r.data));
    } else if (plan === 'badsig') {
        await refused('wrong key for the key id: PortfolioApi.getBalance refused', () => portfolio.getBalance(), 401, 'unauthorized');
        await refused('wrong key for the key id: OrdersApi.createOrderV2 refused', () => orders.createOrderV2(order('KXMOCK-26DEC31-A', '0.0300')),
            401, 'unauthorized');
    } else {
        check(`unknown plan ${plan}`, false, '');
    }
    process.stdout.write(JSON.stringify({ results, out }) + '\n');
}

// ------------------------------------------------------------ orchestrator
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

function request(method, url, body, headers) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
        const h = Object.assign({}, headers || {});
        if (data) { h['Content-Type'] = 'application/json'; h['Content-Length'] = data.length; }
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

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

async function startGateway(build, dir, name, mockUrl, teamKey, config, adminTokenFile) {
    const port = await freePort();
    const stateDir = path.join(dir, `${name}-state`);
    const log = path.join(dir, `${name}-gateway.log`);
    const args = ['--listen', `127.0.0.1:${port}`];
    if (config) {
        const cfg = path.join(dir, `${name}-gateway.json`);
        fs.writeFileSync(cfg, JSON.stringify(config, null, 2));
        args.push('-c', cfg);
    }
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(GATEWAY_|KALSHI_)/.test(k)) env[k] = v;
    Object.assign(env, {
        KALSHI_UPSTREAM_URL: mockUrl, KALSHI_API_KEY_ID: TEAM_KEY_ID, KALSHI_PRIVATE_KEY_FILE: teamKey,
        GATEWAY_STATE_DIR: stateDir,
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
    return { url, logs, stop, ready, proc: p };
}

function runWorker(plan, env) {
    const e = Object.assign({}, process.env, env, { NO_PROXY: '*', no_proxy: '*' });
    delete e.HTTP_PROXY; delete e.http_proxy; delete e.HTTPS_PROXY; delete e.https_proxy;
    const r = spawnSync(process.execPath, [__filename, '--worker', plan],
        { env: e, encoding: 'utf8', timeout: 120000, cwd: process.cwd() });
    const line = (r.stdout || '').trim().split('\n').pop();
    try {
        return JSON.parse(line);
    } catch (err) {
        return { results: [{ name: `worker ${plan} ran`, ok: false, detail: `exit ${r.status} ${r.error || ''}\n${r.stdout}\n${r.stderr}` }], out: {} };
    }
}

async function orchestrate(build) {
    let passed = 0, failed = 0;
    const failures = [];
    const report = (name, ok, detail) => {
        if (ok) { passed++; console.log(`ok   ${name}`); } else {
            failed++; failures.push(name);
            console.log(`FAIL ${name}${detail ? '\n     ' + String(detail).replace(/\n/g, '\n     ') : ''}`);
        }
        return !!ok;
    };
    const sdkVersion = require('kalshi-typescript/package.json').version;
    console.log(`compat: kalshi-typescript ${sdkVersion}, node ${process.version}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kalshi-compat-'));
    const team = keyPair(dir, 'team');
    const sdkKey = keyPair(dir, 'sdk');          // the throwaway key the SDK signs with
    const otherKey = keyPair(dir, 'other');      // a key that does not match sdk.pub.pem
    const tok = (n) => {
        const t = crypto.randomBytes(24).toString('hex');
        const f = path.join(dir, `${n}.token`);
        fs.writeFileSync(f, t + '\n', { mode: 0o600 });
        return { t, f };
    };
    const admin = tok('admin'), bot = tok('bot'), viewer = tok('viewer');
    let mock;
    try {
        mock = await startMock(build, team.pub);
    } catch (e) {
        report('mock exchange starts', false, e.message);
        return { passed, failed };
    }
    const scenarios = [
        {
            name: 'loopback', config: null, admin: null,
            plans: [{ plan: 'trade', env: {}, client: 'anonymous' }],
        },
        {
            name: 'tokens', admin: admin,
            config: { clients: [
                { name: 'bot', role: 'trader', token_file: bot.f },
                { name: 'viewer', role: 'read_only', token_file: viewer.f },
            ] },
            plans: [
                { plan: 'trade', env: { COMPAT_AUTH: `Bearer ${bot.t}` }, client: 'bot' },
                { plan: 'read_only', env: { COMPAT_AUTH: `Bearer ${viewer.t}` }, client: 'viewer' },
                { plan: 'unidentified', env: {} },
            ],
        },
        {
            name: 'signed', admin: admin,
            config: { clients: [
                { name: 'sdkbot', role: 'trader', kalshi_key_id: SDK_KEY_ID, public_key_file: sdkKey.pub },
            ] },
            plans: [
                { plan: 'signed', env: {}, client: 'sdkbot' },
                { plan: 'badsig', env: { COMPAT_SDK_KEY: otherKey.priv } },
            ],
        },
    ];
    try {
        for (const sc of scenarios) {
            console.log(`== scenario ${sc.name}`);
            let gw;
            try {
                gw = await startGateway(build, dir, sc.name, mock.url, team.priv, sc.config, sc.admin && sc.admin.f);
            } catch (e) {
                report(`[${sc.name}] gateway starts`, false, e.message);
                continue;
            }
            const gwFailedBefore = failed;
            report(`[${sc.name}] gateway ready (/readyz 200)`, gw.ready && gw.ready.status === 200, gw.ready && gw.ready.text);
            await request('DELETE', `${mock.url}/_mock/requests`);
            await request('DELETE', `${mock.url}/_mock/state`);
            const adminH = sc.admin ? { Authorization: `Bearer ${sc.admin.t}` } : {};
            const st = await request('POST', `${gw.url}/session/start`, { contracts_limit: 100 }, adminH);
            const group = st.json && st.json.session && st.json.session.order_group_id;
            const started = report(`[${sc.name}] POST /session/start: HTTP ${st.status}, order group ${group}`, st.status === 201 && group, st.text);
            const created = [], canceled = [];
            for (const p of started ? sc.plans : []) {
                const res = runWorker(p.plan, Object.assign({
                    COMPAT_BASE: `${gw.url}/trade-api/v2`, COMPAT_SDK_KEY_ID: SDK_KEY_ID, COMPAT_SDK_KEY: sdkKey.priv,
                    COMPAT_GROUP: group || '', COMPAT_CLIENT: p.client || '',
                }, p.env));
                for (const r of res.results) report(`[${sc.name}] ${r.name}`, r.ok, r.detail);
                created.push(...(res.out.created || []));
                if (res.out.canceled) canceled.push(res.out.canceled);
            }
            // What the exchange received.
            const got = await request('GET', `${mock.url}/_mock/requests`);
            const reqs = (got.json && got.json.requests) || [];
            const hdr = (q, n) => (q.headers || {})[n];
            const bad = reqs.filter((q) => !q.sig_valid || hdr(q, 'kalshi-access-key') !== TEAM_KEY_ID);
            report(`[${sc.name}] exchange received ${reqs.length} requests, every one signed by the team key (KALSHI-ACCESS-KEY ${TEAM_KEY_ID}, sig_valid)`,
                reqs.length > 0 && bad.length === 0,
                bad.slice(0, 5).map((q) => `${q.method} ${q.path} sig_valid=${q.sig_valid} key=${hdr(q, 'kalshi-access-key')}`).join('\n'));
            const leaked = reqs.filter((q) => JSON.stringify(q.headers || {}).includes(SDK_KEY_ID) || hdr(q, 'authorization'));
            report(`[${sc.name}] no SDK key id or Authorization header forwarded`, leaked.length === 0,
                leaked.slice(0, 3).map((q) => `${q.method} ${q.path} ${JSON.stringify(q.headers)}`).join('\n'));
            const creates = reqs.filter((q) => q.method === 'POST' && /^\/trade-api\/v2\/portfolio\/events\/orders(\/batched)?$/.test(q.path));
            const bodies = [];
            for (const q of creates) {
                let b = null;
                try { b = JSON.parse(q.body); } catch (e) { /* reported below */ }
                if (b && Array.isArray(b.orders)) bodies.push(...b.orders); else bodies.push(b);
            }
            const wantCreates = created.length;
            report(`[${sc.name}] exchange received ${bodies.length} order creates (expected ${wantCreates}: refused ones never sent)`,
                bodies.length === wantCreates, creates.map((q) => q.body).join('\n'));
            const noGroup = bodies.filter((b) => !b || b.order_group_id !== group);
            report(`[${sc.name}] every order create carries the session's order_group_id ${group}`,
                bodies.length > 0 && noGroup.length === 0, JSON.stringify(noGroup.slice(0, 3)));
            const noCoid = bodies.filter((b) => !b || typeof b.client_order_id !== 'string' || !b.client_order_id);
            report(`[${sc.name}] every order create carries a client_order_id (filled in by the gateway)`,
                bodies.length > 0 && noCoid.length === 0, JSON.stringify(noCoid.slice(0, 3)));
            const state = await request('GET', `${mock.url}/_mock/state`);
            const sOrders = (state.json && state.json.orders) || [];
            const mine = sOrders.filter((o) => created.includes(o.order_id));
            report(`[${sc.name}] exchange holds the ${created.length} created orders in group ${group}`,
                mine.length === created.length && mine.every((o) => o.order_group_id === group),
                JSON.stringify(mine.map((o) => ({ id: o.order_id, group: o.order_group_id, status: o.status }))));
            for (const id of canceled) {
                const c = reqs.some((q) => q.method === 'DELETE' && q.path === `/trade-api/v2/portfolio/events/orders/${id}`);
                const o = sOrders.find((x) => x.order_id === id);
                report(`[${sc.name}] cancel of ${id} reached the exchange (order ${o && o.status})`, c && o && o.status === 'canceled', JSON.stringify(o));
            }
            const end = await request('POST', `${gw.url}/session/end`, {}, adminH);
            report(`[${sc.name}] POST /session/end: HTTP ${end.status}`, end.status === 200, end.text);
            const rc = await gw.stop();
            report(`[${sc.name}] gateway stops on SIGTERM, exit 0`, rc === 0, `exit ${rc}`);
            if (failed > gwFailedBefore) {
                console.log(`---- ${sc.name}: gateway log (last 60 lines)`);
                console.log(gw.logs().split('\n').slice(-60).join('\n'));
                console.log('---- exchange requests');
                for (const q of reqs) console.log(`  ${q.method} ${q.path}${q.query ? '?' + q.query : ''} -> ${q.status} sig_valid=${q.sig_valid} ${q.body ? q.body.slice(0, 300) : ''}`);
            }
        }
    } finally {
        killAll();
        if (!failed) fs.rmSync(dir, { recursive: true, force: true });
        else console.log(`compat: kept ${dir} (logs, configs)`);
    }
    return { passed, failed };
}

async function main() {
    const argv = process.argv.slice(2);
    if (argv[0] === '--worker') return worker(argv[1]);
    const bi = argv.indexOf('--build');
    const build = path.resolve(bi >= 0 ? argv[bi + 1] : 'build');
    const { passed, failed } = await orchestrate(build);
    console.log(`compat: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((e) => { console.error(e && e.stack || e); killAll(); process.exit(1); });
