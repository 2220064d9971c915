/**
 * The Next.js example (examples/next), without Next itself: its route handlers are called the way
 * Next calls them, with a Fetch Request (the Host and Cookie the browser sent, a signal that aborts
 * when the client goes away) and, for dynamic segments, a promise of the params.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { POST as login } from '../../examples/next/app/login/route.js';
import { POST as pay } from '../../examples/next/app/orders/[id]/pay/route.js';
import * as realtime from '../../examples/next/app/realtime/[...path]/route.js';
import { realtimeHub } from '../../examples/next/lib/hub.js';
import { createHub, type EmbeddedHub } from '../../src/index.js';
import { readResponseStream } from '../support/response-stream.js';
import { churn, userStreamPath, waitForNoConnections } from './support.js';

const ORIGIN = 'http://localhost:3000';
const held = globalThis as typeof globalThis & { realtimeHub?: Promise<EmbeddedHub> };

/** A Request as Next builds it from what the browser sent. */
function request(path: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}): Request {
  return new Request(`${ORIGIN}${path}`, { ...init, headers: { Host: 'localhost:3000', ...init.headers } });
}

async function signIn(user: string): Promise<string> {
  const response = await login(request('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }) }));
  assert.equal(response.status, 200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /HttpOnly/);
  return /^sid=[^;]+/.exec(setCookie)![0];
}

async function payOrder(cookie: string, id: string): Promise<{ id: string; topic: string }> {
  const response = await pay(request(`/orders/${id}/pay`, { method: 'POST', headers: { Cookie: cookie } }), { params: Promise.resolve({ id }) });
  assert.equal(response.status, 200);
  return response.json() as Promise<{ id: string; topic: string }>;
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe('the Next.js example', () => {
  let hub: EmbeddedHub;
  before(async () => {
    delete held.realtimeHub;
    hub = await realtimeHub();
  });
  after(async () => {
    await hub.close();
    delete held.realtimeHub;
  });

  it('makes one hub per process, kept across a hot reload of its module', async () => {
    assert.equal(await realtimeHub(), hub);
    const reloaded = (await import(new URL('../../examples/next/lib/hub.js?hot-reload', import.meta.url).href)) as { realtimeHub: typeof realtimeHub };
    assert.equal(await reloaded.realtimeHub(), hub);
  });

  it('streams to the session: an in-process publish and an HTTP publish arrive, and Last-Event-ID resumes', async () => {
    const cookie = await signIn('alice');
    const client = new AbortController();
    const response = await realtime.GET(request(userStreamPath('alice'), { headers: { Cookie: cookie }, signal: client.signal }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const stream = readResponseStream(response);

    const paid = await payOrder(cookie, '42');
    const noted = await realtime.POST(
      request('/realtime/topics/users/alice/notes?event=note', { method: 'POST', headers: { Cookie: cookie, Origin: ORIGIN, 'Content-Type': 'application/json' }, body: '{"text":"hello"}' }),
    );
    assert.equal(noted.status, 201);
    const { id: notedId } = (await noted.json()) as { id: string };
    const events = await stream.waitForEvents(2);
    assert.deepEqual(
      events.map((event) => [event.type, event.data, event.lastEventId]),
      [
        ['order', '{"order":"42","status":"paid"}', paid.id],
        ['note', '{"text":"hello"}', notedId],
      ],
    );

    client.abort(); // the browser went away: Next aborts the request's signal
    await stream.ended;
    const missed = await payOrder(cookie, '43');
    const again = new AbortController();
    const resumed = readResponseStream(await realtime.GET(request(userStreamPath('alice'), { headers: { Cookie: cookie, 'Last-Event-ID': notedId }, signal: again.signal })));
    const [replayed] = await resumed.waitForEvents(1);
    assert.deepEqual([replayed!.type, replayed!.data, replayed!.lastEventId], ['order', '{"order":"43","status":"paid"}', missed.id]);
    again.abort();
    await resumed.ended;
  });

  it('serves the hub under /realtime only', async () => {
    assert.equal((await realtime.GET(request('/realtime/livez'))).status, 200);
    const unknown = await realtime.GET(request('/realtime/nope'));
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'not_found');
    // Next routes only /realtime/… here; were another path to reach the handler, the hub would not serve it.
    assert.equal((await realtime.GET(request('/livez'))).status, 404);
    const preflight = await realtime.OPTIONS(request('/realtime/topics/news/today', { method: 'OPTIONS' }));
    assert.equal(preflight.status, 204);
  });

  it('refuses a stream without a session (401 token_required) and a cross-site publish (403 cross_site_request)', async () => {
    const anonymous = await realtime.GET(request(userStreamPath('alice')));
    assert.equal(anonymous.status, 401);
    assert.equal(await errorCode(anonymous), 'token_required');
    const cookie = await signIn('alice');
    const forged = await realtime.POST(
      request('/realtime/topics/users/alice/notes', { method: 'POST', headers: { Cookie: cookie, Origin: 'https://elsewhere.example', 'Content-Type': 'text/plain' }, body: 'x' }),
    );
    assert.equal(forged.status, 403);
    assert.equal(await errorCode(forged), 'cross_site_request');
  });

  it('leaves no subscriber and no stream slot behind after 1,000 streams the client dropped', async () => {
    const cookie = await signIn('carol');
    let n = 0;
    const open = async () => {
      const client = new AbortController();
      const response = await realtime.GET(request(userStreamPath('carol'), { headers: { Cookie: cookie }, signal: client.signal }));
      assert.equal(response.status, 200);
      const reader = response.body!.getReader();
      await reader.read(); // ": ok": the subscriber is registered
      // Next aborts the request's signal when the client goes away, and stops reading the body.
      n += 1;
      return { close: () => (n % 2 === 0 ? client.abort() : void reader.cancel()) };
    };
    await churn(open, 1000, 50);
    await waitForNoConnections(hub);

    const limit = hub.config.maxStreamsPerSubject;
    const clients = Array.from({ length: limit }, () => new AbortController());
    const responses = await Promise.all(clients.map((client) => realtime.GET(request(userStreamPath('carol'), { headers: { Cookie: cookie }, signal: client.signal }))));
    assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
    const over = await realtime.GET(request(userStreamPath('carol'), { headers: { Cookie: cookie } }));
    assert.equal(over.status, 429);
    for (const client of clients) client.abort();
    await waitForNoConnections(hub);
  });
});

describe('the Next.js example, when authorize() throws', () => {
  after(async () => {
    await (await held.realtimeHub)?.close();
    delete held.realtimeHub;
  });

  it('answers 500 authorize_failed and opens no stream', async () => {
    // The hub the example keeps on globalThis, made here with an authorize() that fails.
    held.realtimeHub = createHub<Request>({
      basePath: '/realtime',
      logLevel: 'silent',
      authorize: () => {
        throw new Error('the session store is down');
      },
    });
    const cookie = await signIn('alice');
    const response = await realtime.GET(request(userStreamPath('alice'), { headers: { Cookie: cookie } }));
    assert.equal(response.status, 500);
    assert.equal(await errorCode(response), 'authorize_failed');
    assert.equal((await held.realtimeHub).hub.stats().connections, 0);
  });
});
