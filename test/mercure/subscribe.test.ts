/**
 * GET /.well-known/mercure: Mercure streams, read by our parser and by an independent client (the
 * `eventsource` package with the mercureAuthorization cookie, as a browser sends it): topic
 * selectors, private updates by claims, the three ways of presenting a token, anonymous
 * subscribers, resume (Last-Event-ID, lastEventID, earliest) and the Last-Event-ID answer header.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { mercureToken, publishUpdate, subscribeUrl, type UpdateFields } from '../support/mercure.js';
import { until } from '../support/wait.js';

const SECRET = 'mercure-subscribe-test-secret-of-32-bytes-at-least';

describe('Mercure subscribing', () => {
  let hub: RunningHub;
  let anonymousHub: RunningHub;
  let publisher: Record<string, string>;
  const streams: OpenStream[] = [];
  const sources: EventSource[] = [];
  before(async () => {
    [hub, anonymousHub] = await Promise.all([
      startTestHub({ mercure: true, jwtSecret: SECRET }),
      startTestHub({ mercure: true, jwtSecret: SECRET, mercureAnonymous: true }),
    ]);
    publisher = { Authorization: `Bearer ${await mercureToken(SECRET, { publish: ['*'] })}` };
  });
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
    for (const source of sources.splice(0)) source.close();
  });
  after(async () => {
    await Promise.all([hub.close(), anonymousHub.close()]);
  });
  const subscriberToken = (subscribe: string[]) => mercureToken(SECRET, { subscribe });
  const listen = async (base: string, selectors: string[], headers: Record<string, string> = {}, extra: Record<string, string> = {}) => {
    const stream = await openStream(subscribeUrl(base, selectors, extra), headers);
    streams.push(stream);
    return stream;
  };
  const send = async (base: string, fields: UpdateFields): Promise<string> => {
    const reply = await publishUpdate(base, fields, publisher);
    assert.equal(reply.status, 200, reply.text);
    return reply.text;
  };

  test('exact, URI template and "*" selectors each get what they match, and nothing else', async () => {
    const token = { Authorization: `Bearer ${await subscriberToken([])}` };
    const exact = await listen(hub.url, ['https://example.com/books/1'], token);
    const template = await listen(hub.url, ['https://example.com/books/{id}'], token);
    const every = await listen(hub.url, ['*'], token);
    await send(hub.url, [['topic', 'https://example.com/books/2'], ['data', 'two']]);
    await send(hub.url, [['topic', 'https://example.com/users/1'], ['data', 'user']]);
    await send(hub.url, [['topic', 'https://example.com/books/1'], ['data', 'one']]);
    await every.waitForEvents(3);
    await template.waitForEvents(2);
    await exact.waitForEvents(1);
    assert.deepEqual(every.events.map((event) => event.data), ['two', 'user', 'one']);
    assert.deepEqual(template.events.map((event) => event.data), ['two', 'one']);
    assert.deepEqual(exact.events.map((event) => event.data), ['one']);
  });

  test('an update with several topics reaches a subscriber of any of them, once', async () => {
    const stream = await listen(hub.url, ['https://example.com/a', 'https://example.com/b'], { Authorization: `Bearer ${await subscriberToken([])}` });
    await send(hub.url, [['topic', 'https://example.com/a'], ['topic', 'https://example.com/b'], ['data', 'both']]);
    await send(hub.url, [['topic', 'https://example.com/b'], ['data', 'b only']]);
    const events = await stream.waitForEvents(2);
    assert.deepEqual(events.map((event) => event.data), ['both', 'b only']);
  });

  test('a malformed URI template is a 400 invalid_topic_selector; no selector at all a 400 missing_topic', async () => {
    const token = { Authorization: `Bearer ${await subscriberToken([])}` };
    const malformed = await httpRequest(subscribeUrl(hub.url, ['https://example.com/books/{id']), { headers: token });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json().error.code, 'invalid_topic_selector');
    const none = await httpRequest(`${hub.url}/.well-known/mercure`, { headers: token });
    assert.equal(none.status, 400);
    assert.equal(none.json().error.code, 'missing_topic');
  });

  test('private updates reach only subscribers whose mercure.subscribe claim matches one of their topics', async () => {
    const selectors = ['https://example.com/books/{id}'];
    const without = await listen(hub.url, selectors, { Authorization: `Bearer ${await subscriberToken([])}` });
    const other = await listen(hub.url, selectors, { Authorization: `Bearer ${await subscriberToken(['https://example.com/users/{name}'])}` });
    const claimed = await listen(hub.url, selectors, { Authorization: `Bearer ${await subscriberToken(['https://example.com/books/{id}'])}` });
    // The claim may match another topic of the update than the one subscribed to.
    const byOtherTopic = await listen(hub.url, selectors, { Authorization: `Bearer ${await subscriberToken(['urn:group:editors'])}` });
    await send(hub.url, [['topic', 'https://example.com/books/1'], ['topic', 'urn:group:editors'], ['data', 'private'], ['private', 'on']]);
    await send(hub.url, [['topic', 'https://example.com/books/1'], ['data', 'public']]);
    await claimed.waitForEvents(2);
    await byOtherTopic.waitForEvents(2);
    await without.waitForEvents(1);
    await other.waitForEvents(1);
    assert.deepEqual(claimed.events.map((event) => event.data), ['private', 'public']);
    assert.deepEqual(byOtherTopic.events.map((event) => event.data), ['private', 'public']);
    assert.deepEqual(without.events.map((event) => event.data), ['public']);
    assert.deepEqual(other.events.map((event) => event.data), ['public']);
  });

  test('the token is taken from the header, the authorization query parameter or the mercureAuthorization cookie', async () => {
    const token = await subscriberToken(['*']);
    const byHeader = await listen(hub.url, ['urn:ways'], { Authorization: `Bearer ${token}` });
    const byQuery = await listen(hub.url, ['urn:ways'], {}, { authorization: token });
    const byCookie = await listen(hub.url, ['urn:ways'], { Cookie: `mercureAuthorization=${token}` });
    await send(hub.url, [['topic', 'urn:ways'], ['data', 'secret'], ['private', '']]);
    for (const stream of [byHeader, byQuery, byCookie]) assert.equal((await stream.waitForEvents(1))[0]!.data, 'secret');
  });

  test('without a token: 401 unless --mercure-anonymous, which gets public updates only', async () => {
    const refused = await httpRequest(subscribeUrl(hub.url, ['*']));
    assert.equal(refused.status, 401);
    assert.equal(refused.json().error.code, 'token_required');
    const anonymous = await listen(anonymousHub.url, ['*']);
    await send(anonymousHub.url, [['topic', 'urn:a'], ['data', 'private'], ['private', 'on']]);
    await send(anonymousHub.url, [['topic', 'urn:a'], ['data', 'public']]);
    // Updates arrive in order: the public one first means the private one was left out.
    const [event] = await anonymous.waitForEvents(1);
    assert.equal(event!.data, 'public');
  });

  test('resume: Last-Event-ID header, lastEventID parameter and earliest; the answer\'s Last-Event-ID is the newest id', async () => {
    const topic = 'https://example.com/resume/{n}';
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push(await send(anonymousHub.url, [['topic', `https://example.com/resume/${n}`], ['data', String(n)]]));
    const byHeader = await listen(anonymousHub.url, [topic], { 'Last-Event-ID': ids[0]! });
    // The hub's newest id: the third update's, or a later one of the hub's own topics (its presence
    // and bus messages take ids too, on their own timers).
    const sequence = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));
    const newest = String(byHeader.headers['last-event-id']);
    assert.equal(newest.slice(0, newest.lastIndexOf('-')), ids[2]!.slice(0, ids[2]!.lastIndexOf('-')), 'the same epoch');
    assert.ok(sequence(newest) >= sequence(ids[2]!), `${newest} is not older than the third update's ${ids[2]}`);
    const byQuery = await listen(anonymousHub.url, [topic], {}, { lastEventID: ids[1]! });
    const earliest = await listen(anonymousHub.url, [topic], {}, { lastEventID: 'earliest' });
    assert.deepEqual((await byHeader.waitForEvents(2)).map((event) => event.data), ['2', '3']);
    assert.deepEqual((await byQuery.waitForEvents(1)).map((event) => event.data), ['3']);
    assert.deepEqual((await earliest.waitForEvents(3)).map((event) => event.data), ['1', '2', '3']);
    // And live after the replay, with no duplicate across the seam.
    const live = await send(anonymousHub.url, [['topic', 'https://example.com/resume/4'], ['data', '4']]);
    await earliest.waitForEvents(4);
    assert.deepEqual(earliest.events.map((event) => event.lastEventId), [...ids, live]);
    assert.equal(earliest.events.filter((event) => event.type === 'ssehub.reset').length, 0);
  });

  test('native subscribers cannot read the Mercure topic, nor see its updates through patterns', async () => {
    const refused = await httpRequest(`${anonymousHub.url}/topics/$mercure/updates`);
    assert.equal(refused.status, 400);
    const token = await mintToken({ subject: 'native', secret: SECRET, lifetimeSeconds: 60, subscribe: ['**'] });
    const stream = await openStream(`${anonymousHub.url}/events?topic=**`, { Authorization: `Bearer ${token}` });
    streams.push(stream);
    await send(anonymousHub.url, [['topic', 'urn:hidden'], ['data', 'mercure']]);
    await (await fetch(`${anonymousHub.url}/topics/visible`, { method: 'POST', headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${await mintToken({ subject: 'p', secret: SECRET, lifetimeSeconds: 60, publish: ['**'] })}` }, body: 'native' })).text();
    // The Mercure update was published first: a native event first and alone means it never came.
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.data, 'native');
  });

  test('an independent client: the eventsource package with the mercureAuthorization cookie', async () => {
    const token = await subscriberToken(['https://example.com/books/{id}']);
    const received: Array<{ type: string; data: string; id: string }> = [];
    const source = new EventSource(subscribeUrl(hub.url, ['https://example.com/books/{id}']), {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, Cookie: `mercureAuthorization=${token}` } }),
    });
    sources.push(source);
    source.onmessage = (event) => received.push({ type: 'message', data: event.data, id: event.lastEventId });
    source.addEventListener('stock', (event) => received.push({ type: 'stock', data: event.data, id: event.lastEventId }));
    await new Promise<void>((resolve, reject) => {
      source.onopen = () => resolve();
      source.onerror = (error) => reject(new Error(`the client could not connect: ${error.message}`));
    });
    const first = await send(hub.url, [['topic', 'https://example.com/books/1'], ['data', '{"title":"Mercure"}'], ['private', 'on']]);
    const second = await send(hub.url, [['topic', 'https://example.com/books/1'], ['data', 'out'], ['type', 'stock']]);
    await until(() => received.length >= 2, 'two updates at the eventsource client');
    assert.deepEqual(received, [
      { type: 'message', data: '{"title":"Mercure"}', id: first },
      { type: 'stock', data: 'out', id: second },
    ]);
  });
});
