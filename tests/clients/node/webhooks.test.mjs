// Receivers of Accord's webhooks written with published libraries, unchanged, each verifying every
// request it gets (webhooks.md, "Signing"):
// - `@zoom/rivet`'s own webhook receiver: a Meetings client given `webhooksSecretToken` serves
//   `POST /zoom/events` (rivet's HttpReceiver), checks `x-zm-signature` = v0=HMAC(token,
//   `v0:{x-zm-request-timestamp}:{JSON.stringify(parsed body)}`) — so Accord's body must be compact
//   JSON that re-serialises to the same bytes — answers `endpoint.url_validation` (after checking
//   its signature too), and hands verified events to listeners; anything else gets 400.
// - `standardwebhooks` (npm, the Standard Webhooks reference library): `new Webhook("whsec_" +
//   base64(token)).verify(rawBody, headers)` over `webhook-id`, `webhook-timestamp`,
//   `webhook-signature`, with its 5-minute timestamp tolerance.
//
// Part one signs bodies with `accord webhook sign` (accord_core::webhooks, the functions the
// delivery worker signs with) and posts them to both receivers: every genuine request verifies, a
// tampered, re-keyed, unsigned or stale one is refused. Part two (ACCORD_WEBHOOKS_LIVE=1) has a
// running `accord serve --webhook-allow-private` deliver to them: the seed's `clients-hooks-*`
// apps point at 127.0.0.1:27811/zoom/events and 127.0.0.1:27812/hooks (fixed ports below Linux's
// ephemeral range, 32768-60999, so no outgoing connection's local port can hold them; 47812 once
// did, EADDRINUSE); rotating each app's secret
// (POST /v2/apps/{appId}/webhook/secret) hands the receivers a token and makes URL validation due
// at once; a meeting created through the API must then arrive at both, verified, and the delivery
// log must say delivered.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { MeetingsS2SAuthClient } from "@zoom/rivet/meetings";
import { Webhook } from "standardwebhooks";

const accordUrl = (process.env.ACCORD_URL ?? "").replace(/\/+$/, "");
const secretsFile = process.env.ACCORD_SECRETS_FILE ?? "";
const accordBin =
  process.env.ACCORD_BIN || fileURLToPath(new URL("../../../target/debug/accord", import.meta.url));
const live = process.env.ACCORD_WEBHOOKS_LIVE === "1";
const seed = JSON.parse(readFileSync(new URL("../seed.json", import.meta.url), "utf8"));

/** Appends a secret to the log scan's list once (shared with pytest and rivet.test.mjs). */
function remember(secret) {
  if (!secretsFile) return;
  const known = readFileSync(secretsFile, "utf8").split("\n");
  if (!known.includes(secret)) appendFileSync(secretsFile, `${secret}\n`);
}

/** The headers Accord sends with `body`, signed by accord_core through `accord webhook sign`. */
function accordHeaders(token, body, { id = `evt-${randomBytes(6).toString("hex")}`, timestamp } = {}) {
  const args = ["webhook", "sign", "--id", id];
  if (timestamp !== undefined) args.push("--timestamp", String(timestamp));
  const out = execFileSync(accordBin, args, {
    input: body,
    env: { ...process.env, ACCORD_WEBHOOK_SECRET_TOKEN: token, ACCORD_LOG: "error" },
  });
  return JSON.parse(out.toString("utf8"));
}

/** A compact envelope as Accord writes it (serde_json: no whitespace, non-ASCII kept as is). */
function envelope(event, payload) {
  return JSON.stringify({ event, event_ts: Date.now(), payload });
}

const meetingCreated = () =>
  envelope("meeting.created", {
    account_id: "clients-hooks",
    operator: "owner@clients-hooks.test",
    operator_id: "hooks-owner",
    object: {
      id: 81234567890,
      uuid: "b/Qp3+Lw==",
      host_id: "hooks-owner",
      topic: 'Café ☕ review — "quoted" </script> \\ back\\slash',
      type: 2,
      start_time: "2026-12-24T16:15:00Z",
      duration: 45,
      timezone: "Europe/Oslo",
      settings: { host_video: true, waiting_room: false },
      tags: [],
    },
  });

