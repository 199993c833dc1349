// W5 for `scripts/bench` (bench/run-all.sh): the whole authorization-code + PKCE flow of a user
// app, as a browser and the app's backend do it, the way crates/accord/src/demo-walkthrough.sh does
// it with curl. Node 20+ (fetch), no npm packages.
//
// One flow, on a fresh cookie jar (so every flow signs in and consents again):
//   1. GET  /oauth/authorize?response_type=code&client_id&redirect_uri&state&code_challenge (S256)
//      -> 200, the sign-in page: hidden csrf_token and flow, cookies
//   2. POST /oauth/authorize/sign-in  csrf_token, flow, email, password  -> 303 to the consent page
//      (one Argon2id password check on the server)
//   3. GET  that page -> 200, the consent page: a new csrf_token and flow
//   4. POST /oauth/authorize/decision csrf_token, flow, decision=approve -> 303 to the redirect URI
//      with code, state (checked) and iss
//   5. POST /oauth/token (HTTP Basic) grant_type=authorization_code, code, redirect_uri,
//      code_verifier -> 200 with access_token and refresh_token
// Form posts carry Origin: the server's own origin, as a browser's same-site post does.
//
// Modes:
//   --mint N                     N flows, 4 at a time, users in turn (N <= --users: authorizing
//                                the app again ends the user's earlier refresh tokens), the N
//                                refresh tokens on stdout one a line; the first user's token is
//                                checked on GET /v2/users/me
//   --measure S --concurrency C  C virtual users (distinct users) run flows back to back for S
//                                seconds; each first runs one untimed flow whose access token is
//                                checked on GET /v2/users/me (it must be that user). Prints
//                                RESULT flows=… duration_us=… rps=… p50_us=… p90_us=… p99_us=…
//                                max_us=… errors=… (latency of whole flows)
// Options: --base URL (http://127.0.0.1:4301) --client-id --client-secret --redirect-uri
//          --users N (128: bench-user-000 … in bench/seed.json) --first-user K (0)
//          --server-pid PID: with --measure, RESULT also has srv_ticks, the server's CPU time
//          (/proc/PID/stat utime + stime, in clock ticks) over the timed part only
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const BASE = option('base', 'http://127.0.0.1:4301').replace(/\/$/, '');
const CLIENT_ID = option('client-id', 'bench-user-client');
const CLIENT_SECRET = option('client-secret', 'bench-user-secret-0123456789abcdef0123456789ab');
const REDIRECT_URI = option('redirect-uri', 'http://127.0.0.1:9/cb');
const USERS = Number(option('users', '128'));
const FIRST_USER = Number(option('first-user', '0'));
const SERVER_PID = option('server-pid', '');
const serverTicks = () => {
  if (!SERVER_PID) return 0;
  const stat = readFileSync(`/proc/${SERVER_PID}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return Number(fields[11]) + Number(fields[12]); // fields 14 (utime) and 15 (stime)
};
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
const ORIGIN = new URL(BASE).origin;

const user = (i) => {
  const n = String((FIRST_USER + i) % USERS).padStart(3, '0');
  return { email: `bench-user-${n}@bench.test`, password: `bench-user-${n}-password` };
};
const b64url = (buf) => buf.toString('base64url');

class FlowError extends Error {}
const fail = (step, res, detail = '') => { throw new FlowError(`${step}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`); };

// A cookie jar: name=value pairs from Set-Cookie (attributes ignored; loopback, one host).
class Jar {
  constructor() { this.cookies = new Map(); }
  take(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

const unescapeHtml = (s) => s.replace(/&(amp|lt|gt|quot|#39|#x27|#x2F);/g, (m, e) => (
  { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", '#x2F': '/' }[e]));
function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m ? unescapeHtml(m[1]) : undefined;
}

async function get(url, jar) {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
  jar.take(res);
  return res;
}
async function postForm(url, jar, fields) {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  jar.take(res);
  return res;
}

/** One whole flow for user `who`; answers the token response (access_token, refresh_token). */
async function flow(who) {
  const jar = new Jar();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const authorize = new URL('/oauth/authorize', BASE);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state,
    code_challenge: challenge, code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);

  let res = await get(authorize, jar);
  let page = await res.text();
  if (res.status !== 200 || !page.includes('name="password"')) fail('authorize (sign-in page)', res);
  res = await postForm(new URL('/oauth/authorize/sign-in', BASE), jar, {
    csrf_token: hidden(page, 'csrf_token') ?? '', flow: hidden(page, 'flow') ?? '',
    email: who.email, password: who.password,
  });
  await res.arrayBuffer();
  if (res.status !== 303) fail('sign-in', res, res.headers.get('retry-after') ? `retry-after ${res.headers.get('retry-after')}` : '');
  res = await get(new URL(res.headers.get('location'), BASE), jar);
  page = await res.text();
  if (res.status !== 200 || !page.includes('name="decision"')) fail('consent page', res);
  res = await postForm(new URL('/oauth/authorize/decision', BASE), jar, {
    csrf_token: hidden(page, 'csrf_token') ?? '', flow: hidden(page, 'flow') ?? '', decision: 'approve',
  });
  await res.arrayBuffer();
  if (res.status !== 303) fail('decision', res);
  const back = new URL(res.headers.get('location'));
  if (`${back.origin}${back.pathname}` !== REDIRECT_URI) fail('decision', res, `redirect to ${back.origin}${back.pathname}`);
  if (back.searchParams.get('state') !== state) fail('decision', res, 'state mismatch');
  const code = back.searchParams.get('code');
  if (!code) fail('decision', res, `no code (${back.search})`);
  res = await fetch(new URL('/oauth/token', BASE), {
    method: 'POST',
    headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
    }).toString(),
  });
  const body = await res.text();
  if (res.status !== 200) fail('token', res, body.slice(0, 200));
  const tokens = JSON.parse(body);
  if (!tokens.access_token || !tokens.refresh_token) fail('token', res, 'no access_token or refresh_token');
  return tokens;
}

/** The access token acts as `who`: GET /v2/users/me answers that user's email. */
async function checkToken(tokens, who) {
  const res = await fetch(new URL('/v2/users/me', BASE), { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const body = await res.text();
  if (res.status !== 200 || !body.includes(`"email":"${who.email}"`)) {
    throw new FlowError(`GET /v2/users/me with the flow's token: HTTP ${res.status} ${body.slice(0, 200)}`);
  }
}

