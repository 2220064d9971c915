/**
 * Forward auth (--auth-url) end to end: a real hub asks a real app server, over HTTP, about each
 * stream, publish, batch and ticket, and what a client sees follows the app's answer. The app reads
 * its own session cookie (`app_session`), as a web app behind the hub would. The unit tests of the
 * asking itself (headers sent, answer size, timeouts, cache keys) are test/auth/forward-auth.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { countNodeHttpRequests } from '../support/node-http-counter.js';
import { httpRequest, openStream, type Reply } from '../support/http.js';

/** What the app answers for a session: a grant (made at answer time), a status, or nothing in time. */
type Answer = { grant: () => Record<string, unknown> } | { status: 401 | 403 | 500 } | 'slow';

const SESSIONS: Record<string, Answer> = {
  reader: { grant: () => ({ subject: 'reader', subscribe: ['orders/*'] }) },
  'other-reader': { grant: () => ({ subject: 'other-reader', subscribe: ['orders/*'] }) },
  writer: { grant: () => ({ subject: 'writer', subscribe: ['orders/*'], publish: ['orders/*'] }) },
  expiring: { grant: () => ({ subject: 'expiring', subscribe: ['orders/*'], expiresAt: Date.now() + 1500 }) },
  'logged-out': { status: 401 },
  banned: { status: 403 },
  broken: { status: 500 },
  slow: 'slow',
};
/** The app also takes HTTP Basic credentials (the hub must pass that header on, not refuse it). */
const BASIC_USERS: Record<string, Answer> = { [Buffer.from('writer:pw').toString('base64')]: SESSIONS.writer! };

interface Asked {
  action: string | null;
  topics: string[];
  headers: IncomingHttpHeaders;
}

