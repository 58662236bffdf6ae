#!/usr/bin/env node
// The side-by-side benchmark: iisn against node alone, nginx and PM2, in one run.
//
// Started by bench/run.sh (which builds iisn and installs wrk, nginx and pm2 when missing);
// see bench/README.md. Every target serves the same node app (bench/app/server.js) with the
// same number of node processes (2), and gets the same wrk load for the same time. Targets
// are interleaved within each round so that noise from a shared machine spreads over all of
// them, and each figure is the median over the rounds.
//
// "Proxy CPU per request" is the utime+stime the proxy's own processes spent during the run
// (read from /proc/<pid>/stat before and after), divided by the requests wrk completed: the
// node workers are not counted. It is steadier than req/s on a busy machine.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const http = require('http');
const { spawn, execFileSync, spawnSync } = require('child_process');

const HERE = __dirname;
const ROOT = path.dirname(HERE);

// ---------------------------------------------------------------------------------------
// Options

function usage() {
  return `usage: bench/run.sh [options]
  --quick               3 rounds of 3 s, hello and chunked only (for iterating)
  --rounds N            rounds per target and scenario (default 3)
  --duration S          seconds per wrk run (default 8)
  --targets a,b         node,nginx,pm2,iisn,iisn-kudu (default: all)
  --scenarios a,b       hello,chunked,echo,download,c1000 (default: all)
  --iisn PATH           the iisn binary (default: target/release/iisn)
  --baseline PATH       another iisn binary (an older build) run as two more targets,
                        "iisn-base" and "iisn-kudu-base": before/after in one run
  --label TEXT          a name for this run in the output (e.g. "before")
  --out DIR             where the JSON and markdown go (default: bench/out)
  --keep                leave the temporary folder (configs, logs) in place`;
}

