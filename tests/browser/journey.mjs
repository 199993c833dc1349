// The consoles walked in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against `accord demo` (its seeded story: Acme, Globex, Devworks). Run by scripts/browser-tests:
//
//   node tests/browser/journey.mjs BASE_URL OUT_DIR
//
// The journey (issue 10): a member refused an account app; the admin installs it; under
// pre-approval a member requests approval, the owner approves, the member authorizes; the owner
// removes that authorization; the admin uninstalls; each step is found in the audit log; Why?
// explains a refused call; the developer creates an app, rotates its secret, sees a delivery and
// redelivers it.
//
// Every page visited is screenshotted (OUT_DIR/NN-name-desktop.png and -phone.png) and checked by
// axe-core (injected into the same page) at desktop and phone width: a serious or critical
// violation fails the run. So does any console error (a CSP violation is one), any failed request,
// any answer of 400 or more the step did not expect, and a page wider than the phone's screen.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node journey.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// The demo apps' redirect URI. The journey answers it itself: a stand-in for the app's page.
// (A route in the browser cannot: Playwright does not intercept the target of a redirect.)
const CALLBACK = 'http://127.0.0.1:9000/callback';

/** The app's side of the redirect: a page saying the browser is back at the app. */
function listenAsTheApp() {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Back at the app</title></head><body><main><h1>Back at the app</h1></main></body></html>');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot listen on 127.0.0.1:9000 as the demo apps' redirect URI: ${error.message}`)));
    server.listen(9000, '127.0.0.1', () => resolve(server));
  });
}
const PASSWORD = (email) => `${email.split('@')[0]}-demo-password`;

const problems = [];
const checkedPages = [];
let shot = 0;

/** A person with a browser profile of their own (cookies), watched for errors. */
async function person(browser, name) {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const who = { name, context, page, expected: new Set() };
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // A refusal the step asked for shows up as "Failed to load resource: … status of 4xx".
    const status = /status of (\d{3})/.exec(text);
    if (status && who.expected.has(Number(status[1]))) return;
    problems.push(`${name}: console error on ${page.url()}: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`${name}: page error on ${page.url()}: ${error}`));
  page.on('requestfailed', (request) => {
    const error = request.failure()?.errorText;
    // A request the browser itself cancelled because the page moved on (the icon of a page left
    // at once) is not a failure of the server.
    if (error === 'net::ERR_ABORTED') return;
    problems.push(`${name}: request failed: ${request.method()} ${request.url()} (${error})`);
  });
  page.on('response', (response) => {
    const status = response.status();
    if (status >= 400 && !who.expected.has(status)) {
      problems.push(`${name}: ${status} for ${response.request().method()} ${response.url()}`);
    }
  });
  return who;
}

/** Runs `action` with answers of `statuses` expected (a refusal the journey asks for). */
async function expecting(who, statuses, action) {
  for (const status of statuses) who.expected.add(status);
  try {
    return await action();
  } finally {
    who.expected.clear();
  }
}

/** Screenshots the page at both widths and runs axe-core on it at both. */
async function look(who, name) {
  const { page } = who;
  await page.waitForLoadState('load');
  shot += 1;
  const stem = `${String(shot).padStart(2, '0')}-${name}`;
  for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(viewport);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > viewport.width) {
      problems.push(`${who.name}: ${name} is ${width}px wide at ${label} width (${viewport.width}px): the page scrolls sideways`);
    }
    await page.screenshot({ path: path.join(outDir, `${stem}-${label}.png`), fullPage: true });
    await page.evaluate(AXE_SOURCE);
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { resultTypes: ['violations'] }),
    );
    for (const violation of result.violations) {
      if (violation.impact === 'serious' || violation.impact === 'critical') {
        const targets = violation.nodes.map((node) => node.target.join(' ')).slice(0, 3).join('; ');
        problems.push(`${who.name}: axe ${violation.impact} "${violation.id}" (${violation.help}) on ${name} at ${label} width: ${targets}`);
      }
    }
  }
  await page.setViewportSize(DESKTOP);
  checkedPages.push(stem);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(who) {
  return who.page.locator('main').innerText();
}

async function signInToConsole(who, email) {
  await who.page.goto(`${base}/console/sign-in`);
  // Signed in already (on the consent page): the sign-in page goes on to the console.
  if (who.page.url() === `${base}/console`) return;
  await who.page.getByLabel('Email').fill(email);
  await who.page.getByLabel('Password').fill(PASSWORD(email));
  await who.page.getByRole('button', { name: 'Sign in' }).click();
  await who.page.waitForURL(`${base}/console`);
}

