/**
 * The byte budget of history, end to end: a flood of large publishes on a hub started as a user
 * starts it (the CLI, default budget) cannot grow it past its heap. The hub runs with a small heap
 * (--max-old-space-size=160) so that the flood that would kill it takes seconds, not minutes: the
 * default budget is a quarter of whatever the heap limit is.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { spawnHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';

const HEAP_MIB = 160;
const EVENT_BYTES = 512 * 1024;
const EVENTS = 600; // 300 MiB in all: almost twice the heap
const TOPICS = 5;
const CONCURRENCY = 4;

describe('history byte budget', () => {
  test('a flood of large events leaves a default hub alive, its memory bounded and its readers receiving', { timeout: 120_000 }, async () => {
    // Only the rate limits are lifted: they would stop this flood before the budget is reached.
    const hub = await spawnHub(['--publish-rate', '0', '--publish-bytes-rate', '0'], { nodeArgs: [`--max-old-space-size=${HEAP_MIB}`] });
    try {
      const first = (await publish(hub.url, 'flood/0', 'first')).json().id as string;
      const reader = await openStream(`${hub.url}/topics/flood/0`);
      const body = 'x'.repeat(EVENT_BYTES);
      let next = 0;
      const refused: number[] = [];
      const publisher = async (): Promise<void> => {
        while (next < EVENTS) {
          const i = next++;
          const reply = await publish(hub.url, `flood/${i % TOPICS}`, body);
          if (reply.status !== 201) refused.push(reply.status);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, publisher));
      assert.deepEqual(refused, [], 'every publish was accepted');
      assert.equal(hub.child.exitCode, null, `the hub is alive:\n${hub.output()}`);

      // The reader got every event of its topic, live, in order.
      const events = await reader.waitForEvents(EVENTS / TOPICS, 30_000);
      assert.equal(events.length, EVENTS / TOPICS);
      assert.ok(events.every((event) => event.data.length === EVENT_BYTES));
      reader.close();

      const stats = (await httpRequest(`${hub.url}/stats`)).json();
      // A quarter of V8's heap limit: the old space it was given, plus at most 64 MiB of young space.
      const budget = ((HEAP_MIB + 64) * 1024 * 1024) / 4;
      assert.ok(stats.retainedBytes <= budget, `retained ${stats.retainedBytes} bytes against a budget of at most ${budget}`);
      assert.ok(stats.evictedForBudget > 0, 'the budget evicted events');
      assert.ok(stats.retainedEvents < EVENTS / 2, `kept ${stats.retainedEvents} of ${EVENTS}`);
      // Bounded near the heap it was given, where the flood alone is almost twice that.
      const rss = hub.rssBytes();
      assert.ok(rss < (HEAP_MIB + 160) * 1024 * 1024, `RSS ${Math.round(rss / 1048576)} MiB`);

      // A client resuming from before the evicted events is told, then gets what is left.
      const resumed = await openStream(`${hub.url}/topics/flood/0`, { 'Last-Event-ID': first });
      const [reset] = await resumed.waitForEvents(1);
      assert.equal(reset!.type, 'ssehub.reset');
      assert.equal(JSON.parse(reset!.data).reason, 'history-exceeded');
      resumed.close();
    } finally {
      await hub.stop();
    }
  });
});