function parseArgs(argv) {
  const o = {
    rounds: 3,
    duration: 8,
    targets: ['node', 'nginx', 'pm2', 'iisn', 'iisn-kudu'],
    scenarios: ['hello', 'chunked', 'echo', 'download', 'c1000'],
    iisn: path.join(ROOT, 'target/release/iisn'),
    label: '',
    out: path.join(HERE, 'out'),
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value\n${usage()}`);
      return argv[++i];
    };
    switch (a) {
      case '--quick':
        o.rounds = 3;
        o.duration = 3;
        o.scenarios = ['hello', 'chunked'];
        break;
      case '--rounds': o.rounds = Math.max(1, parseInt(next(), 10) || 1); break;
      case '--duration': o.duration = Math.max(1, parseInt(next(), 10) || 1); break;
      case '--targets': o.targets = next().split(',').filter(Boolean); break;
      case '--scenarios': o.scenarios = next().split(',').filter(Boolean); break;
      case '--iisn': o.iisn = path.resolve(next()); break;
      case '--label': o.label = next(); break;
      case '--baseline': o.baseline = path.resolve(next()); break;
      case '--out': o.out = path.resolve(next()); break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': console.log(usage()); process.exit(0); break;
      default: fail(`unknown option ${a}\n${usage()}`);
    }
  }
  if (o.baseline) {
    if (!fs.existsSync(o.baseline)) fail(`no iisn binary at ${o.baseline}`);
    for (const t of ['iisn', 'iisn-kudu']) {
      if (o.targets.includes(t) && !o.targets.includes(`${t}-base`)) o.targets.push(`${t}-base`);
    }
  }
  for (const t of o.targets) if (!TARGETS[t]) fail(`unknown target ${t}`);
  for (const s of o.scenarios) if (!SCENARIOS[s]) fail(`unknown scenario ${s}`);
  return o;
}

function fail(msg) {
  console.error(`bench: ${msg}`);
  cleanup();
  process.exit(2);
}

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------
// Scenarios: what wrk sends. `conns` keep-alive connections on one wrk thread.

const SCENARIOS = {
  hello: { path: '/server.js', conns: 64, title: 'hello (Content-Length)' },
  chunked: { path: '/server.js/chunked', conns: 64, title: 'hello (chunked)' },
  echo: { path: '/server.js/echo', conns: 64, title: 'POST echo 64 KiB', post: 64 * 1024 },
  download: { path: '/server.js/download', conns: 8, title: '30 MiB download', mib: true },
  c1000: { path: '/server.js', conns: 1000, title: '1,000 keep-alive connections', threads: 2 },
};

// ---------------------------------------------------------------------------------------
// Processes: everything started here is remembered by PID and stopped by PID.

const started = []; // { pid, name, stop: signal }
let tmp = null;
let keepTmp = false;

function track(child, name, stopSignal) {
  started.push({ pid: child.pid, name, stop: stopSignal || 'SIGTERM', child });
  child.on('exit', () => {
    const e = started.find((s) => s.pid === child.pid);
    if (e) e.exited = true;
  });
  return child;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const s of started.slice().reverse()) {
    if (s.exited || !alive(s.pid)) continue;
    if (s.beforeStop) {
      try { s.beforeStop(); } catch (_) { /* best effort */ }
    }
    try { process.kill(s.pid, s.stop); } catch (_) { /* gone */ }
  }
  const deadline = Date.now() + 5000;
  for (const s of started) {
    while (!s.exited && alive(s.pid) && Date.now() < deadline) sleepSync(50);
    if (alive(s.pid)) {
      try { process.kill(s.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    }
  }
  if (tmp && !keepTmp) {
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch (_) { /* best effort */ }
  }
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

process.on('SIGINT', () => { cleanup(); process.exit(130); });
process.on('SIGTERM', () => { cleanup(); process.exit(143); });
process.on('exit', cleanup);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => { req.destroy(); resolve(0); });
  });
}

async function waitHttp(url, what, proc) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) fail(`${what} exited (${proc.exitCode}) before answering`);
    if ((await get(url)) === 200) return;
    await sleep(100);
  }
  fail(`${what} did not answer 200 on ${url} within 60 s`);
}

async function waitFile(p, what) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (fs.existsSync(p)) return;
    await sleep(50);
  }
  fail(`${what} did not create ${p}`);
}

function logFile(name) {
  return fs.openSync(path.join(tmp, `${name}.log`), 'a');
}

function startNode(name, port) {
  const out = logFile(name);
  const child = spawn(process.execPath, [path.join(tmp, 'app/server.js')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', out, out],
  });
  return track(child, name);
}

/// Children of `pid` (one level), from /proc.
function childrenOf(pid) {
  const kids = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(+d);
    if (st && st.ppid === pid) kids.push(+d);
  }
  return kids;
}

// ---------------------------------------------------------------------------------------
// /proc readings

const CLK_TCK = (() => {
  try {
    return parseInt(execFileSync('getconf', ['CLK_TCK']).toString(), 10) || 100;
  } catch (_) {
    return 100;
  }
})();

function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: +rest[1], utime: +rest[11], stime: +rest[12] };
  } catch (_) {
    return null;
  }
}

function cpuSeconds(pids) {
  let t = 0;
  for (const p of pids) {
    const st = readStat(p);
    if (st) t += st.utime + st.stime;
  }
  return t / CLK_TCK;
}

function rssKiB(pids) {
  let t = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) t += +m[1];
    } catch (_) { /* gone */ }
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// Targets: each starts its own node workers and proxy, and names the proxy's processes.

const TARGETS = {
  node: {
    title: 'node alone (1 process)',
    async start() {
      const port = await freePort();
      const n = startNode('node-alone', port);
      await waitHttp(`http://127.0.0.1:${port}/server.js`, 'node', n);
      return { port, proxyPids: () => [] };
    },
  },
  nginx: {
    title: 'nginx (2 workers) → 2 node',
    async start() {
      const dir = path.join(tmp, 'nginx');
      fs.mkdirSync(dir, { recursive: true });
      const socks = [1, 2].map((i) => path.join(tmp, `nginx-node${i}.sock`));
      socks.forEach((s, i) => startNode(`nginx-node${i + 1}`, s));
      for (const s of socks) await waitFile(s, 'node behind nginx');
      const port = await freePort();
      const root = process.getuid && process.getuid() === 0;
      fs.writeFileSync(path.join(dir, 'nginx.conf'), `${root ? 'user root;\n' : ''}worker_processes 2;
worker_rlimit_nofile 65536;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream node {
    server unix:${socks[0]} max_fails=0;
    server unix:${socks[1]} max_fails=0;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / {
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`);
      const out = logFile('nginx');
      const child = track(
        spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
          stdio: ['ignore', out, out],
        }),
        'nginx',
        'SIGQUIT',
      );
      await waitHttp(`http://127.0.0.1:${port}/server.js`, 'nginx', child);
      const pids = [child.pid, ...childrenOf(child.pid)];
      return { port, proxyPids: () => pids };
    },
  },
  pm2: {
    title: 'PM2 cluster ×2',
    async start() {
      const home = path.join(tmp, 'pm2');
      fs.mkdirSync(home, { recursive: true });
      const port = await freePort();
      const env = { ...process.env, PM2_HOME: home, PORT: String(port) };
      const r = spawnSync('pm2', ['start', path.join(tmp, 'app/server.js'), '-i', '2', '--name', 'bench'], {
        env,
        encoding: 'utf8',
      });
      if (r.status !== 0) fail(`pm2 start failed: ${r.stderr || r.stdout}`);
      const daemon = parseInt(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8'), 10);
      started.push({
        pid: daemon,
        name: 'pm2 daemon',
        stop: 'SIGTERM',
        beforeStop: () => spawnSync('pm2', ['kill'], { env, stdio: 'ignore', timeout: 10000 }),
      });
      await waitHttp(`http://127.0.0.1:${port}/server.js`, 'pm2', null);
      // PM2's daemon is the cluster primary: on Linux it accepts and hands out connections.
      return { port, proxyPids: () => [daemon] };
    },
  },
  iisn: {
    title: 'iisn → 2 node (plain web.config)',
    async start(o) {
      const site = path.join(tmp, 'site-plain');
      fs.mkdirSync(site, { recursive: true });
      fs.copyFileSync(path.join(tmp, 'app/server.js'), path.join(site, 'server.js'));
      fs.copyFileSync(path.join(HERE, 'app/web.config'), path.join(site, 'web.config'));
      return startIisn(o, site, 'iisn');
    },
  },
  'iisn-kudu': {
    title: 'iisn → 2 node (Kudu web.config)',
    async start(o) {
      const site = path.join(tmp, 'site-kudu');
      fs.mkdirSync(path.join(site, 'public'), { recursive: true });
      fs.copyFileSync(path.join(tmp, 'app/server.js'), path.join(site, 'server.js'));
      fs.copyFileSync(path.join(ROOT, 'examples/kudu/web.config'), path.join(site, 'web.config'));
      fs.writeFileSync(path.join(site, 'public/robots.txt'), 'User-agent: *\n');
      return startIisn(o, site, 'iisn-kudu');
    },
  },
};