function authorizeUrl(clientId) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    state: 'journey',
  });
  return `${base}/oauth/authorize?${query}`;
}

/** Opens an app's install / consent page, signing in on the way if needed. */
async function openConsent(who, clientId, email) {
  await who.page.goto(authorizeUrl(clientId));
  if (await who.page.getByLabel('Password').count()) {
    await look(who, `sign-in-for-${clientId}`);
    await who.page.getByLabel('Email').fill(email);
    await who.page.getByLabel('Password').fill(PASSWORD(email));
    await who.page.getByRole('button', { name: 'Sign in' }).click();
    await who.page.waitForLoadState('load');
  }
}

/** Approves the consent page and returns the authorization code from the redirect. */
async function approve(who) {
  await who.page.getByRole('button', { name: /approve|allow|install|authorize/i }).first().click();
  await who.page.waitForURL((url) => url.href.startsWith(CALLBACK));
  const code = new URL(who.page.url()).searchParams.get('code');
  check(code, `no code in ${who.page.url()}`);
  return code;
}

async function exchange(clientId, secret, code) {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }),
  });
  const body = await response.json();
  check(response.ok && body.access_token, `token exchange failed: ${JSON.stringify(body)}`);
  return body.access_token;
}

async function main() {
  const app = await listenAsTheApp();
  try {
    await withBrowser();
  } finally {
    app.close();
  }
}

async function withBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    await journey(browser);
  } finally {
    await browser.close();
  }
}