/** Starts rivet's receiver (port 0 unless given); resolves to { port, events, stop }. */
async function rivetReceiver(token, port = 0) {
  const client = new MeetingsS2SAuthClient({
    clientId: "rivet-receiver-only",
    clientSecret: "rivet-receiver-only-secret",
    accountId: "clients-hooks",
    webhooksSecretToken: token,
    port,
  });
  const events = [];
  client.webEventConsumer.event("meeting.created", (event) => events.push(event));
  client.webEventConsumer.event("app_deauthorized", (event) => events.push(event));
  const server = await client.start();
  return { port: server.address().port, events, stop: () => new Promise((done) => server.close(done)) };
}

/** A receiver on `standardwebhooks`: 204 when the request verifies, 401 otherwise. */
async function standardReceiver(token, port = 0) {
  const verifier = new Webhook(`whsec_${Buffer.from(token, "utf8").toString("base64")}`);
  const verified = [];
  const refused = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      try {
        const event = verifier.verify(raw, req.headers);
        verified.push({ id: req.headers["webhook-id"], event });
        if (event?.event === "endpoint.url_validation") {
          // Accord validates the endpoint as Zoom does; this receiver answers it the same way.
          const plainToken = event.payload.plainToken;
          const encryptedToken = createHmac("sha256", token).update(plainToken).digest("hex");
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ plainToken, encryptedToken }));
          return;
        }
        res.writeHead(204).end();
      } catch (error) {
        refused.push(String(error?.message ?? error));
        res.writeHead(401).end();
      }
    });
  });
  await new Promise((ready) => server.listen(port, "127.0.0.1", ready));
  return {
    port: server.address().port,
    verified,
    refused,
    stop: () => new Promise((done) => server.close(done)),
  };
}

/**
 * Listens on `port` at once and forwards every request, unchanged, to the receiver given later by
 * `open(baseUrl)`; requests that come before it wait. Resolves to { open, stop }.
 */
async function frontDoor(port) {
  let open;
  const target = new Promise((resolve) => (open = resolve));
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      const headers = { ...req.headers };
      for (const hop of ["host", "connection", "content-length", "transfer-encoding"]) delete headers[hop];
      const answer = await fetch(`${await target}${req.url}`, {
        method: req.method,
        headers,
        body: Buffer.concat(chunks),
      });
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise((ready) => server.listen(port, "127.0.0.1", ready));
  return { open, stop: () => new Promise((done) => server.close(done)) };
}

async function post(url, headers, body) {
  const response = await fetch(url, { method: "POST", headers, body });
  const text = await response.text();
  return { status: response.status, text };
}

test("rivet's webhook receiver verifies every body Accord signs and refuses the rest", async (t) => {
  const token = `rivet-receiver-token-${randomBytes(8).toString("hex")}`;
  remember(token);
  const receiver = await rivetReceiver(token);
  t.after(receiver.stop);
  const url = `http://127.0.0.1:${receiver.port}/zoom/events`;

  await t.test("a URL validation is answered with HMAC(token, plainToken)", async () => {
    const plainToken = randomBytes(12).toString("base64url");
    const body = envelope("endpoint.url_validation", { plainToken });
    const { status, text } = await post(url, accordHeaders(token, body), body);
    assert.equal(status, 200, text);
    const answer = JSON.parse(text);
    assert.equal(answer.plainToken, plainToken);
    assert.equal(answer.encryptedToken, createHmac("sha256", token).update(plainToken).digest("hex"));
  });

  await t.test("a meeting.created envelope verifies and reaches the listener unchanged", async () => {
    const body = meetingCreated();
    const { status, text } = await post(url, accordHeaders(token, body), body);
    assert.equal(status, 200, text);
    assert.equal(receiver.events.length, 1);
    assert.deepEqual(receiver.events[0], JSON.parse(body));
  });

  await t.test("tampered, re-keyed or unsigned bodies are refused and reach no listener", async () => {
    const body = meetingCreated();
    const tampered = body.replace("Café", "Cafe");
    const cases = [
      ["tampered body", accordHeaders(token, body), tampered],
      ["another token", accordHeaders(`${token}-other`, body), body],
      ["no signature", { "content-type": "application/json" }, body],
    ];
    for (const [what, headers, sent] of cases) {
      const { status } = await post(url, headers, sent);
      assert.equal(status, 400, what);
    }
    assert.equal(receiver.events.length, 1, "only the genuine event was handed on");
  });
});