TARGETS['iisn-base'] = {
  title: 'baseline iisn → 2 node (plain web.config)',
  async start(o) {
    const site = path.join(tmp, 'site-plain-base');
    fs.mkdirSync(site, { recursive: true });
    fs.copyFileSync(path.join(tmp, 'app/server.js'), path.join(site, 'server.js'));
    fs.copyFileSync(path.join(HERE, 'app/web.config'), path.join(site, 'web.config'));
    return startIisn(o, site, 'iisn-base', o.baseline);
  },
};
TARGETS['iisn-kudu-base'] = {
  title: 'baseline iisn → 2 node (Kudu web.config)',
  async start(o) {
    const site = path.join(tmp, 'site-kudu-base');
    fs.mkdirSync(path.join(site, 'public'), { recursive: true });
    fs.copyFileSync(path.join(tmp, 'app/server.js'), path.join(site, 'server.js'));
    fs.copyFileSync(path.join(ROOT, 'examples/kudu/web.config'), path.join(site, 'web.config'));
    return startIisn(o, site, 'iisn-kudu-base', o.baseline);
  },
};

async function startIisn(o, site, name, binary) {
  const port = await freePort();
  const out = logFile(name);
  const child = track(
    spawn(binary || o.iisn, ['serve', site, '--port', String(port), '--processes', '2', '--no-watch'], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', out, out],
    }),
    name,
    'SIGINT',
  );
  await waitHttp(`http://127.0.0.1:${port}/server.js`, name, child);
  return { port, proxyPids: () => [child.pid] };
}

// ---------------------------------------------------------------------------------------
// wrk

function sizeToMiB(s) {
  const m = /([\d.]+)([KMGT]?B)/.exec(s);
  if (!m) return 0;
  const f = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024, TB: 1048576 }[m[2]];
  return +m[1] * f;
}

function timeToMs(s) {
  const m = /([\d.]+)(us|ms|s|m)\b/.exec(s);
  if (!m) return null;
  return +m[1] * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
}

