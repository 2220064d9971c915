/**
 * Requests made cross-site with the user's cookie (src/http/cross-site.ts), over real sockets: a
 * cookie authorizes stream GETs from anywhere, but a publish, a batch, a ticket or a demo run only
 * from the hub's own origin or one listed in --cors-origins. On both publish paths (the fast path
 * and node:http), and on HTTP/2, where the host is in :authority. test/e2e/cross-site.test.ts does
 * the same attack from a real browser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { connectH2, h2Request } from '../support/h2.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type Reply } from '../support/http.js';

const SECRET = 'cross-site-secret-cross-site-secret!';
const LISTED = 'https://app.example';
const cookieToken = mintToken({ secret: SECRET, lifetimeSeconds: 600, publish: ['**'], subscribe: ['**'], subject: 'browser-user' });
const cookie = async (): Promise<Record<string, string>> => ({ Cookie: `theme=dark; ssehub_token=${await cookieToken}` });

/** The hub's own origin as a browser names it, from its URL (http://127.0.0.1:port). */
const ownOrigin = (hub: RunningHub): string => new URL(hub.url).origin;
const hostOf = (hub: RunningHub): string => new URL(hub.url).host;

function post(url: string, headers: Record<string, string>, body = 'x', type = 'text/plain'): Promise<Reply> {
  return httpRequest(url, { method: 'POST', headers: { 'Content-Type': type, ...headers }, body });
}

function assertRefused(reply: Reply, what: string): void {
  assert.equal(reply.status, 403, `${what}: ${reply.text}`);
  const { code, message } = reply.json().error;
  assert.equal(code, 'cross_site_request', what);
  assert.match(message, /Authorization: Bearer/, 'the message says what to do');
  assert.match(message, /--cors-origins/, 'the message says what to do');
}

