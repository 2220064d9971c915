/**
 * `ssehub serve --workers 2` as real processes: two workers on one port act as one hub. Streams
 * opened over separate connections land on both workers (told apart by the instance ids of their
 * $ssehub/stats reports), and every event reaches every stream exactly once, in order; resume,
 * idempotent retries and tickets work whichever worker a request reaches. Run with the memory
 * engine (held by the primary, reached over IPC) and with Redis (each worker connects itself).
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { ParsedEvent } from '../../src/protocol/index.js';
import { checkExactlyOnceInOrder } from '../support/cluster.js';
import { childPids, spawnHub, type HubProcess } from '../support/hub.js';
import { httpRequest, openStream, publish, type OpenStream } from '../support/http.js';
import { InstanceWatcher, subscribersOf } from '../support/workers.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { redisService, type ServiceCheck } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const redis = await redisService();
const SECRET = 'workers-secret-workers-secret-workers!';

const started: HubProcess[] = [];
const watchers: InstanceWatcher[] = [];
const streams: OpenStream[] = [];
const namespaces: string[] = [];
// Each test's hub, streams and watcher are stopped when it ends: idle hubs left to the end of the
// file kept their workers' stats timers running through every later test.
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await Promise.allSettled(watchers.splice(0).map((watcher) => watcher.stop()));
  await Promise.allSettled(started.splice(0).map((hub) => hub.stop()));
});
after(async () => {
  if (redis.reachable) for (const namespace of namespaces) await removeNamespace('redis', redis.url, namespace);
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

async function open(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const stream = await openStream(url, headers);
  streams.push(stream);
  return stream;
}

/** Publishes data in order, each on a new connection (so that they spread over the workers); returns the ids. */
async function publishAll(url: string, topic: string, data: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const item of data) {
    const reply = await publish(url, topic, item);
    assert.equal(reply.status, 201, reply.text);
    ids.push(reply.json().id as string);
  }
  return ids;
}

const engines: Array<{ name: string; service?: ServiceCheck; args: () => string[] }> = [
  { name: 'memory', args: () => [] },
  {
    name: 'redis',
    service: redis,
    args: () => {
      const namespace = freshNamespace('w');
      namespaces.push(namespace);
      return ['--engine', redis.url, '--namespace', namespace];
    },
  },
];

