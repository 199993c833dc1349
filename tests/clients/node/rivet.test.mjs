// `@zoom/rivet` (Zoom's Node SDK), unchanged, against Accord: its Meetings server-to-server client
// creates, reads, updates and deletes a meeting (account `clients-rivet`, seed app
// `clients-rivet-app`). Run by scripts/client-tests with `node --test`, after pytest, against the
// same server (ACCORD_URL); every token it handles is appended to ACCORD_SECRETS_FILE for the log
// scan.
//
// How rivet is pointed at Accord (docs/clients.md):
// - the API: its documented `baseUrl` option (`${ACCORD_URL}/v2`);
// - OAuth: rivet posts to the constant `https://zoom.us/oauth/token` with no option to change it,
//   but takes a `tokenStore` (its documented `TokenStore` interface). Rivet asks the store first
//   and fetches a token itself only when the store has none that is valid for more than 60 s.
//   The store below fetches the token from Accord with exactly the request rivet would send
//   (Basic client credentials, form body `grant_type=account_credentials&account_id=…`), checks
//   the answer the way rivet checks its own (`access_token` a string, `expires_in` a number,
//   `scope` a string) and maps it the way rivet does.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { ApiResponseError, MeetingsS2SAuthClient } from "@zoom/rivet/meetings";

const APP = "clients-rivet-app";
// rivet's own margin (EXPIRATION_DELTA_SECONDS): a token closer than this to expiry is refetched.
const RIVET_EXPIRY_MARGIN_SECONDS = 60;

function requiredEnv(name) {
  const value = process.env[name] ?? "";
  if (!value) {
    throw new Error(`${name} is not set: run this through scripts/client-tests`);
  }
  return value;
}

const accordUrl = requiredEnv("ACCORD_URL").replace(/\/+$/, "");
const secretsFile = requiredEnv("ACCORD_SECRETS_FILE");
const seed = JSON.parse(readFileSync(new URL("../seed.json", import.meta.url), "utf8"));

/** Appends a secret to the scan list once (the list is shared with pytest). */
function remember(secret) {
  assert.equal(typeof secret, "string", "a secret must be a string");
  assert.ok(secret.length >= 8 && !/[\r\n]/.test(secret), "a secret must be one line of 8+ characters");
  const known = readFileSync(secretsFile, "utf8").split("\n");
  if (!known.includes(secret)) {
    appendFileSync(secretsFile, `${secret}\n`);
  }
}

/** The seed's app: production credentials, and the account of its developer. */
function seedApp(appId) {
  const app = seed.apps.find((a) => a.id === appId);
  assert.ok(app, `no app ${appId} in seed.json`);
  const account = seed.accounts.find((a) => a.users.some((u) => u.email === app.developer));
  const { client_id: clientId, client_secret: clientSecret } = app.credentials.production;
  return {
    clientId,
    clientSecret,
    accountId: account.id,
    owner: account.users.find((u) => u.role === "owner"),
  };
}

/** A rivet `TokenStore` that gets its server-to-server tokens from Accord. */
class AccordTokenStore {
  constructor(app) {
    this.app = app;
    this.current = undefined;
    this.fetched = 0;
  }

  async getLatestToken() {
    const soon = Date.now() + RIVET_EXPIRY_MARGIN_SECONDS * 1000;
    if (!this.current || Date.parse(this.current.expirationTimeIso) <= soon) {
      this.current = await this.fetchFromAccord();
    }
    return this.current;
  }

  // rivet stores a token only after fetching one itself from zoom.us, which must not happen here.
  storeToken() {
    throw new Error("rivet fetched a token of its own (from zoom.us) instead of using the token store's");
  }