describe('a cookie on requests from other sites', () => {
  // `*` is listed too: it lets any origin read without credentials, and must not let a cookie through.
  const settings = { jwtSecret: SECRET, corsOrigins: ['*', LISTED], demos: true };
  let fast: RunningHub;
  let plain: RunningHub;
  before(async () => {
    [fast, plain] = await Promise.all([startTestHub(settings), startTestHub({ ...settings, fastPublish: false })]);
  });
  after(() => Promise.all([fast?.close(), plain?.close()]));

  const refusedCases: Array<[string, (hub: RunningHub) => Record<string, string>]> = [
    ['an origin on another site', () => ({ Origin: 'https://evil.example' })],
    ['another port of the same host (same site, another origin)', (hub) => ({ Origin: `http://127.0.0.1:${hub.port === 1 ? 2 : hub.port - 1}` })],
    ['Origin: null (sandboxed frames, data: URLs)', () => ({ Origin: 'null' })],
    ['an origin allowed only by "*"', () => ({ Origin: 'https://anyone.example' })],
    ['a look-alike of a listed origin', () => ({ Origin: 'https://app.example.evil.example' })],
    ['no Origin, Sec-Fetch-Site: cross-site', () => ({ 'Sec-Fetch-Site': 'cross-site' })],
    ['no Origin, Sec-Fetch-Site: same-site', () => ({ 'Sec-Fetch-Site': 'same-site' })],
  ];
  for (const [name, headersFor] of refusedCases) {
    test(`a publish with the cookie from ${name}: 403 cross_site_request, nothing stored (fast path and node:http)`, async () => {
      for (const hub of [fast, plain]) {
        const published = hub.hub.stats().eventsPublished;
        const reply = await post(`${hub.url}/topics/csrf/refused`, { ...(await cookie()), ...headersFor(hub) });
        assertRefused(reply, `${name} (${hub === fast ? 'fast path' : 'node:http'})`);
        assert.equal(hub.hub.stats().eventsPublished, published, 'nothing was stored');
      }
    });
  }

  const allowedCases: Array<[string, (hub: RunningHub) => Record<string, string>]> = [
    ["the hub's own origin", (hub) => ({ Origin: ownOrigin(hub) })],
    ["the hub's own host under https (TLS ended by a proxy)", (hub) => ({ Origin: `https://${hostOf(hub)}` })],
    ['the Host a proxy passes on', () => ({ Host: 'push.example', Origin: 'https://push.example' })],
    ['an origin listed in --cors-origins', () => ({ Origin: LISTED })],
    ['no Origin and no Sec-Fetch-Site (curl, services)', () => ({})],
    ['no Origin, Sec-Fetch-Site: same-origin', () => ({ 'Sec-Fetch-Site': 'same-origin' })],
  ];
  for (const [name, headersFor] of allowedCases) {
    test(`a publish with the cookie from ${name}: 201 (fast path and node:http)`, async () => {
      for (const hub of [fast, plain]) {
        const reply = await post(`${hub.url}/topics/csrf/allowed`, { ...(await cookie()), ...headersFor(hub) });
        assert.equal(reply.status, 201, `${name} (${hub === fast ? 'fast path' : 'node:http'}): ${reply.text}`);
      }
    });
  }

  test('the port counts: the same host on another port, through a proxy, is another origin', async () => {
    for (const hub of [fast, plain]) {
      assertRefused(await post(`${hub.url}/topics/csrf/port`, { ...(await cookie()), Host: 'push.example', Origin: 'https://push.example:8443' }), 'port');
      assertRefused(await post(`${hub.url}/topics/csrf/port`, { ...(await cookie()), Host: 'push.example:8443', Origin: 'https://push.example' }), 'port');
    }
  });

  test('a bearer token from any origin is not affected', async () => {
    const bearer = { Authorization: `Bearer ${await cookieToken}` };
    for (const hub of [fast, plain]) {
      assert.equal((await post(`${hub.url}/topics/csrf/bearer`, { ...bearer, Origin: 'https://evil.example' })).status, 201);
      assert.equal((await post(`${hub.url}/topics/csrf/bearer`, { ...bearer, Origin: 'null', 'Sec-Fetch-Site': 'cross-site' })).status, 201);
    }
  });

  test('a cross-site request learns nothing about the cookie: a forged one gets the same 403', async () => {
    const reply = await post(`${plain.url}/topics/csrf/forged`, { Cookie: 'ssehub_token=forged', Origin: 'https://evil.example' });
    assertRefused(reply, 'forged cookie');
  });

  test('POST /publish (a batch) with the cookie: refused from another site, stored from an allowed origin', async () => {
    const batch = JSON.stringify([{ topic: 'csrf/batch', data: 'one' }]);
    const published = plain.hub.stats().eventsPublished;
    assertRefused(await post(`${plain.url}/publish`, { ...(await cookie()), Origin: 'https://evil.example' }, batch, 'application/json'), 'batch');
    assertRefused(await post(`${plain.url}/publish`, { ...(await cookie()), 'Sec-Fetch-Site': 'cross-site' }, batch, 'application/json'), 'batch');
    assert.equal(plain.hub.stats().eventsPublished, published, 'nothing was stored');
    const allowed = await post(`${plain.url}/publish`, { ...(await cookie()), Origin: ownOrigin(plain) }, batch, 'application/json');
    assert.equal(allowed.status, 201, allowed.text);
    assert.equal(allowed.json().ids.length, 1);
  });

  test('POST /tickets with the cookie: refused from another site, issued from an allowed origin', async () => {
    const body = '{"topics":["csrf/ticket"]}';
    assertRefused(await post(`${plain.url}/tickets`, { ...(await cookie()), Origin: 'https://evil.example' }, body, 'application/json'), 'ticket');
    assertRefused(await post(`${plain.url}/tickets`, { ...(await cookie()), Origin: 'null' }, body, 'application/json'), 'ticket');
    const issued = await post(`${plain.url}/tickets`, { ...(await cookie()), Origin: LISTED }, body, 'application/json');
    assert.equal(issued.status, 201, issued.text);
    assert.equal(typeof issued.json().ticket, 'string');
  });

  test('the demo API with the cookie: refused from another site, run from an allowed origin', async () => {
    const before = plain.hub.stats().eventsPublished;
    assertRefused(await post(`${plain.url}/demos/api/jobs`, { ...(await cookie()), Origin: 'https://evil.example' }, '{"jobs":1}', 'application/json'), 'demo');
    assert.equal(plain.hub.stats().eventsPublished, before, 'no demo ran');
    const started = await post(`${plain.url}/demos/api/jobs`, { ...(await cookie()), Origin: ownOrigin(plain) }, '{"jobs":1}', 'application/json');
    assert.equal(started.status, 202, started.text);
  });

  test('a stream GET with the cookie opens from any origin (withCredentials EventSource)', async () => {
    for (const hub of [fast, plain]) {
      const fromElsewhere: Array<Record<string, string>> = [{ Origin: 'https://evil.example' }, { Origin: 'null' }, { 'Sec-Fetch-Site': 'cross-site' }];
      for (const headers of fromElsewhere) {
        const stream = await openStream(`${hub.url}/topics/csrf/stream`, { ...(await cookie()), ...headers });
        assert.equal(stream.status, 200);
        stream.close();
      }
    }
  });
});

describe('a cookie on requests from other sites, over HTTP/2', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, h2c: true });
  });
  after(() => hub?.close());

  test('the host is read from :authority: the own origin publishes, another site is refused', async () => {
    const session = await connectH2(hub.url);
    try {
      const publish = async (origin: string) =>
        h2Request(session, '/topics/csrf/h2', { method: 'POST', headers: { ...(await cookie()), 'content-type': 'text/plain', origin }, body: 'x' });
      const own = await publish(ownOrigin(hub));
      assert.equal(own.status, 201, own.text);
      const refused = await publish('https://evil.example');
      assert.equal(refused.status, 403);
      assert.equal(refused.json().error.code, 'cross_site_request');
    } finally {
      session.close();
    }
  });
});