async function journey(browser) {
  // 1. A member is refused an account app: only an admin may install it.
  const ann = await person(browser, 'Ann (Acme member)');
  await expecting(ann, [403], async () => {
    await openConsent(ann, 'meeting-sync', 'ann@acme.test');
    check(/admin must install/i.test(await text(ann)), 'the member was not told an admin must install the app');
    check((await ann.page.getByRole('button', { name: /approve/i }).count()) === 0, 'the member was offered approve');
    await look(ann, 'consent-member-refused');
  });

  // 2. The admin installs it.
  const adam = await person(browser, 'Adam (Acme admin)');
  await openConsent(adam, 'meeting-sync', 'adam@acme.test');
  await look(adam, 'consent-admin-install');
  await approve(adam);

  // The member's own authorization of the user app, for My apps and for Why? below.
  await ann.page.goto(authorizeUrl('notes'));
  await look(ann, 'consent-user-app');
  const annCode = await approve(ann);
  const annToken = await exchange('notes', 'notes-secret', annCode);

  // 3. Pre-approval (Globex): the member asks, the owner approves, the member authorizes.
  const gus = await person(browser, 'Gus (Globex member)');
  await openConsent(gus, 'notes', 'gus@globex.test');
  check(/approv/i.test(await text(gus)), 'the member was not told the app needs pre-approval');
  await look(gus, 'consent-preapproval-required');
  await gus.page.getByRole('button', { name: /request/i }).click();
  await gus.page.waitForLoadState('load');
  await look(gus, 'consent-preapproval-requested');

  const gina = await person(browser, 'Gina (Globex owner)');
  await signInToConsole(gina, 'gina@globex.test');
  await look(gina, 'console-my-apps-owner');
  await gina.page.goto(`${base}/console/apps`);
  await look(gina, 'console-installed-apps-request');
  await gina.page.getByRole('button', { name: /approve/i }).first().click();
  await gina.page.waitForLoadState('load');
  await look(gina, 'console-installed-apps-approved');

  await gus.page.goto(authorizeUrl('notes'));
  await approve(gus);

  // 4. The owner removes the member's authorization.
  await gina.page.goto(`${base}/console/apps`);
  await gina.page.getByRole('row', { name: /gus@globex\.test/ }).getByRole('button', { name: /remove/i }).first().click();
  await gina.page.waitForLoadState('load');
  check(/removed/i.test(await text(gina)), 'no notice after removing the authorization');
  await look(gina, 'console-installed-apps-removed');

  // 5. The admin uninstalls the account app.
  await signInToConsole(adam, 'adam@acme.test');
  await adam.page.goto(`${base}/console/apps`);
  await look(adam, 'console-installed-apps-admin');
  await adam.page.getByRole('row', { name: /Meeting Sync/ }).getByRole('button', { name: /uninstall/i }).first().click();
  await adam.page.waitForLoadState('load');
  check(/uninstalled/i.test(await text(adam)), 'no notice after the uninstall');

  // 6. Each step in the audit log.
  await adam.page.goto(`${base}/console/audit`);
  const acmeLog = await text(adam);
  for (const action of ['grant.created', 'grant.revoked']) {
    check(acmeLog.includes(action), `Acme's audit log lacks ${action}`);
  }
  await look(adam, 'console-audit-log');
  await gina.page.goto(`${base}/console/audit`);
  const globexLog = await text(gina);
  for (const action of ['app.preapproval_requested', 'app.preapproved', 'grant.created', 'grant.revoked']) {
    check(globexLog.includes(action), `Globex's audit log lacks ${action}`);
  }

  // A member sees no admin page: the rule's refusal, explained.
  await signInToConsole(ann, 'ann@acme.test');
  await look(ann, 'console-my-apps-member');
  await expecting(ann, [400, 403], async () => {
    await ann.page.goto(`${base}/console/audit`);
    check(/role lacks|privilege/i.test(await text(ann)), 'the refusal does not explain the missing privilege');
    await look(ann, 'console-refused-member');
  });

  // 7. Why? on a refused call: Ann's user-app token asking for the account's user list.
  await ann.page.goto(`${base}/console/why`);
  await look(ann, 'console-why');
  await ann.page.getByLabel(/token/i).fill(annToken);
  await ann.page.getByLabel(/method/i).selectOption('GET');
  await ann.page.getByLabel(/path/i).fill('/v2/users');
  await ann.page.getByRole('button', { name: /explain|why/i }).click();
  await ann.page.waitForLoadState('load');
  const why = await text(ann);
  check(/deny|denied|refused/i.test(why), 'Why? does not show the refusal');
  check(!why.includes(annToken), 'Why? echoed the token');
  await look(ann, 'console-why-answer');

  // The other sections, as the admin.
  for (const [route, name] of [
    ['/console/users', 'console-users'],
    ['/console/roles', 'console-roles'],
    ['/console/scheduling', 'console-scheduling'],
    ['/console/meetings', 'console-meetings'],
  ]) {
    await adam.page.goto(`${base}${route}`);
    await look(adam, name);
  }

  // 8. The developer: create an app, rotate its secret, see a delivery and redeliver it.
  const dana = await person(browser, 'Dana (Devworks developer)');
  await signInToConsole(dana, 'dana@devworks.test');
  await dana.page.goto(`${base}/console/developer`);
  await look(dana, 'developer-apps');
  await dana.page.getByLabel('Name', { exact: true }).fill('Journey App');
  await dana.page.locator('#kind-user').check();
  await dana.page.locator('input[type=checkbox][value="meeting:read"]').check();
  await dana.page.getByLabel(/redirect/i).first().fill(CALLBACK);
  await dana.page.getByRole('button', { name: /create/i }).click();
  await dana.page.waitForLoadState('load');
  check((await text(dana)).includes('Journey App'), 'the new app is not shown');
  await look(dana, 'developer-app-created');
  await dana.page.getByRole('button', { name: /rotate.*secret/i }).first().click();
  await dana.page.waitForLoadState('load');
  check((await dana.page.locator('.secret').count()) > 0, 'the new secret is not shown once');
  await look(dana, 'developer-secret-rotated');

  await dana.page.goto(`${base}/console/developer`);
  await dana.page.getByRole('link', { name: 'Meeting Sync' }).first().click();
  await dana.page.waitForLoadState('load');
  const details = await text(dana);
  check(details.includes('app_deauthorized'), 'the uninstall delivery is not in the log');
  await look(dana, 'developer-app-deliveries');
  await dana.page.getByRole('button', { name: /redeliver/i }).first().click();
  await dana.page.waitForLoadState('load');
  check(/redeliver|queued/i.test(await text(dana)), 'no notice after redelivering');
  await look(dana, 'developer-redelivered');
}

main()
  .catch((error) => {
    problems.push(`the journey stopped: ${error.stack || error}`);
  })
  .finally(() => {
    console.log(`${checkedPages.length} pages checked (screenshots and axe at ${DESKTOP.width}px and ${PHONE.width}px) in ${outDir}`);
    if (problems.length) {
      console.error(`browser journey: ${problems.length} problem(s):`);
      for (const problem of problems) console.error(`  - ${problem}`);
      process.exit(1);
    }
    console.log('browser journey: passed');
  });