  async fetchFromAccord() {
    const { clientId, clientSecret, accountId } = this.app;
    const basic = Buffer.from(`${clientId}:${clientSecret}`).toString("base64");
    remember(clientSecret);
    remember(basic);
    const response = await fetch(`${accordUrl}/oauth/token`, {
      method: "POST",
      headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "account_credentials", account_id: accountId }),
    });
    const text = await response.text();
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (data && typeof data.access_token === "string" && data.access_token.length >= 8) {
      remember(data.access_token);
    }
    assert.equal(
      response.status,
      200,
      `POST /oauth/token (account_credentials): HTTP ${response.status}: ${text.slice(0, 500)}`,
    );
    // rivet's S2SAuth.assertRawToken, which would reject anything else.
    assert.ok(
      typeof data?.access_token === "string" && typeof data.expires_in === "number" && typeof data.scope === "string",
      `the token answer does not have the shape rivet requires: ${text.slice(0, 500)}`,
    );
    this.fetched += 1;
    // rivet's S2SAuth.mapAccessToken.
    return {
      accessToken: data.access_token,
      expirationTimeIso: new Date(Date.now() + data.expires_in * 1000).toISOString(),
      scopes: data.scope.includes(" ") ? data.scope.split(" ") : [data.scope],
    };
  }
}

function inAMonth(hour) {
  const day = new Date(Date.now() + 30 * 24 * 3600 * 1000);
  day.setUTCHours(hour, 15, 0, 0);
  return day.toISOString().replace(/\.\d{3}Z$/, "Z");
}

test("rivet's Meetings S2S client creates, gets, updates and deletes a meeting", async (t) => {
  const app = seedApp(APP);
  const tokenStore = new AccordTokenStore(app);
  const client = new MeetingsS2SAuthClient({
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    accountId: app.accountId,
    tokenStore,
    baseUrl: `${accordUrl}/v2`,
    disableReceiver: true, // no webhook server: this test only calls the API
  });
  const meetings = client.endpoints.meetings;
  const topic = `rivet review ${randomBytes(3).toString("hex")}`;
  const passcode = `Rv${randomBytes(4).toString("hex")}`; // Zoom allows up to 10 characters
  remember(passcode);
  const start = inAMonth(16);
  let meetingId;

  await t.test("createMeeting: POST /users/me/meetings answers 201 with the meeting", async () => {
    const created = await meetings.createMeeting({
      path: { userId: "me" },
      body: { topic, type: 2, start_time: start, duration: 25, timezone: "America/Chicago", password: passcode },
    });
    assert.equal(created.statusCode, 201);
    assert.equal(typeof created.data.id, "number", JSON.stringify(created.data));
    assert.equal(created.data.topic, topic);
    assert.equal(created.data.host_id, app.owner.id);
    assert.equal(created.data.start_time, start);
    assert.equal(created.data.password, passcode);
    assert.ok(created.trackingId, "no x-zm-trackingid header (rivet reports it as trackingId)");
    meetingId = created.data.id;
  });

  await t.test("getMeeting: GET /meetings/{id} shows what was created", async () => {
    const got = await meetings.getMeeting({ path: { meetingId } });
    assert.equal(got.statusCode, 200);
    assert.equal(got.data.id, meetingId);
    assert.equal(got.data.topic, topic);
    assert.equal(got.data.duration, 25);
    assert.equal(got.data.timezone, "America/Chicago");
    assert.equal(got.data.host_email, app.owner.email);
  });

  await t.test("updateMeeting: PATCH /meetings/{id} answers 204 and GET shows the change", async () => {
    const newStart = inAMonth(18);
    const updated = await meetings.updateMeeting({
      path: { meetingId },
      body: { topic: `${topic} (moved)`, start_time: newStart, duration: 50 },
    });
    assert.equal(updated.statusCode, 204);
    const got = await meetings.getMeeting({ path: { meetingId } });
    assert.equal(got.data.topic, `${topic} (moved)`);
    assert.equal(got.data.start_time, newStart);
    assert.equal(got.data.duration, 50);
    assert.equal(got.data.timezone, "America/Chicago", "a PATCH changes only the fields it names");
  });

  await t.test("deleteMeeting: DELETE /meetings/{id} answers 204, then GET is Zoom's 404 / 3001", async () => {
    const deleted = await meetings.deleteMeeting({ path: { meetingId } });
    assert.equal(deleted.statusCode, 204);
    await assert.rejects(meetings.getMeeting({ path: { meetingId } }), (error) => {
      assert.ok(error instanceof ApiResponseError, `expected rivet's ApiResponseError, got ${error}`);
      // rivet builds the message from Zoom's error body: [HTTP status/code]: "message".
      assert.match(error.message, /^\[404\/3001\]: "/);
      return true;
    });
  });

  await t.test("one token from Accord served every call (rivet never fetched its own)", () => {
    assert.equal(tokenStore.fetched, 1);
  });
});
