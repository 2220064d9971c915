/**
 * POST /.well-known/mercure: form-encoded updates, as Mercure's publishers (Symfony, API Platform,
 * curl) send them, answered 200 text/plain with the id; authorization by the `mercure.publish`
 * claim; bad input refused with a stable code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHub } from '../../src/create-hub.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { mercureToken, publishUpdate, subscribeUrl } from '../support/mercure.js';

const SECRET = 'mercure-publish-test-secret-of-32-bytes-at-least';
const BOOK = 'https://example.com/books/1';

describe('Mercure publishing', () => {
  let hub: RunningHub;
  let open: RunningHub;
  const streams: OpenStream[] = [];
  before(async () => {
    hub = await startTestHub({ mercure: true, jwtSecret: SECRET, mercureAnonymous: true });
    open = await startTestHub({ mercure: true });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await Promise.all([hub.close(), open.close()]);
  });
  const listen = async (base: string, selectors: string[], headers: Record<string, string> = {}) => {
    const stream = await openStream(subscribeUrl(base, selectors), headers);
    streams.push(stream);
    return stream;
  };
  const bearer = async (claim: Parameters<typeof mercureToken>[1]) => ({ Authorization: `Bearer ${await mercureToken(SECRET, claim)}` });

  test('the endpoint is off unless --mercure: 404 mercure_disabled', async () => {
    const off = await startTestHub();
    try {
      const reply = await publishUpdate(off.url, [['topic', BOOK], ['data', 'x']]);
      assert.equal(reply.status, 404);
      assert.equal(reply.json().error.code, 'mercure_disabled');
    } finally {
      await off.close();
    }
  });

  test('an update is answered 200 text/plain with its id, and reaches subscribers with id, event, retry and data', async () => {
    const stream = await listen(hub.url, [BOOK]);
    const reply = await publishUpdate(hub.url, [['topic', BOOK], ['data', '{"status":"OutOfStock"}'], ['type', 'stock'], ['retry', '1500']], await bearer({ publish: [] }));
    assert.equal(reply.status, 200, reply.text);
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.lastEventId, reply.text);
    assert.equal(event!.type, 'stock');
    assert.equal(event!.data, '{"status":"OutOfStock"}');
    assert.match(stream.raw(), /retry: 1500\nid: /);
    assert.deepEqual(stream.retries.slice(-1), [1500]);
  });

  test('multi-line data arrives whole; an update without data has empty data', async () => {
    const stream = await listen(hub.url, ['https://example.com/multi']);
    await publishUpdate(hub.url, [['topic', 'https://example.com/multi'], ['data', 'line one\nline two']], await bearer({ publish: ['*'] }));
    await publishUpdate(hub.url, [['topic', 'https://example.com/multi']], await bearer({ publish: ['*'] }));
    const events = await stream.waitForEvents(2);
    assert.deepEqual(events.map((event) => [event.type, event.data]), [['message', 'line one\nline two'], ['message', '']]);
  });

  test('publishing needs a token with a mercure.publish claim (401 without one, 403 without the claim)', async () => {
    const anonymous = await publishUpdate(hub.url, [['topic', BOOK], ['data', 'x']]);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json().error.code, 'token_required');
    const subscriberOnly = await publishUpdate(hub.url, [['topic', BOOK], ['data', 'x']], await bearer({ subscribe: ['*'] }));
    assert.equal(subscriberOnly.status, 403);
    assert.equal(subscriberOnly.json().error.code, 'forbidden');
    const forged = await publishUpdate(hub.url, [['topic', BOOK], ['data', 'x']], { Authorization: `Bearer ${await mercureToken('another-secret-of-at-least-32-bytes-long!!', { publish: ['*'] })}` });
    assert.equal(forged.status, 401);
    assert.equal(forged.json().error.code, 'invalid_token');
  });

  test('a private update needs a publish selector matching each of its topics: 403 otherwise', async () => {
    const fields: Array<['topic' | 'data' | 'private', string]> = [['topic', BOOK], ['topic', 'https://example.com/users/dunglas'], ['data', 'secret'], ['private', 'on']];
    const partly = await publishUpdate(hub.url, fields, await bearer({ publish: ['https://example.com/books/{id}'] }));
    assert.equal(partly.status, 403);
    assert.equal(partly.json().error.code, 'forbidden');
    const covered = await publishUpdate(hub.url, fields, await bearer({ publish: ['https://example.com/books/{id}', 'https://example.com/users/{name}'] }));
    assert.equal(covered.status, 200, covered.text);
  });

  test('a hub without keys is open to publishers, as its native routes are', async () => {
    const stream = await listen(open.url, ['*']);
    const reply = await publishUpdate(open.url, [['topic', 'urn:open'], ['data', 'hello']]);
    assert.equal(reply.status, 200, reply.text);
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.data, 'hello');
  });

  for (const [what, body, contentType, status, code] of [
    ['neither topic nor data', 'foo=bar', 'application/x-www-form-urlencoded', 400, 'missing_topic'],
    ['data without a topic', 'data=x', 'application/x-www-form-urlencoded', 400, 'missing_topic'],
    ['a type with a line feed', `topic=${encodeURIComponent(BOOK)}&type=a%0Aid%3A%201`, 'application/x-www-form-urlencoded', 400, 'invalid_event_name'],
    ['a retry that is not a number', `topic=${encodeURIComponent(BOOK)}&retry=soon`, 'application/x-www-form-urlencoded', 400, 'invalid_retry'],
    ['an id with a line feed', `topic=${encodeURIComponent(BOOK)}&id=a%0Ab`, 'application/x-www-form-urlencoded', 400, 'invalid_id'],
    ['a JSON body', JSON.stringify({ topic: BOOK }), 'application/json', 415, 'unsupported_media_type'],
  ] as const) {
    test(`bad input: ${what} is a ${status} ${code}`, async () => {
      const reply = await httpRequest(`${hub.url}/.well-known/mercure`, { method: 'POST', headers: { 'Content-Type': contentType, ...(await bearer({ publish: ['*'] })) }, body });
      assert.equal(reply.status, status, reply.text);
      assert.equal(reply.json().error.code, code);
    });
  }

  test('a publisher\'s own id makes the publish idempotent: a retry answers the first id and is not delivered twice', async () => {
    const stream = await listen(hub.url, ['https://example.com/orders/{id}']);
    const auth = await bearer({ publish: ['*'] });
    const fields: Array<['topic' | 'data' | 'id', string]> = [['topic', 'https://example.com/orders/7'], ['data', 'paid'], ['id', 'urn:uuid:e1ee88e2-532a-4d6f-ba70-f0f8bd584022']];
    const first = await publishUpdate(hub.url, fields, auth);
    const retry = await publishUpdate(hub.url, fields, auth);
    assert.equal(first.status, 200);
    assert.equal(retry.status, 200);
    assert.equal(retry.text, first.text);
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    const reused = await publishUpdate(hub.url, [['topic', 'https://example.com/orders/7'], ['data', 'refunded'], ['id', fields[2]![1]]], auth);
    assert.equal(reused.status, 422, reused.text);
    await publishUpdate(hub.url, [['topic', 'https://example.com/orders/7'], ['data', 'shipped']], auth);
    const events = await stream.waitForEvents(2);
    assert.deepEqual(events.map((event) => event.data), ['paid', 'shipped']);
    assert.equal(events[0]!.lastEventId, first.text);
  });

  test('Mercure updates count as the users\' traffic in /stats', async () => {
    const before = (await httpRequest(`${open.url}/stats`)).json().eventsPublished;
    await publishUpdate(open.url, [['topic', 'urn:counted'], ['data', '1']]);
    assert.equal((await httpRequest(`${open.url}/stats`)).json().eventsPublished, before + 1);
  });
});

describe('Mercure inside an app (createHub)', () => {
  test('createHub({ mercure: true }) serves the endpoint through hub.fetch; --jwt-max-lifetime makes exp required', async () => {
    const hub = await createHub({ mercure: true, mercureAnonymous: true, jwtSecret: SECRET, jwtMaxLifetimeMs: 3_600_000 });
    try {
      const stream = await hub.fetch(new Request('http://app.test/.well-known/mercure?topic=urn:embedded'));
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      const form = (token: string) =>
        hub.fetch(new Request('http://app.test/.well-known/mercure', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${token}` }, body: 'topic=urn:embedded&data=inside' }));
      const forever = await form(await mercureToken(SECRET, { publish: ['*'] }));
      assert.equal(forever.status, 401);
      assert.equal((await forever.json()).error.code, 'token_missing_exp');
      const published = await form(await mercureToken(SECRET, { publish: ['*'] }, { expiresInSeconds: 60 }));
      assert.equal(published.status, 200);
      const id = await published.text();
      let text = '';
      while (!text.includes('data: inside')) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, new RegExp(`id: ${id}\\ndata: inside\\n`));
      await reader.cancel();
    } finally {
      await hub.close();
    }
  });
});