async function mint(n) {
  if (n > USERS) throw new FlowError(`--mint ${n} > --users ${USERS}: a user's new authorization ends its earlier refresh tokens`);
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(4, n) }, async () => {
    while (next < n) {
      const i = next;
      next += 1;
      const who = user(i);
      const tokens = await flow(who);
      if (i === 0) await checkToken(tokens, who);
      out[i] = tokens.refresh_token;
    }
  }));
  process.stdout.write(`${out.join('\n')}\n`);
}

async function measure(seconds, concurrency) {
  if (concurrency > USERS) throw new FlowError(`--concurrency ${concurrency} > --users ${USERS}`);
  const who = Array.from({ length: concurrency }, (_, i) => user(i));
  // Untimed: one flow per virtual user, its token checked.
  await Promise.all(who.map(async (w) => checkToken(await flow(w), w)));
  const latencies = [];
  const errors = new Map();
  const ticks0 = serverTicks();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  await Promise.all(who.map(async (w) => {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      try {
        await flow(w);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
      } catch (err) {
        const key = err instanceof FlowError ? err.message : `${err.name}: ${err.message}`;
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  }));
  const durationUs = Number(process.hrtime.bigint() - start) / 1000;
  const ticks = serverTicks() - ticks0;
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]) : 0);
  let errorCount = 0;
  for (const [k, v] of errors) { errorCount += v; console.error(`flow error x${v}: ${k}`); }
  console.log(`RESULT requests=${latencies.length} duration_us=${Math.round(durationUs)} rps=${(latencies.length / (durationUs / 1e6)).toFixed(1)} `
    + `p50_us=${pct(50)} p90_us=${pct(90)} p99_us=${pct(99)} max_us=${Math.round(latencies.at(-1) ?? 0)} `
    + `status_err=${errorCount} sock_err=0 concurrency=${concurrency}${SERVER_PID ? ` srv_ticks=${ticks}` : ''}`);
}

try {
  if (args.includes('--mint')) {
    await mint(Number(option('mint', '1')));
  } else if (args.includes('--measure')) {
    await measure(Number(option('measure', '10')), Number(option('concurrency', '4')));
  } else {
    // One flow, its token checked: a smoke test.
    const who = user(0);
    const tokens = await flow(who);
    await checkToken(tokens, who);
    console.log(`ok ${who.email} refresh_token ${tokens.refresh_token.slice(0, 8)}…`);
  }
} catch (err) {
  console.error(`flow.mjs: ${err.message}`);
  process.exit(1);
}