for (const engine of engines) {
  describeUnlessSkipped(`--workers 2 on the ${engine.name} engine`, { skip: engine.service?.skipReason() }, () => {
    async function startWorkers(extra: string[] = []): Promise<{ hub: HubProcess; watcher: InstanceWatcher }> {
      const hub = await spawnHub(['--workers', '2', '--stats-interval', '200ms', '--publish-rate', '0', '--max-streams-per-ip', '0', ...engine.args(), ...extra]);
      started.push(hub);
      const watcher = new InstanceWatcher(hub);
      watchers.push(watcher);
      return { hub, watcher };
    }

    test('two worker processes, each its own instance; streams land on both, and each event reaches every stream once, in order', async () => {
      const { hub, watcher } = await startWorkers();
      assert.match(hub.output(), /ssehub listening on http:\/\/127\.0\.0\.1:\d+ \(engine: [^)]*, 2 workers\)/);
      assert.equal(childPids(hub.pid).length, 2, 'the primary runs two workers');
      const fans: OpenStream[] = [];
      for (let i = 0; i < 8; i++) fans.push(await open(`${hub.url}/topics/fan`));
      const spread = await watcher.waitFor(
        (latest) => latest.size === 2 && [...latest.values()].every((report) => subscribersOf(report, 'fan') >= 1) && sum([...latest.values()].map((report) => subscribersOf(report, 'fan'))) === 8,
        'the 8 streams spread over two instances',
      );
      assert.equal(new Set(spread.keys()).size, 2, 'two distinct instance ids');

      const data = Array.from({ length: 20 }, (_, i) => `n:${i}`);
      const ids = await publishAll(hub.url, 'fan', data);
      await watcher.waitFor(
        (latest) => latest.size === 2 && [...latest.values()].every((report) => report.eventsPublished >= 1) && sum([...latest.values()].map((report) => report.eventsPublished)) === 20,
        'the publishes spread over both workers',
      );
      for (const [i, stream] of fans.entries()) await stream.waitForEvents(20, 10_000).catch((error) => assert.fail(`stream ${i}: ${error}`));
      await pause(300); // room for a duplicate to show up
      for (const [i, stream] of fans.entries()) {
        assert.deepEqual(stream.events.map((event) => event.data), data, `stream ${i}: every event once, in order`);
        assert.deepEqual(stream.events.map((event) => event.lastEventId), ids, `stream ${i}: with the ids the publishes were given`);
      }
    });

    test('a stream resuming with Last-Event-ID, on either worker, gets exactly the later events, then live ones', async () => {
      const { hub, watcher } = await startWorkers();
      const data = Array.from({ length: 10 }, (_, i) => `r:${i}`);
      const ids = await publishAll(hub.url, 'resume', data);
      const resumed: OpenStream[] = [];
      const opening = Date.now();
      for (let i = 0; i < 6; i++) resumed.push(await open(`${hub.url}/topics/resume`, { 'Last-Event-ID': ids[3]! }));
      // Reports taken since the streams opened: those of two instances, each with some of them.
      await watcher.waitFor(
        (latest) => latest.size === 2 && [...latest.values()].every((report) => subscribersOf(report, 'resume') >= 1),
        'resumed streams on both workers',
        { since: opening },
      );
      const [live] = await publishAll(hub.url, 'resume', ['r:10']);
      for (const [i, stream] of resumed.entries()) {
        await stream.waitForEvents(7, 10_000);
        await pause(i === 0 ? 300 : 0);
        assert.deepEqual(stream.events.map((event) => event.data), [...data.slice(4), 'r:10'], `stream ${i}: no reset, no gap, no duplicate`);
        assert.deepEqual(stream.events.map((event) => event.lastEventId), [...ids.slice(4), live], `stream ${i}`);
      }
    });

    test('streams that keep dropping and resuming while both workers take publishes miss nothing and get nothing twice', async () => {
      const { hub } = await startWorkers();
      const total = 200;
      let publishing = true;
      /** Reads the topic in short connections, each resuming from the last id received, until it has every event. */
      const reader = async (ready: () => void): Promise<ParsedEvent[]> => {
        const events: ParsedEvent[] = [];
        let last = '';
        const deadline = Date.now() + 60_000;
        while (publishing || events.length < total) {
          if (Date.now() > deadline) throw new Error(`reader stuck at ${events.length} events`);
          const stream = await openStream(`${hub.url}/topics/seam`, last === '' ? {} : { 'Last-Event-ID': last });
          if (last === '') {
            await stream.waitUntil(() => stream.positions.length > 0, 10_000, 'the first position');
            ready();
          }
          await pause(5 + Math.random() * 40);
          stream.close();
          events.push(...stream.events);
          last = stream.lastEventId() || last;
        }
        return events;
      };
      const readies: Array<Promise<void>> = [];
      const readers = Array.from({ length: 4 }, () => {
        let ready!: () => void;
        readies.push(new Promise<void>((resolve) => (ready = resolve)));
        return reader(ready);
      });
      await Promise.all(readies);
      await publishAll(hub.url, 'seam', Array.from({ length: total }, (_, i) => `p:${i}`));
      publishing = false;
      for (const [i, events] of (await Promise.all(readers)).entries()) {
        assert.equal(checkExactlyOnceInOrder(events, { p: total }), undefined, `reader ${i}`);
      }
    });

    test('a publish retried with one Idempotency-Key is stored once, whichever worker each attempt reaches', async () => {
      const { hub } = await startWorkers();
      const stream = await open(`${hub.url}/topics/idem`);
      await stream.waitUntil(() => stream.positions.length > 0, 10_000, 'the stream to be live');
      const post = () =>
        httpRequest(`${hub.url}/topics/idem`, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': 'same-key' }, body: 'once' });
      const first = await post();
      assert.equal(first.status, 201, first.text);
      for (let attempt = 1; attempt <= 5; attempt++) {
        const retry = await post();
        assert.equal(retry.status, 201, retry.text);
        // Answered from the idempotency record the first attempt left in the shared key-value store.
        assert.equal(retry.headers['idempotent-replayed'], 'true', `attempt ${attempt}`);
        assert.equal(retry.json().id, first.json().id, `attempt ${attempt}`);
      }
      await stream.waitForEvents(1);
      await pause(300); // room for a duplicate to show up
      assert.deepEqual(stream.events.map((event) => event.data), ['once']);
    });

    test('a stream ticket issued by one worker opens one stream, on whichever worker, once', async () => {
      const { hub } = await startWorkers(['--jwt-secret', SECRET]);
      const token = await mintToken({ secret: SECRET, subscribe: ['tickets/*'], lifetimeSeconds: 60, subject: 'u' });
      const issued = await httpRequest(`${hub.url}/tickets`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ topics: ['tickets/1'] }),
      });
      assert.equal(issued.status, 201, issued.text);
      const path = `${hub.url}/topics/tickets/1?ticket=${issued.json().ticket}`;
      const outcomes: Array<number | undefined> = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        try {
          const stream = await open(path);
          outcomes.push(stream.status);
          stream.close();
        } catch (error) {
          outcomes.push((error as { status?: number }).status);
        }
      }
      assert.deepEqual(outcomes, [200, 401, 401, 401]);
    });
  });
}
