// The harness's peer (../shared/bench/peer/server.mjs: node oidc-provider 9, same client, keys,
// resource servers and features) plus what W4 needs, for `scripts/bench` (bench/run-all.sh):
//   - rotateRefreshToken: true: every refresh consumes the presented refresh token and answers a
//     new one (a consumed token presented again is invalid_grant and revokes the grant).
//   - POST /bench/refresh-tokens?n=N (bench only, loopback, Basic auth of bench-client): mints N
//     refresh tokens for bench-client straight through the provider's models, since the peer has
//     no login app: per token a Grant (openid offline_access, resource urn:bench:api scope
//     api:read) and a RefreshToken as the authorization-code grant would have issued it. Answers
//     the tokens one a line.
//   - a larger in-memory store (see `adapter` below).
// Everything else (W1/W1j/W2/W3 routes, /ping, /api) is the harness's. Run it from the harness's
// peer folder ($BENCH_WORK/peer) with NODE_ENV=production so it finds oidc-provider.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import * as jose from 'jose';

const PORT = Number(process.env.PORT || 4100);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const CLIENT_ID = process.env.BENCH_CLIENT_ID || 'bench-client';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789abcdef';

// Fresh signing keys per process (benchmark only).
const edJwk = crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
const ecJwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const jwks = {
  keys: [
    { ...edJwk, kid: 'ed-1', use: 'sig', alg: 'EdDSA' },
    { ...ecJwk, kid: 'ec-1', use: 'sig', alg: 'ES256' },
  ],
};

const API_SCOPES = 'api:read api:write';
const RESOURCE_SERVERS = {
  'urn:bench:api': {
    scope: API_SCOPES, audience: 'urn:bench:api', accessTokenTTL: 3600, accessTokenFormat: 'opaque',
  },
  'urn:bench:jwt': {
    scope: API_SCOPES,
    audience: 'urn:bench:jwt',
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'EdDSA' } },
  },
  'urn:bench:jwt-es256': {
    scope: API_SCOPES,
    audience: 'urn:bench:jwt-es256',
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  },
};

const peerStore = new LRU({ maxSize: Number(process.env.PEER_STORE_ENTRIES || 1_000_000) });

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`http://${HOST}:${PORT}/cb`],
    scope: `openid offline_access ${API_SCOPES}`,
    id_token_signed_response_alg: 'EdDSA',
  }],
  clientDefaults: { id_token_signed_response_alg: 'EdDSA' },
  jwks,
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // Production-ish: no built-in dev interaction UI. The authorization_code flow
  // would need a real login app at this URL; client_credentials never hits it.
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect tokens it was issued.
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? 'urn:bench:api',
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        const rs = RESOURCE_SERVERS[resourceIndicator];
        if (!rs) throw new errors.InvalidTarget();
        return rs;
      },
    },
  },
  ttl: { ClientCredentials: 3600, AccessToken: 3600 },
  // W4: always rotate (the default rotates only public clients, or after 70% of the lifetime).
  rotateRefreshToken: true,
  // The harness's peer keeps the default in-memory adapter, an LRU of 1000 entries. A refresh
  // writes about three (the new refresh token, the access token, the grant's index), so under W4
  // pooled refresh tokens waiting their turn were dropped ("refresh token not found"): the same
  // MemoryAdapter over an LRU with room for PEER_STORE_ENTRIES (default 1,000,000) entries.
  adapter: (model) => new MemoryAdapter(model, peerStore),
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;
// BENCH_DEBUG=1: say why a token request failed (the answer itself only says invalid_grant).
if (process.env.BENCH_DEBUG) {
  provider.on('grant.error', (ctx, err) => console.error(`grant.error ${err.error}: ${err.error_detail ?? err.message} (${ctx.oidc.params?.refresh_token ?? ""})`));
}

// ---- GET /api stand-in (Node + jose) ----
const edPublic = crypto.createPublicKey({ key: edJwk, format: 'jwk' });
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };
async function apiHandler(req, res) {
  const auth = req.headers.authorization;
  if (!auth || !auth.startsWith('Bearer ')) {
    res.writeHead(401, { 'www-authenticate': 'Bearer', ...JSON_HEADERS });
    res.end('{"error":"invalid_token"}');
    return;
  }
  try {
    const { payload } = await jose.jwtVerify(auth.slice(7), edPublic, {
      issuer: ISSUER, audience: 'urn:bench:jwt', typ: 'at+jwt', algorithms: ['EdDSA'],
    });
    const body = JSON.stringify({ ok: true, sub: payload.sub, scope: payload.scope });
    res.writeHead(200, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch {
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', ...JSON_HEADERS });
    res.end('{"error":"invalid_token"}');
  }
}

// ---- POST /bench/refresh-tokens?n=N (bench only) ----
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
let minted = 0;
async function mintRefreshTokens(req, res) {
  if (req.headers.authorization !== BASIC) {
    res.writeHead(401, JSON_HEADERS);
    res.end('{"error":"invalid_client"}');
    return;
  }
  const n = Math.min(Number(new URL(req.url, ISSUER).searchParams.get('n') || 64), 10_000);
  const client = await provider.Client.find(CLIENT_ID);
  const tokens = [];
  for (let i = 0; i < n; i += 1) {
    minted += 1;
    const accountId = `bench-user-${minted}`;
    const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope('urn:bench:api', 'api:read');
    const grantId = await grant.save();
    const refreshToken = new provider.RefreshToken({
      accountId,
      client,
      grantId,
      gty: 'authorization_code',
      authTime: Math.floor(Date.now() / 1000),
      scope: 'openid offline_access api:read',
      resource: 'urn:bench:api',
    });
    tokens.push(await refreshToken.save());
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(`${tokens.join('\n')}\n`);
}

const providerCallback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/ping') {
    res.writeHead(200, { ...JSON_HEADERS, 'content-length': 11 });
    res.end('{"ok":true}');
    return;
  }
  if (req.method === 'GET' && req.url === '/api') {
    apiHandler(req, res);
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/bench/refresh-tokens')) {
    mintRefreshTokens(req, res).catch((err) => {
      res.writeHead(500, JSON_HEADERS);
      res.end(JSON.stringify({ error: String(err) }));
    });
    return;
  }
  providerCallback(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.log(`oidc-provider ${ISSUER} up (node ${process.version}, pid ${process.pid}, NODE_ENV=${process.env.NODE_ENV})`);
});

const shutdown = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