function parseWrk(text) {
  const r = { requests: 0, rps: 0, p50: null, p99: null, errors: 0, mibps: 0 };
  let m;
  if ((m = /(\d+) requests in/.exec(text))) r.requests = +m[1];
  if ((m = /Requests\/sec:\s+([\d.]+)/.exec(text))) r.rps = +m[1];
  if ((m = /Transfer\/sec:\s+(\S+)/.exec(text))) r.mibps = sizeToMiB(m[1]);
  if ((m = /^\s+50%\s+(\S+)/m.exec(text))) r.p50 = timeToMs(m[1]);
  if ((m = /^\s+99%\s+(\S+)/m.exec(text))) r.p99 = timeToMs(m[1]);
  if ((m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text))) {
    r.errors += +m[1] + +m[2] + +m[3] + +m[4];
  }
  if ((m = /Non-2xx or 3xx responses: (\d+)/.exec(text))) r.errors += +m[1];
  return r;
}

function runWrk(args) {
  return new Promise((resolve) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', () => resolve(out));
  });
}

async function measure(o, target, scenario, duration) {
  const sc = SCENARIOS[scenario];
  const url = `http://127.0.0.1:${target.port}${sc.path}`;
  const args = ['-t', String(sc.threads || 1), '-c', String(sc.conns), '-d', `${duration}s`, '--timeout', '10s', '--latency'];
  if (sc.post) args.push('-s', path.join(tmp, 'post.lua'));
  args.push(url);
  const pids = target.proxyPids();
  const cpu0 = cpuSeconds(pids);
  let rss = 0;
  const sampler = setInterval(() => { rss = Math.max(rss, rssKiB(pids)); }, 200);
  const out = await runWrk(args);
  clearInterval(sampler);
  rss = Math.max(rss, rssKiB(pids));
  const cpu = cpuSeconds(pids) - cpu0;
  const r = parseWrk(out);
  if (!r.requests) log(`wrk gave no result for ${scenario}:\n${out}`);
  r.cpuUsPerReq = pids.length && r.requests ? (cpu * 1e6) / r.requests : null;
  r.rssMiB = pids.length ? rss / 1024 : null;
  return r;
}

// ---------------------------------------------------------------------------------------
// Reporting

function median(xs) {
  const v = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function versionOf(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
    return ((r.stdout || '') + (r.stderr || '')).trim().split('\n')[0];
  } catch (_) {
    return 'unknown';
  }
}

function pm2Version() {
  // `pm2 -v` starts PM2's daemon: read the version from its package instead.
  try {
    const bin = spawnSync('sh', ['-c', 'command -v pm2'], { encoding: 'utf8' }).stdout.trim();
    const pkg = path.join(path.dirname(fs.realpathSync(bin)), '..', 'package.json');
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version || 'unknown';
  } catch (_) {
    return 'unknown';
  }
}

