import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createForwardAuth, MAX_AUTH_ANSWER_BYTES, parseAuthUrl, type AuthRequest, type ForwardAuthSettings } from '../../src/auth/forward-auth.js';
import { HubError } from '../../src/errors.js';

const COOKIE = 'session=s3cr3t-session-value';

/** A request as a front door would describe it: a browser with a session cookie subscribing to two topics. */
function request(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return {
    headers: { cookie: COOKIE, origin: 'https://app.example', host: 'hub.example:8443', 'user-agent': 'test' },
    clientAddress: '203.0.113.7',
    protocol: 'https',
    action: 'subscribe',
    topics: ['orders/a,b', 'chat/*'],
    method: 'GET',
    target: '/events?topic=orders%2Fa%2Cb&topic=chat%2F*',
    original: undefined,
    ...overrides,
  };
}

interface Received {
  url: URL;
  headers: IncomingHttpHeaders;
}

/** The app's auth endpoint: a real HTTP server whose answer each test sets. */
class AuthServer {
  readonly received: Received[] = [];
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => json(res, 200, { subject: 'alice' });
  private readonly server: Server = createServer((req, res) => {
    this.received.push({ url: new URL(req.url!, 'http://auth.test'), headers: req.headers });
    this.answer(req, res);
  });
  url = '';

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/auth`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

/** A rejection with this status and code, whose message never carries the session cookie. */
function refusedWith(status: number, code: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HubError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    assert.ok(!error.message.includes('s3cr3t'), error.message);
    return true;
  };
}

describe('forward auth', () => {
  const app = new AuthServer();
  const settings = (overrides: Partial<ForwardAuthSettings> = {}): ForwardAuthSettings => ({ url: app.url, timeoutMs: 2000, cacheMs: 0, ...overrides });

  before(() => app.start());
  after(() => app.stop());
  beforeEach(() => {
    app.received.length = 0;
    app.answer = (_req, res) => json(res, 200, { subject: 'alice' });
  });

  test('200 with a grant allows: its subject, selectors and expiry become the principal', async () => {
    const expiresAt = Date.now() + 60_000;
    app.answer = (_req, res) => json(res, 200, { subject: 'alice', subscribe: ['orders/**', 'chat/*'], publish: ['chat/*'], expiresAt });
    const principal = await createForwardAuth(settings())(request());
    assert.ok(principal);
    assert.equal(principal.authenticated, true);
    assert.equal(principal.subject, 'alice');
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['orders/**', 'chat/*']);
    assert.deepEqual(principal.publish.map((s) => s.source), ['chat/*']);
    assert.equal(principal.expiresAt, expiresAt);
  });

  test('the app is asked with the action, each topic as its own parameter, and the forwarded headers', async () => {
    await createForwardAuth(settings({ url: `${app.url}?app=shop&topic=stale` }))(request({ headers: { cookie: COOKIE, authorization: 'Basic YTpi', origin: 'https://app.example', host: 'hub.example:8443' } }));
    assert.equal(app.received.length, 1);
    const { url, headers } = app.received[0]!;
    assert.equal(url.pathname, '/auth');
    assert.equal(url.searchParams.get('app'), 'shop', 'the URL\'s own query is kept');
    assert.equal(url.searchParams.get('action'), 'subscribe');
    assert.deepEqual(url.searchParams.getAll('topic'), ['orders/a,b', 'chat/*'], 'never joined, never the URL\'s own');
    assert.match(url.search, /topic=orders%2Fa%2Cb/);
    assert.equal(headers.cookie, COOKIE);
    assert.equal(headers.authorization, 'Basic YTpi');
    assert.equal(headers.origin, 'https://app.example');
    assert.equal(headers['x-forwarded-for'], '203.0.113.7');
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.equal(headers['x-forwarded-host'], 'hub.example:8443');
    assert.equal(headers['x-original-method'], 'GET');
    assert.equal(headers['x-original-uri'], '/events?topic=orders%2Fa%2Cb&topic=chat%2F*');
    assert.notEqual(headers['user-agent'], 'test', 'other headers of the request stay with the hub');

    const authorize = createForwardAuth(settings());
    await authorize(request({ action: 'publish', topics: ['chat/room 1'], method: 'POST', target: '/topics/chat/room%201', headers: {} }));
    await authorize(request({ action: 'ticket', topics: ['orders/1'], method: 'POST', target: '/tickets', headers: { cookie: ['a=1', 'b=2'], ':authority': 'hub.example' } }));
    const [publish, ticket] = app.received.slice(1);
    assert.equal(publish!.url.searchParams.get('action'), 'publish');
    assert.deepEqual(publish!.url.searchParams.getAll('topic'), ['chat/room 1']);
    assert.equal(publish!.headers.cookie, undefined);
    assert.equal(publish!.headers['x-original-method'], 'POST');
    assert.equal(ticket!.url.searchParams.get('action'), 'ticket');
    assert.equal(ticket!.headers.cookie, 'a=1; b=2');
    assert.equal(ticket!.headers['x-forwarded-host'], 'hub.example');
  });

  test('401 is no session: null, for the caller to treat as anonymous', async () => {
    app.answer = (_req, res) => json(res, 401, { error: 'no session' });
    assert.equal(await createForwardAuth(settings())(request()), null);
  });

  test('403 refuses: 403 forbidden naming the action and topics', async () => {
    app.answer = (_req, res) => res.writeHead(403).end('no');
    await assert.rejects(createForwardAuth(settings())(request()), refusedWith(403, 'forbidden', /subscribe to "orders\/a,b", "chat\/\*"/));
    await assert.rejects(createForwardAuth(settings())(request({ action: 'publish', topics: ['x'] })), refusedWith(403, 'forbidden', /publish to "x"/));
  });

  test('any other status, a redirect included, is 503 auth_unavailable: never open', async () => {
    for (const status of [500, 502, 204, 404, 400]) {
      app.answer = (_req, res) => json(res, status, { subject: 'alice', subscribe: ['**'] });
      await assert.rejects(createForwardAuth(settings())(request()), refusedWith(503, 'auth_unavailable', new RegExp(`answered ${status}`)), String(status));
    }
    app.answer = (_req, res) => res.writeHead(302, { Location: `${app.url}/login` }).end();
    await assert.rejects(createForwardAuth(settings())(request()), refusedWith(503, 'auth_unavailable', /answered 302/));
    assert.equal(app.received.length, 6, 'the redirect is not followed (the cookie goes nowhere else)');
  });

  test('a malformed answer is 503 auth_unavailable: not JSON, not a grant, an expired grant', async () => {
    const answers: [string, RegExp][] = [
      ['{"subject": "alice"', /not JSON/],
      ['', /not JSON/],
      ['<html>login</html>', /not JSON/],
      ['null', /invalid grant/],
      ['{"subscribe": ["**"]}', /invalid grant .*"subject"/],
      ['{"subject": "alice", "publish": ["$ssehub/stats"]}', /invalid grant .*"publish"/],
      [`{"subject": "alice", "expiresAt": ${Date.now() - 1000}}`, /invalid grant .*expired/],
    ];
    for (const [body, message] of answers) {
      app.answer = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      await assert.rejects(createForwardAuth(settings())(request()), refusedWith(503, 'auth_unavailable', message), body);
    }
  });

  test('a huge answer is refused without being read whole: 503 auth_unavailable', async () => {
    const megabyte = Buffer.alloc(1024 * 1024, 'a');
    // Announced by Content-Length, then streamed without one: both stop at the limit.
    app.answer = (_req, res) => res.writeHead(200, { 'Content-Length': String(megabyte.length) }).end(megabyte);
    await assert.rejects(createForwardAuth(settings())(request()), refusedWith(503, 'auth_unavailable', /more than 64 KiB/));
    let streamed = 0;
    let stopped!: () => void;
    const cutOff = new Promise<void>((resolve) => (stopped = resolve));
    app.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"subject": "alice", "padding": "');
      // Writes for as long as the hub reads: it must stop soon after 64 KiB.
      const more = (): void => {
        while (!res.destroyed && streamed < 100 * megabyte.length && res.write(megabyte.subarray(0, 16 * 1024))) streamed += 16 * 1024;
        if (res.destroyed || streamed >= 100 * megabyte.length) stopped();
        else res.once('drain', more);
      };
      res.on('close', stopped);
      more();
    };
    await assert.rejects(createForwardAuth(settings())(request()), refusedWith(503, 'auth_unavailable', /more than 64 KiB/));
    await cutOff;
    assert.ok(streamed < 100 * megabyte.length, 'the hub stopped reading long before the answer ended');
    // A grant just under the limit is read.
    const padding = 'p'.repeat(MAX_AUTH_ANSWER_BYTES - 100);
    app.answer = (_req, res) => json(res, 200, { subject: 'alice', padding });
    assert.equal((await createForwardAuth(settings())(request()))?.subject, 'alice');
  });

  test('no answer within the timeout is 503 auth_unavailable, whether the headers or the body are late', { timeout: 10_000 }, async () => {
    app.answer = () => {}; // never answers
    await assert.rejects(createForwardAuth(settings({ timeoutMs: 300 }))(request()), refusedWith(503, 'auth_unavailable', /did not answer within 300 ms/));
    app.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"subject": "alice"'); // and never the rest
    };
    await assert.rejects(createForwardAuth(settings({ timeoutMs: 300 }))(request()), refusedWith(503, 'auth_unavailable', /did not answer within 300 ms/));
  });

  test('an auth server that cannot be reached is 503 auth_unavailable, without its address in the message', async () => {
    const closed = new AuthServer();
    await closed.start();
    await closed.stop();
    await assert.rejects(createForwardAuth(settings({ url: closed.url }))(request()), (error: HubError) => {
      refusedWith(503, 'auth_unavailable', /could not be reached \(ECONNREFUSED\)/)(error);
      assert.ok(!error.message.includes('127.0.0.1'), error.message);
      return true;
    });
  });

  test('without a cache, every request reaches the app', async () => {
    const authorize = createForwardAuth(settings());
    for (let i = 0; i < 3; i++) assert.equal((await authorize(request()))?.subject, 'alice');
    assert.equal(app.received.length, 3);
  });

  test('with a cache, an allowed answer is reused for the same cookie, action and topics only', async () => {
    const authorize = createForwardAuth(settings({ cacheMs: 60_000 }));
    const first = await authorize(request());
    assert.equal(await authorize(request()), first);
    assert.equal(app.received.length, 1, 'the second identical request did not reach the app');
    await authorize(request({ headers: { cookie: 'session=another-user' } }));
    await authorize(request({ headers: { cookie: COOKIE, authorization: 'Bearer other' } }));
    await authorize(request({ headers: { cookie: COOKIE, origin: 'https://evil.example' } }));
    await authorize(request({ action: 'publish' }));
    await authorize(request({ topics: ['orders/a', 'b', 'chat/*'] }));
    assert.equal(app.received.length, 6, 'another cookie, authorization, origin, action or topic list is asked again');
    await authorize(request({ clientAddress: '198.51.100.1', target: '/topics/other' }));
    assert.equal(app.received.length, 6, 'the address and URI are not part of the key');
  });

  test('refusals and failures are never cached', async () => {
    const authorize = createForwardAuth(settings({ cacheMs: 60_000 }));
    app.answer = (_req, res) => json(res, 401, {});
    for (let i = 0; i < 2; i++) assert.equal(await authorize(request()), null);
    app.answer = (_req, res) => json(res, 403, {});
    for (let i = 0; i < 2; i++) await assert.rejects(authorize(request()), refusedWith(403, 'forbidden'));
    app.answer = (_req, res) => json(res, 500, {});
    for (let i = 0; i < 2; i++) await assert.rejects(authorize(request()), refusedWith(503, 'auth_unavailable'));
    assert.equal(app.received.length, 6);
    // Once the app allows, the next request is allowed: nothing of the refusals stayed.
    app.answer = (_req, res) => json(res, 200, { subject: 'alice' });
    assert.equal((await authorize(request()))?.subject, 'alice');
  });

  test('a cached grant is not served past its expiresAt, nor past cacheMs', async () => {
    let now = Date.now();
    app.answer = (_req, res) => json(res, 200, { subject: 'alice', expiresAt: now + 1000 });
    const authorize = createForwardAuth(settings({ cacheMs: 60_000 }), () => now);
    await authorize(request());
    now += 999;
    await authorize(request());
    assert.equal(app.received.length, 1);
    now += 1; // the grant's expiry: asked again, and the app's fresh grant is taken
    const renewed = await authorize(request());
    assert.equal(app.received.length, 2);
    assert.equal(renewed?.expiresAt, now + 1000);

    app.answer = (_req, res) => json(res, 200, { subject: 'bob' });
    const shortCache = createForwardAuth(settings({ cacheMs: 5000 }), () => now);
    await shortCache(request());
    now += 4999;
    await shortCache(request());
    assert.equal(app.received.length, 3);
    now += 1;
    await shortCache(request());
    assert.equal(app.received.length, 4);
  });

  test('the cache keeps at most maxCacheEntries answers, the oldest going first', async () => {
    const authorize = createForwardAuth(settings({ cacheMs: 60_000, maxCacheEntries: 2 }));
    const as = (cookie: string) => request({ headers: { cookie } });
    for (const cookie of ['a=1', 'b=2', 'c=3']) await authorize(as(cookie));
    await authorize(as('c=3'));
    await authorize(as('b=2'));
    assert.equal(app.received.length, 3, 'the two newest are kept');
    await authorize(as('a=1'));
    assert.equal(app.received.length, 4, 'the oldest went');
  });

  test('the URL must be http(s) without credentials, and the timeout more than 0: invalid_config', () => {
    for (const url of ['not a url', 'ftp://auth.example/x', 'file:///etc/passwd', 'http://user:pass@auth.example/x', '/relative/path']) {
      assert.throws(() => createForwardAuth({ url, timeoutMs: 1000, cacheMs: 0 }), (error: HubError) => error.code === 'invalid_config', url);
    }
    assert.throws(() => createForwardAuth({ url: 'http://auth.example/x', timeoutMs: 0, cacheMs: 0 }), (error: HubError) => error.code === 'invalid_config');
    assert.equal(parseAuthUrl('https://auth.example/ssehub?x=1').href, 'https://auth.example/ssehub?x=1');
  });
});