/** The app's auth endpoint: answers from the session cookie, and records every question. */
class SessionApp {
  readonly asked: Asked[] = [];
  url = '';
  private readonly held = new Set<ServerResponse>();
  private readonly server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://app.test');
    this.asked.push({ action: url.searchParams.get('action'), topics: url.searchParams.getAll('topic'), headers: req.headers });
    const answer = this.answerFor(req.headers);
    if (answer === 'slow') {
      // Held past the hub's --auth-timeout; the hub gives up and closes the connection.
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    if ('status' in answer) return void res.writeHead(answer.status).end();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.grant()));
  });

  private answerFor(headers: IncomingHttpHeaders): Answer {
    const basic = /^Basic (\S+)$/.exec(headers.authorization ?? '');
    if (basic) return BASIC_USERS[basic[1]!] ?? { status: 401 };
    const session = /(?:^|;\s*)app_session=([^;]+)/.exec(headers.cookie ?? '');
    return (session && SESSIONS[session[1]!]) || { status: 401 };
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ssehub/auth`;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const session = (name: string) => ({ Cookie: `theme=dark; app_session=${name}` });

/** A stream request's status and error code (200 and '' when it opened; it is closed at once). */
async function streamAnswer(url: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string }> {
  try {
    const stream = await openStream(url, headers);
    stream.close();
    return { status: 200, code: '' };
  } catch (error: any) {
    if (error.status === undefined) throw error;
    return { status: error.status, code: JSON.parse(error.body).error.code };
  }
}

const codeOf = (reply: Reply): string => (reply.status < 300 ? '' : reply.json().error.code);

function post(url: string, body: string, headers: Record<string, string> = {}, type = 'text/plain'): Promise<Reply> {
  return httpRequest(url, { method: 'POST', headers: { 'Content-Type': type, ...headers }, body });
}

describe('forward auth through a running hub', () => {
  const app = new SessionApp();
  let nodeHttp: ReturnType<typeof countNodeHttpRequests>;
  /** The publish fast path is on by default for plain HTTP/1.1; `plain` sends every publish through node:http. */
  let fast: RunningHub;
  let plain: RunningHub;
  const settings = () => ({ authUrl: app.url, authTimeoutMs: 300, publicTopics: ['news/**'], publishRate: 0 });

  before(async () => {
    await app.start();
    nodeHttp = countNodeHttpRequests();
    fast = await startTestHub(settings());
    plain = await startTestHub({ ...settings(), fastPublish: false });
  });
  after(async () => {
    nodeHttp.stop();
    await Promise.all([fast.close(), plain.close()]);
    await app.stop();
  });
  beforeEach(() => {
    app.asked.length = 0;
  });

  describe('streams', () => {
    test('a 200 grant opens the stream for the granted topics only; another topic is 403 forbidden', async () => {
      const stream = await openStream(`${fast.url}/topics/orders/1`, session('reader'));
      assert.equal(stream.status, 200);
      await post(`${fast.url}/topics/orders/1`, 'paid', session('writer'));
      const [event] = await stream.waitForEvents(1);
      assert.equal(event!.data, 'paid');
      stream.close();
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/users/1`, session('reader')), { status: 403, code: 'forbidden' });
      assert.deepEqual(await streamAnswer(`${fast.url}/events?topic=orders/2&topic=users/1`, session('reader')), { status: 403, code: 'forbidden' });
      assert.deepEqual(
        app.asked.filter((asked) => asked.action === 'subscribe').map((asked) => asked.topics),
        [['orders/1'], ['users/1'], ['orders/2', 'users/1']],
        'the app is asked with each topic as its own parameter',
      );
    });

    test('401 from the app is no session: 401 token_required, while public topics still open', async () => {
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/orders/1`, session('logged-out')), { status: 401, code: 'token_required' });
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/orders/1`), { status: 401, code: 'token_required' });
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/news/today`), { status: 200, code: '' });
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/news/today`, session('logged-out')), { status: 200, code: '' });
    });

    test('403 from the app is 403 forbidden, even for a public topic', async () => {
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/orders/1`, session('banned')), { status: 403, code: 'forbidden' });
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/news/today`, session('banned')), { status: 403, code: 'forbidden' });
    });

    test('a 500 from the app, or no answer within --auth-timeout, is 503 auth_unavailable: the stream never opens', async () => {
      const openBefore = fast.hub.stats().connections;
      for (const name of ['broken', 'slow']) {
        const reply = await httpRequest(`${fast.url}/topics/orders/1`, { headers: { Accept: 'text/event-stream', ...session(name) } });
        assert.equal(reply.status, 503, name);
        assert.equal(reply.json().error.code, 'auth_unavailable', name);
        assert.equal(reply.headers['retry-after'], '1', name);
        assert.doesNotMatch(reply.text, /app_session|127\.0\.0\.1/, 'the message names neither the cookie nor the app');
      }
      // Not even a public topic opens while the app cannot be asked.
      assert.deepEqual(await streamAnswer(`${fast.url}/topics/news/today`, session('slow')), { status: 503, code: 'auth_unavailable' });
      assert.equal(fast.hub.stats().connections, openBefore, 'no stream was opened');
    });

    test("the grant's expiresAt ends an open stream with ssehub.expired", async () => {
      const stream = await openStream(`${fast.url}/topics/orders/expiring`, session('expiring'));
      await stream.waitUntil(() => stream.events.some((event) => event.type === 'ssehub.expired'), 5000, 'ssehub.expired');
      await stream.ended;
      assert.equal(stream.events.at(-1)?.type, 'ssehub.expired');
    });
  });

  for (const door of ['fast path', 'node:http'] as const) {
    describe(`publishing (${door})`, () => {
      const hub = () => (door === 'fast path' ? fast : plain);

      test('a publish grant allows the granted topics: the app is asked with action=publish and the topic', async () => {
        const before = nodeHttp.on(hub().port);
        const reply = await post(`${hub().url}/topics/orders/7`, 'x', session('writer'));
        assert.equal(reply.status, 201, reply.text);
        if (door === 'fast path') assert.equal(nodeHttp.on(hub().port), before, 'node:http never saw the publish');
        else assert.equal(nodeHttp.on(hub().port), before + 1);
        assert.deepEqual(app.asked.map(({ action, topics }) => ({ action, topics })), [{ action: 'publish', topics: ['orders/7'] }]);
        const other = await post(`${hub().url}/topics/users/7`, 'x', session('writer'));
        assert.deepEqual([other.status, codeOf(other)], [403, 'forbidden']);
      });

      test('refused otherwise: no publish grant 403, no session 401, app failing or slow 503', async () => {
        const cases: Array<[string | undefined, number, string]> = [
          ['reader', 403, 'forbidden'],
          ['banned', 403, 'forbidden'],
          ['logged-out', 401, 'token_required'],
          [undefined, 401, 'token_required'],
          ['broken', 503, 'auth_unavailable'],
          ['slow', 503, 'auth_unavailable'],
        ];
        const stream = await openStream(`${hub().url}/topics/orders/refused`, session('reader'));
        for (const [name, status, code] of cases) {
          const reply = await post(`${hub().url}/topics/orders/refused`, 'refused', name === undefined ? {} : session(name));
          assert.deepEqual([reply.status, codeOf(reply)], [status, code], String(name));
        }
        await post(`${hub().url}/topics/orders/refused`, 'allowed', session('writer'));
        const events = await stream.waitForEvents(1);
        assert.deepEqual(events.map((event) => event.data), ['allowed'], 'nothing refused was published');
        stream.close();
      });

      test('a batch: each topic is its own topic parameter; allowed as a whole or refused as a whole', async () => {
        const stream = await openStream(`${hub().url}/events?topic=orders/b1&topic=orders/b2`, session('reader'));
        const batch = (topics: string[]) => JSON.stringify(topics.map((topic) => ({ topic, data: topic })));
        const ok = await post(`${hub().url}/publish`, batch(['orders/b1', 'orders/b2']), session('writer'), 'application/json');
        assert.equal(ok.status, 201, ok.text);
        assert.equal(ok.json().ids.length, 2);
        const mixed = await post(`${hub().url}/publish`, batch(['orders/b1', 'users/b1']), session('writer'), 'application/json');
        assert.deepEqual([mixed.status, codeOf(mixed)], [403, 'forbidden']);
        const anonymous = await post(`${hub().url}/publish`, batch(['orders/b1']), {}, 'application/json');
        assert.deepEqual([anonymous.status, codeOf(anonymous)], [401, 'token_required']);
        const unavailable = await post(`${hub().url}/publish`, batch(['orders/b1']), session('slow'), 'application/json');
        assert.deepEqual([unavailable.status, codeOf(unavailable)], [503, 'auth_unavailable']);
        assert.deepEqual(
          app.asked.filter((asked) => asked.action === 'publish').map((asked) => asked.topics),
          [['orders/b1', 'orders/b2'], ['orders/b1', 'users/b1'], ['orders/b1'], ['orders/b1']],
        );
        await post(`${hub().url}/topics/orders/b2`, 'last', session('writer'));
        const events = await stream.waitForEvents(3);
        assert.deepEqual(events.map((event) => event.data), ['orders/b1', 'orders/b2', 'last'], 'no part of a refused batch was published');
        stream.close();
      });

      test("a cross-site POST with the app's session cookie is 403 cross_site_request before the app is asked", async () => {
        const evil = { ...session('writer'), Origin: 'https://evil.example' };
        const single = await post(`${hub().url}/topics/orders/csrf`, 'x', evil);
        assert.deepEqual([single.status, codeOf(single)], [403, 'cross_site_request']);
        const batch = await post(`${hub().url}/publish`, JSON.stringify([{ topic: 'orders/csrf', data: 'x' }]), evil, 'application/json');
        assert.deepEqual([batch.status, codeOf(batch)], [403, 'cross_site_request']);
        const ticket = await post(`${hub().url}/tickets`, JSON.stringify({ topics: ['orders/csrf'] }), evil, 'application/json');
        assert.deepEqual([ticket.status, codeOf(ticket)], [403, 'cross_site_request']);
        assert.equal(app.asked.length, 0, 'the app was never asked');
        // The same request from the hub's own origin goes through.
        const own = await post(`${hub().url}/topics/orders/csrf`, 'x', { ...session('writer'), Origin: hub().url });
        assert.equal(own.status, 201, own.text);
      });
    });
  }

  describe('tickets', () => {
    test('POST /tickets: the app is asked with action=ticket; the ticket opens the stream once without asking again', async () => {
      const reply = await post(`${fast.url}/tickets`, JSON.stringify({ topics: ['orders/t1', 'orders/t2'] }), session('reader'), 'application/json');
      assert.equal(reply.status, 201, reply.text);
      assert.deepEqual(app.asked.map(({ action, topics }) => ({ action, topics })), [{ action: 'ticket', topics: ['orders/t1', 'orders/t2'] }]);
      const { ticket } = reply.json();
      assert.deepEqual(await streamAnswer(`${fast.url}/events?topic=orders/t1&topic=orders/t2&ticket=${ticket}`), { status: 200, code: '' });
      assert.equal(app.asked.length, 1, 'a ticket is redeemed without the app');
      assert.deepEqual(await streamAnswer(`${fast.url}/events?topic=orders/t1&ticket=${ticket}`), { status: 401, code: 'invalid_ticket' });
    });

    test('refused otherwise: a topic not granted 403, no session 401, refused 403, app failing or slow 503', async () => {
      const cases: Array<[string | undefined, string, number, string]> = [
        ['reader', 'users/1', 403, 'forbidden'],
        ['logged-out', 'orders/1', 401, 'token_required'],
        [undefined, 'orders/1', 401, 'token_required'],
        ['banned', 'orders/1', 403, 'forbidden'],
        ['broken', 'orders/1', 503, 'auth_unavailable'],
        ['slow', 'orders/1', 503, 'auth_unavailable'],
      ];
      for (const [name, topic, status, code] of cases) {
        const reply = await post(`${fast.url}/tickets`, JSON.stringify({ topics: [topic] }), name === undefined ? {} : session(name), 'application/json');
        assert.deepEqual([reply.status, codeOf(reply)], [status, code], `${name} ${topic}`);
      }
    });
  });

  describe('--auth-cache', () => {
    test('an identical stream request is answered from the cache; another cookie reaches the app; refusals are not cached', async () => {
      const cached = await startTestHub({ ...settings(), authCacheMs: 60_000 });
      try {
        const subscribes = () => app.asked.filter((asked) => asked.action === 'subscribe').length;
        assert.deepEqual(await streamAnswer(`${cached.url}/topics/orders/c`, session('reader')), { status: 200, code: '' });
        assert.deepEqual(await streamAnswer(`${cached.url}/topics/orders/c`, session('reader')), { status: 200, code: '' });
        assert.equal(subscribes(), 1, 'the second identical request did not reach the app');
        assert.deepEqual(await streamAnswer(`${cached.url}/topics/orders/c`, session('other-reader')), { status: 200, code: '' });
        assert.equal(subscribes(), 2, 'another cookie did');
        for (let i = 0; i < 2; i++) assert.deepEqual(await streamAnswer(`${cached.url}/topics/orders/c`, session('banned')), { status: 403, code: 'forbidden' });
        assert.equal(subscribes(), 4, 'each refusal was asked');
      } finally {
        await cached.close();
      }
    });

    test('without the cache, every request reaches the app', async () => {
      for (let i = 0; i < 3; i++) assert.deepEqual(await streamAnswer(`${fast.url}/topics/orders/c`, session('reader')), { status: 200, code: '' });
      assert.equal(app.asked.length, 3);
    });
  });

  describe('beside tokens (--jwt-secret and --auth-url)', () => {
    const SECRET = 'forward-auth-secret-forward-auth!!';
    let withTokens: RunningHub;
    let withTokensPlain: RunningHub;
    before(async () => {
      withTokens = await startTestHub({ ...settings(), jwtSecret: SECRET });
      withTokensPlain = await startTestHub({ ...settings(), jwtSecret: SECRET, fastPublish: false });
    });
    after(() => Promise.all([withTokens.close(), withTokensPlain.close()]));

    test('a request with a valid token is judged by the token: the app is not asked', async () => {
      const token = await mintToken({ secret: SECRET, lifetimeSeconds: 600, subject: 'service', subscribe: ['users/*'], publish: ['users/*'] });
      const bearer = { Authorization: `Bearer ${token}` };
      for (const hub of [withTokens, withTokensPlain]) {
        // users/* is not in any session's grant: only the token allows it. The session cookie beside it is not asked about.
        assert.deepEqual(await streamAnswer(`${hub.url}/topics/users/1`, { ...bearer, ...session('banned') }), { status: 200, code: '' });
        assert.equal((await post(`${hub.url}/topics/users/1`, 'x', bearer)).status, 201);
        const forged = await post(`${hub.url}/topics/users/1`, 'x', { Authorization: 'Bearer not.a.token' });
        assert.deepEqual([forged.status, codeOf(forged)], [401, 'invalid_token'], 'an invalid token is refused, not passed to the app');
      }
      assert.equal(app.asked.length, 0);
    });

    test('an Authorization header of another scheme (Basic …) goes to the app, which may read it, instead of a 401', async () => {
      const basic = { Authorization: `Basic ${Buffer.from('writer:pw').toString('base64')}` };
      for (const hub of [withTokens, withTokensPlain]) {
        const reply = await post(`${hub.url}/topics/orders/basic`, 'x', basic);
        assert.equal(reply.status, 201, reply.text);
        assert.deepEqual(await streamAnswer(`${hub.url}/topics/orders/basic`, basic), { status: 200, code: '' });
        const unknown = await post(`${hub.url}/topics/orders/basic`, 'x', { Authorization: 'Basic bm9ib2R5Og==' });
        assert.deepEqual([unknown.status, codeOf(unknown)], [401, 'token_required'], "the app's 401 is no session");
      }
      assert.equal(app.asked.length, 6);
      assert.ok(app.asked.every((asked) => asked.headers.authorization?.startsWith('Basic ')), 'the app got the header');
    });
  });
});