function fmt(x, digits) {
  if (x === null || x === undefined) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ratio(a, b) {
  return a !== null && b ? a / b : null;
}

function markdown(report) {
  const lines = [];
  lines.push(`### ${report.label ? report.label + ': ' : ''}${report.date}`);
  lines.push('');
  lines.push(`${report.machine.cpu} × ${report.machine.cores}, ${report.machine.kernel}; ` +
    `${report.versions.iisn}, node ${report.versions.node}, ${report.versions.nginx}, ` +
    `pm2 ${report.versions.pm2}, ${report.versions.wrk}. ` +
    `${report.rounds} rounds of ${report.duration} s, medians; wrk on the same machine.`);
  lines.push('');
  for (const sc of report.scenarios) {
    const s = SCENARIOS[sc];
    lines.push(`**${s.title}** (${s.conns} connections)`);
    lines.push('');
    lines.push(`| target | ${s.mib ? 'MiB/s' : 'req/s'} | p50 | p99 | errors | proxy CPU/req | proxy RSS (peak) |`);
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const t of report.targets) {
      const r = report.results[t][sc];
      lines.push(`| ${TARGETS[t].title} | ${s.mib ? fmt(r.mibps, 0) : fmt(r.rps, 0)} | ${fmt(r.p50, 2)} ms | ` +
        `${fmt(r.p99, 2)} ms | ${fmt(r.errors, 0)} | ${r.cpuUsPerReq === null ? '—' : fmt(r.cpuUsPerReq, 1) + ' µs'} | ` +
        `${r.rssMiB === null ? '—' : fmt(r.rssMiB, 1) + ' MiB'} |`);
    }
    const rt = report.ratios[sc] || {};
    const parts = [];
    if (rt.iisn_nginx_rps !== undefined) parts.push(`iisn/nginx ${s.mib ? 'MiB/s' : 'req/s'} ${fmt(rt.iisn_nginx_rps, 2)}×`);
    if (rt.iisn_nginx_cpu !== undefined) parts.push(`iisn/nginx CPU/req ${fmt(rt.iisn_nginx_cpu, 2)}×`);
    if (rt.iisn_pm2_rps !== undefined) parts.push(`iisn/PM2 ${s.mib ? 'MiB/s' : 'req/s'} ${fmt(rt.iisn_pm2_rps, 2)}×`);
    if (rt.kudu_plain_cpu !== undefined) parts.push(`Kudu/plain CPU/req ${fmt(rt.kudu_plain_cpu, 2)}×`);
    if (rt.iisn_base_cpu !== undefined) parts.push(`iisn/baseline CPU/req ${fmt(rt.iisn_base_cpu, 2)}×`);
    if (rt.kudu_base_cpu !== undefined) parts.push(`Kudu iisn/baseline CPU/req ${fmt(rt.kudu_base_cpu, 2)}×`);
    if (parts.length) {
      lines.push('');
      lines.push(parts.join(' · '));
    }
    const pr = rt.paired || {};
    const paired = [];
    if (pr.iisn_nginx_rps !== undefined) paired.push(`iisn/nginx ${s.mib ? 'MiB/s' : 'req/s'} ${fmt(pr.iisn_nginx_rps, 2)}×`);
    if (pr.iisn_nginx_cpu !== undefined) paired.push(`iisn/nginx CPU/req ${fmt(pr.iisn_nginx_cpu, 2)}×`);
    if (pr.iisn_pm2_rps !== undefined) paired.push(`iisn/PM2 ${s.mib ? 'MiB/s' : 'req/s'} ${fmt(pr.iisn_pm2_rps, 2)}×`);
    if (pr.kudu_plain_cpu !== undefined) paired.push(`Kudu/plain CPU/req ${fmt(pr.kudu_plain_cpu, 2)}×`);
    if (paired.length) {
      lines.push('');
      lines.push(`Paired (median of each round's ratio): ${paired.join(' · ')}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  keepTmp = o.keep;
  if (o.targets.some((t) => t.startsWith('iisn')) && !fs.existsSync(o.iisn)) {
    fail(`no iisn binary at ${o.iisn} (bench/run.sh builds it)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iisn-bench-'));
  fs.mkdirSync(path.join(tmp, 'app'));
  fs.copyFileSync(path.join(HERE, 'app/server.js'), path.join(tmp, 'app/server.js'));
  fs.writeFileSync(path.join(tmp, 'post.lua'),
    'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\n' +
    'wrk.headers["Content-Type"] = "application/octet-stream"\n');

  const running = {};
  for (const t of o.targets) {
    log(`starting ${TARGETS[t].title}`);
    running[t] = await TARGETS[t].start(o);
  }
  // Warm-up: JIT, connection pools, page cache.
  for (const t of o.targets) await measure(o, running[t], 'hello', 1);

  const raw = {};
  for (const t of o.targets) {
    raw[t] = {};
    for (const sc of o.scenarios) raw[t][sc] = [];
  }
  for (let round = 1; round <= o.rounds; round++) {
    // Odd rounds run the targets in order, even rounds in reverse: on a shared machine whose
    // speed drifts over minutes, no target is always measured before another.
    const order = round % 2 === 1 ? o.targets : [...o.targets].reverse();
    for (const sc of o.scenarios) {
      for (const t of order) {
        const r = await measure(o, running[t], sc, o.duration);
        raw[t][sc].push(r);
        log(`round ${round}/${o.rounds} ${sc} ${t}: ${fmt(SCENARIOS[sc].mib ? r.mibps : r.rps, 0)}` +
          `${SCENARIOS[sc].mib ? ' MiB/s' : ' req/s'}, p99 ${fmt(r.p99, 2)} ms, errors ${r.errors}` +
          (r.cpuUsPerReq !== null ? `, ${fmt(r.cpuUsPerReq, 1)} µs CPU/req, ${fmt(r.rssMiB, 1)} MiB` : ''));
        await sleep(300);
      }
    }
  }

  const results = {};
  for (const t of o.targets) {
    results[t] = {};
    for (const sc of o.scenarios) {
      const rs = raw[t][sc];
      const pick = (k) => median(rs.map((r) => r[k]));
      results[t][sc] = {
        rps: pick('rps'), mibps: pick('mibps'), p50: pick('p50'), p99: pick('p99'),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        cpuUsPerReq: pick('cpuUsPerReq'), // The peak during the run, lowest over the rounds: later rounds start with what earlier
        // scenarios (30 MiB downloads, 1,000 connections) left in the allocator.
        rssMiB: rs.some((r) => r.rssMiB !== null) ? Math.min(...rs.map((r) => r.rssMiB || 0)) : null,
        requests: rs.reduce((a, r) => a + r.requests, 0),
      };
    }
  }
  const ratios = {};
  for (const sc of o.scenarios) {
    const rt = {};
    const speed = (t) => results[t] && (SCENARIOS[sc].mib ? results[t][sc].mibps : results[t][sc].rps);
    const cpu = (t) => results[t] && results[t][sc].cpuUsPerReq;
    if (results.iisn && results.nginx) {
      rt.iisn_nginx_rps = ratio(speed('iisn'), speed('nginx'));
      rt.iisn_nginx_cpu = ratio(cpu('iisn'), cpu('nginx'));
    }
    if (results.iisn && results.pm2) rt.iisn_pm2_rps = ratio(speed('iisn'), speed('pm2'));
    if (results.iisn && results['iisn-kudu']) rt.kudu_plain_cpu = ratio(cpu('iisn-kudu'), cpu('iisn'));
    if (results.iisn && results['iisn-base']) rt.iisn_base_cpu = ratio(cpu('iisn'), cpu('iisn-base'));
    if (results['iisn-kudu'] && results['iisn-kudu-base']) rt.kudu_base_cpu = ratio(cpu('iisn-kudu'), cpu('iisn-kudu-base'));
    // The same ratios paired: the median over rounds of each round's ratio. Both targets of a
    // pair ran within seconds of each other, so a drift of the machine's speed between rounds
    // (steal time on a shared VM) cancels out, where it does not in a ratio of medians.
    const speedKey = SCENARIOS[sc].mib ? 'mibps' : 'rps';
    const paired = (a, b, k) => {
      if (!raw[a] || !raw[b]) return undefined;
      const rs = raw[a][sc].map((r, i) => ratio(r[k], raw[b][sc][i] && raw[b][sc][i][k])).filter((x) => x !== null);
      return rs.length ? median(rs) : undefined;
    };
    const pr = {
      iisn_nginx_rps: paired('iisn', 'nginx', speedKey),
      iisn_nginx_cpu: paired('iisn', 'nginx', 'cpuUsPerReq'),
      iisn_pm2_rps: paired('iisn', 'pm2', speedKey),
      kudu_plain_cpu: paired('iisn-kudu', 'iisn', 'cpuUsPerReq'),
    };
    for (const k of Object.keys(pr)) if (pr[k] === undefined) delete pr[k];
    if (Object.keys(pr).length) rt.paired = pr;
    ratios[sc] = rt;
  }
  const has = (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
  const report = {
    label: o.label,
    date: new Date().toISOString(),
    rounds: o.rounds,
    duration: o.duration,
    machine: {
      cpu: (os.cpus()[0] || {}).model || 'unknown',
      cores: os.cpus().length,
      kernel: `${os.type()} ${os.release()}`,
      loadavg: os.loadavg(),
    },
    versions: {
      iisn: o.targets.some((t) => t.startsWith('iisn')) ? versionOf(o.iisn, ['--version']) : 'iisn (not run)',
      baseline: o.baseline || null,
      node: process.version,
      nginx: has('nginx') ? versionOf('nginx', ['-v']) : 'nginx (not run)',
      pm2: has('pm2') ? pm2Version() : '(not run)',
      wrk: has('wrk') ? versionOf('wrk', ['-v']).replace(/ \[.*$/, '') : 'wrk',
    },
    targets: o.targets,
    scenarios: o.scenarios,
    results,
    ratios,
    raw,
  };
  fs.mkdirSync(o.out, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  // The label goes into the file name as a slug ("round 7 before/after" has a slash).
  const slug = (o.label || '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  const base = path.join(o.out, `${slug ? slug + '-' : ''}${stamp}`);
  // Printed first, so that a run's figures are never lost to a file that cannot be written.
  const md = markdown(report);
  console.log(md);
  fs.writeFileSync(`${base}.json`, JSON.stringify(report, null, 2));
  fs.writeFileSync(`${base}.md`, md + '\n');
  log(`written ${base}.json and ${base}.md`);
  // The targets keep node's event loop alive: stop them and leave.
  cleanup();
  process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
