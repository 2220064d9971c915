/**
 * Mercure's subscriptions API and subscription events, on presence (--mercure-subscriptions): the
 * protocol's JSON-LD documents, private to tokens whose claim matches the subscriptions URL.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { mercureToken, subscribeUrl } from '../support/mercure.js';
import { untilValue } from '../support/wait.js';

const SECRET = 'mercure-subscriptions-test-secret-of-32-bytes!!';
const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions{/topic}{/subscriber}';
const BOOKS = 'https://example.com/books/{id}';

describe('Mercure subscriptions', () => {
  let hub: RunningHub;
  let admin: Record<string, string>;
  const streams: OpenStream[] = [];
  before(async () => {
    hub = await startTestHub({ mercure: true, mercureSubscriptions: true, jwtSecret: SECRET, presenceGraceMs: 100 });
    admin = { Authorization: `Bearer ${await mercureToken(SECRET, { subscribe: [SUBSCRIPTIONS] })}` };
  });
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });
  after(() => hub.close());
  const listen = async (selectors: string[], headers: Record<string, string>) => {
    const stream = await openStream(subscribeUrl(hub.url, selectors), headers);
    streams.push(stream);
    return stream;
  };

  test('a subscriber\'s arrival and departure are published as private subscription events', async () => {
    const watcher = await listen([SUBSCRIPTIONS], admin);
    const outsider = await listen(['*'], { Authorization: `Bearer ${await mercureToken(SECRET, {})}` });
    const reader = await listen([BOOKS], { Authorization: `Bearer ${await mercureToken(SECRET, { subscribe: [BOOKS], payload: { user: 'https://example.com/users/dunglas' } })}` });
    // The watcher hears of its own subscription too, as on Mercure; the reader's is the one on BOOKS.
    const ofBooks = () => watcher.events.map((event) => JSON.parse(event.data)).filter((s: { topic: string }) => s.topic === BOOKS);
    await watcher.waitUntil(() => ofBooks().length >= 1, 8000, 'the reader\'s subscription event');
    const subscription = ofBooks()[0];
    assert.equal(subscription['@context'], 'https://mercure.rocks/');
    assert.equal(subscription.type, 'Subscription');
    assert.equal(subscription.topic, BOOKS);
    assert.equal(subscription.active, true);
    assert.deepEqual(subscription.payload, { user: 'https://example.com/users/dunglas' });
    assert.match(subscription.subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
    assert.equal(subscription.id, `/.well-known/mercure/subscriptions/${encodeURIComponent(BOOKS)}/${encodeURIComponent(subscription.subscriber)}`);
    reader.close();
    await watcher.waitUntil(() => ofBooks().length >= 2, 8000, 'the reader\'s departure');
    assert.equal(ofBooks()[1].active, false);
    assert.deepEqual({ ...ofBooks()[1], active: true }, subscription);
    // Private: a subscriber to every topic without the claim saw none of it.
    assert.equal(outsider.events.length, 0);
  });

  test('GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]] lists them as JSON-LD', async () => {
    await listen([BOOKS, 'urn:other'], { Authorization: `Bearer ${await mercureToken(SECRET, { payload: { n: 1 } })}` });
    const list = await untilValue(
      async () => (await httpRequest(`${hub.url}/.well-known/mercure/subscriptions`, { headers: admin })).json(),
      // The previous test's streams leave after the grace period: wait for exactly this stream's two.
      (body) => JSON.stringify(body.subscriptions?.map((s: { topic: string }) => s.topic).sort()) === JSON.stringify([BOOKS, 'urn:other']),
      'this stream\'s two subscriptions, alone',
    );
    assert.equal(list.type, 'Subscriptions');
    assert.equal(list.id, '/.well-known/mercure/subscriptions');
    assert.equal(typeof list.lastEventID, 'string');
    assert.equal(new Set(list.subscriptions.map((s: { subscriber: string }) => s.subscriber)).size, 1);
    const byTopic = await httpRequest(`${hub.url}/.well-known/mercure/subscriptions/${encodeURIComponent(BOOKS)}`, { headers: admin });
    assert.equal(byTopic.status, 200, byTopic.text);
    assert.match(String(byTopic.headers['content-type']), /^application\/ld\+json/);
    const [only] = byTopic.json().subscriptions;
    assert.equal(only.topic, BOOKS);
    assert.deepEqual(only.payload, { n: 1 });
    const one = await httpRequest(`${hub.url}${only.id}`, { headers: admin });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json().subscriber, only.subscriber);
    const gone = await httpRequest(`${hub.url}/.well-known/mercure/subscriptions/${encodeURIComponent(BOOKS)}/urn%3Auuid%3Anobody`, { headers: admin });
    assert.equal(gone.status, 404);
    assert.equal(gone.json().error.code, 'subscription_not_found');
  });

  test('reading them needs a claim that matches the URL: 401 without a token, 403 with another claim', async () => {
    const anonymous = await httpRequest(`${hub.url}/.well-known/mercure/subscriptions`);
    assert.equal(anonymous.status, 401);
    const other = await httpRequest(`${hub.url}/.well-known/mercure/subscriptions`, { headers: { Authorization: `Bearer ${await mercureToken(SECRET, { subscribe: [BOOKS] })}` } });
    assert.equal(other.status, 403);
    assert.equal(other.json().error.code, 'forbidden');
  });
});