test("a Standard Webhooks receiver verifies every body Accord signs and refuses the rest", async (t) => {
  const token = `standard-receiver-token-${randomBytes(8).toString("hex")}`;
  remember(token);
  const receiver = await standardReceiver(token);
  t.after(receiver.stop);
  const url = `http://127.0.0.1:${receiver.port}/hooks`;

  await t.test("meeting.created and app_deauthorized envelopes verify, with their event ids", async () => {
    const bodies = [
      meetingCreated(),
      envelope("app_deauthorized", {
        account_id: "clients-hooks",
        user_id: "hooks-owner",
        client_id: "clients-hooks-standard",
        deauthorization_time: "2026-12-01T10:00:00Z",
        user_data_retention: "false",
        signature: "0".repeat(64),
      }),
    ];
    for (const [i, body] of bodies.entries()) {
      const id = `evt-standard-${i}`;
      const { status } = await post(url, accordHeaders(token, body, { id }), body);
      assert.equal(status, 204, body);
      assert.equal(receiver.verified.at(-1).id, id);
      assert.deepEqual(receiver.verified.at(-1).event, JSON.parse(body));
    }
  });

  await t.test("tampered, re-keyed, re-labelled or stale bodies are refused", async () => {
    const body = meetingCreated();
    const signed = accordHeaders(token, body, { id: "evt-genuine" });
    const stale = Math.floor(Date.now() / 1000) - 3600;
    const cases = [
      ["tampered body", signed, body.replace("Café", "Cafe")],
      ["another token", accordHeaders(`${token}-other`, body), body],
      ["another event id", { ...signed, "webhook-id": "evt-other" }, body],
      ["signed an hour ago", accordHeaders(token, body, { timestamp: stale }), body],
      ["no signature", { "content-type": "application/json" }, body],
    ];
    const before = receiver.verified.length;
    for (const [what, headers, sent] of cases) {
      const { status } = await post(url, headers, sent);
      assert.equal(status, 401, what);
    }
    assert.equal(receiver.verified.length, before, "nothing false verified");
    assert.equal(receiver.refused.length, cases.length);
  });
});

/** The seed's hooks app: credentials and the port its endpoint points at. */
function hooksApp(id) {
  const app = seed.apps.find((a) => a.id === id);
  assert.ok(app, `no app ${id} in seed.json`);
  const { client_id: clientId, client_secret: clientSecret } = app.credentials.production;
  return { id, clientId, clientSecret, port: Number(new URL(app.webhook.url).port) };
}

async function accordToken({ clientId, clientSecret }) {
  remember(clientSecret);
  const response = await fetch(`${accordUrl}/oauth/token`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "account_credentials", account_id: "clients-hooks" }),
  });
  const data = await response.json();
  assert.equal(response.status, 200, JSON.stringify(data));
  remember(data.access_token);
  return data.access_token;
}

