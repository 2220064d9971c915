/**
 * Mercure on a cluster, on every shared engine: three hubs on one namespace, a Mercure subscriber
 * on each, updates published to one hub reach all three (private ones by claims), and a subscriber
 * that resumes on another hub with the Last-Event-ID it got gets exactly what it missed, and the
 * subscriptions API lists the subscribers of all three.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { mercureToken, publishUpdate, subscribeUrl } from '../support/mercure.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { untilValue } from '../support/wait.js';

const SECRET = 'mercure-cluster-test-secret-of-32-bytes-at-least';
const BOOKS = 'https://example.com/books/{id}';

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`Mercure across three hubs on ${name}`, { skip: check.skipReason() }, () => {
    const namespace = freshNamespace('merc');
    const hubs: RunningHub[] = [];
    const streams: OpenStream[] = [];
    after(async () => {
      for (const stream of streams) stream.close();
      await Promise.all(hubs.map((hub) => hub.close()));
      await removeNamespace(kind, check.url, namespace);
    });

    test('updates published to one hub reach the Mercure subscribers of all three; resume works on any of them', async () => {
      hubs.push(...(await Promise.all([0, 1, 2].map(() => startTestHub({ engine: check.url, namespace, mercure: true, mercureSubscriptions: true, jwtSecret: SECRET })))));
      const publisher = { Authorization: `Bearer ${await mercureToken(SECRET, { publish: ['*'] })}` };
      const reader = { Authorization: `Bearer ${await mercureToken(SECRET, { subscribe: [BOOKS] })}` };
      const publicOnly = { Authorization: `Bearer ${await mercureToken(SECRET, {})}` };
      const readers = await Promise.all(hubs.map((hub) => openStream(subscribeUrl(hub.url, [BOOKS]), reader)));
      const outsiders = await Promise.all(hubs.map((hub) => openStream(subscribeUrl(hub.url, [BOOKS]), publicOnly)));
      streams.push(...readers, ...outsiders);
      const ids: string[] = [];
      for (const [i, fields] of [
        [['topic', 'https://example.com/books/1'], ['data', 'private'], ['private', 'on']],
        [['topic', 'https://example.com/books/2'], ['data', 'public']],
        [['topic', 'https://example.com/users/1'], ['data', 'not a book']],
      ].entries()) {
        const reply = await publishUpdate(hubs[i]!.url, fields as Array<['topic' | 'data' | 'private', string]>, publisher);
        assert.equal(reply.status, 200, reply.text);
        ids.push(reply.text);
      }
      for (const stream of readers) {
        const events = await stream.waitForEvents(2, 10_000);
        assert.deepEqual(events.map((event) => [event.lastEventId, event.data]), [[ids[0], 'private'], [ids[1], 'public']]);
      }
      for (const stream of outsiders) {
        const [event] = await stream.waitForEvents(1, 10_000);
        assert.deepEqual([event!.lastEventId, event!.data], [ids[1], 'public']);
      }
      // The subscriptions API is the cluster's (presence), whichever hub is asked.
      const admin = { Authorization: `Bearer ${await mercureToken(SECRET, { subscribe: ['/.well-known/mercure/subscriptions{/topic}{/subscriber}'] })}` };
      const listed = await untilValue(
        async () => (await httpRequest(`${hubs[1]!.url}/.well-known/mercure/subscriptions`, { headers: admin })).json(),
        (body) => body.subscriptions?.length === 6,
        'the six subscriptions of the three hubs',
      );
      assert.equal(new Set(listed.subscriptions.map((s: { subscriber: string }) => s.subscriber)).size, 6);
      // A subscriber that saw the first update comes back to another hub: it gets the rest, once.
      const third = await publishUpdate(hubs[0]!.url, [['topic', 'https://example.com/books/3'], ['data', 'later']], publisher);
      const resumed = await openStream(subscribeUrl(hubs[2]!.url, [BOOKS]), { ...reader, 'Last-Event-ID': ids[0]! });
      streams.push(resumed);
      const events = await resumed.waitForEvents(2, 10_000);
      assert.deepEqual(events.map((event) => event.data), ['public', 'later']);
      assert.equal(events[1]!.lastEventId, third.text);
    });
  });
}