async function api(token, method, path, body) {
  const response = await fetch(`${accordUrl}/v2${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, data: text ? JSON.parse(text) : undefined };
}

/** Polls `check` until it returns a truthy value; fails after a generous deadline. */
async function eventually(what, check, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const found = await check();
    if (found) return found;
    assert.ok(Date.now() < deadline, `${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test(
  "a running Accord delivers meeting.created and app_deauthorized to both receivers, every request verified",
  { skip: live ? false : "ACCORD_WEBHOOKS_LIVE is not 1: needs the delivery worker (serve --webhook-allow-private)" },
  async (t) => {
    assert.ok(accordUrl, "ACCORD_URL is not set: run this through scripts/client-tests");
    const rivetApp = hooksApp("clients-hooks-rivet");
    const standardApp = hooksApp("clients-hooks-standard");
    const rivetToken = await accordToken(rivetApp);
    const standardToken = await accordToken(standardApp);

    // Each endpoint listens before its token exists: rotating makes URL validation due at once,
    // and the validation request must find someone at the door (it waits there, well inside
    // Accord's 3 s, until the receiver with the new token is up).
    const rivetDoor = await frontDoor(rivetApp.port);
    t.after(rivetDoor.stop);
    const standardDoor = await frontDoor(standardApp.port);
    t.after(standardDoor.stop);

    // Rotating hands each receiver its token and makes URL validation due now.
    const secrets = {};
    for (const [app, token] of [
      [rivetApp, rivetToken],
      [standardApp, standardToken],
    ]) {
      const rotated = await api(token, "POST", `/apps/${app.id}/webhook/secret`);
      assert.equal(rotated.status, 201, JSON.stringify(rotated.data));
      secrets[app.id] = rotated.data.secret_token;
      remember(secrets[app.id]);
    }
    const rivet = await rivetReceiver(secrets[rivetApp.id]);
    t.after(rivet.stop);
    rivetDoor.open(`http://127.0.0.1:${rivet.port}`);
    const standard = await standardReceiver(secrets[standardApp.id]);
    t.after(standard.stop);
    standardDoor.open(`http://127.0.0.1:${standard.port}`);

    for (const [app, token] of [
      [rivetApp, rivetToken],
      [standardApp, standardToken],
    ]) {
      await eventually(`${app.id}'s endpoint validated`, async () => {
        const log = await api(token, "GET", `/apps/${app.id}/webhook_deliveries`);
        return log.data?.endpoint?.validated_time;
      });
    }

    const topic = `hooks ${randomBytes(3).toString("hex")}`;
    const created = await api(rivetToken, "POST", "/users/me/meetings", {
      topic,
      type: 2,
      start_time: "2026-12-24T16:15:00Z",
      duration: 30,
    });
    assert.equal(created.status, 201, JSON.stringify(created.data));

    for (const [app, token] of [
      [rivetApp, rivetToken],
      [standardApp, standardToken],
    ]) {
      await eventually(`${app.id}'s meeting.created delivered`, async () => {
        const log = await api(token, "GET", `/apps/${app.id}/webhook_deliveries`);
        return log.data?.webhook_deliveries?.some(
          (d) => d.event === "meeting.created" && d.status === "delivered" && d.body.includes(topic),
        );
      });
    }
    const atRivet = rivet.events.filter((e) => e.payload?.object?.topic === topic);
    assert.equal(atRivet.length >= 1, true, "rivet's listener got the meeting");
    assert.equal(atRivet[0].payload.object.id, created.data.id);
    const atStandard = standard.verified.filter((v) => v.event?.payload?.object?.topic === topic);
    assert.equal(atStandard.length >= 1, true, "the Standard Webhooks receiver verified the meeting");

    // Ending each app's own grant (its token sent to /oauth/revoke, Zoom's behaviour) queues
    // app_deauthorized: both receivers verify it, and its inner signature checks out too.
    for (const [app, token] of [
      [rivetApp, rivetToken],
      [standardApp, standardToken],
    ]) {
      const revoked = await fetch(`${accordUrl}/oauth/revoke`, {
        method: "POST",
        headers: {
          Authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString("base64")}`,
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ token }),
      });
      assert.equal(revoked.status, 200, await revoked.text());
    }
    const deauthorized = {
      [rivetApp.id]: await eventually("rivet's listener got app_deauthorized", async () =>
        rivet.events.find((e) => e.event === "app_deauthorized"),
      ),
      [standardApp.id]: await eventually("the Standard Webhooks receiver verified app_deauthorized", async () =>
        standard.verified.find((v) => v.event?.event === "app_deauthorized")?.event,
      ),
    };
    for (const app of [rivetApp, standardApp]) {
      const { account_id, user_id, client_id, deauthorization_time, signature } = deauthorized[app.id].payload;
      assert.equal(account_id, "clients-hooks");
      assert.equal(client_id, app.clientId);
      const expected = createHmac("sha256", secrets[app.id])
        .update(`${account_id}:${user_id}:${client_id}:${deauthorization_time}`)
        .digest("hex");
      assert.equal(signature, expected, `${app.id}: app_deauthorized's inner signature`);
    }
    assert.deepEqual(standard.refused, [], "every request Accord sent verified");
  },
);
