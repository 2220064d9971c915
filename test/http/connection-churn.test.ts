/**
 * Disconnects clean up fully: a real hub process goes through 10,000 connect/disconnect cycles on
 * a mix of topics and patterns (some resuming with Last-Event-ID, while events are published), and
 * ends with no subscriber left, an empty topic index and its memory back near where it started.
 * RSS moves by tens of MB with V8's collection cycle, so a second test runs the same churn on a hub
 * in this process and weighs the live heap itself, after full collections.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { spawnHub, startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';
import { stats, waitForStats, type Stats } from '../support/stats.js';
import { mulberry32 } from '../support/prng.js';

const MB = 1e6;


const GROUPS = 20;
const PER_GROUP = 25;
/** 500 topics: room/{group}/{n}. */
const TOPICS = Array.from({ length: GROUPS * PER_GROUP }, (_, i) => `room/${Math.floor(i / PER_GROUP)}/${i % PER_GROUP}`);

/** One cycle's request: a topic, a pattern, or several of both, sometimes resuming from an old id. */
function randomRequest(random: () => number, resumeFrom: string): string {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const group = Math.floor(random() * GROUPS);
  const roll = random();
  let path: string;
  if (roll < 0.4) path = `/topics/${pick(TOPICS)}`;
  else if (roll < 0.55) path = `/topics/room/${group}/*`;
  else {
    const selectors = [`room/${group}/*`, pick(TOPICS), pick(TOPICS)];
    if (random() < 0.3) selectors.push('room/**');
    if (random() < 0.3) selectors.push(`*/${group}/${Math.floor(random() * PER_GROUP)}`);
    path = `/events?${selectors.map((s) => `topic=${encodeURIComponent(s)}`).join('&')}`;
  }
  const resume = random() < 0.1 ? `Last-Event-ID: ${resumeFrom}\r\n` : '';
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n${resume}\r\n`;
}

/**
 * One cycle: connect, ask for a stream, wait for its first bytes (": ok", written once the hub has
 * registered the subscriber), then cut the connection.
 */
function cycle(url: string, requestText: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    const timer = setTimeout(
      () => finish(new Error(`no stream after 10 s for ${requestText.split('\r\n')[0]}; got ${JSON.stringify(received.slice(0, 200))}`)),
      10_000,
    );
    socket.once('connect', () => socket.write(requestText));
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('close', onClose);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n') && !received.startsWith('HTTP/1.1 200 ')) {
        return finish(new Error(`${requestText.split('\r\n')[0]} answered ${JSON.stringify(received.slice(0, 200))}`));
      }
      if (received.includes(': ok')) finish();
    });
    const onClose = (): void => finish(new Error(`the connection closed before the stream started: ${JSON.stringify(received.slice(0, 200))}`));
    socket.once('close', onClose);
    socket.once('error', (error) => finish(error));
  });
}

const HISTORY = 4;
const CONCURRENCY = 50;

/**
 * Fills every topic's history, so that it is at its size for the whole run; returns the first id,
 * where the resuming cycles start from (they replay what is retained).
 */
async function fillHistory(url: string): Promise<string> {
  let firstId = '';
  for (let from = 0; from < TOPICS.length; from += 250) {
    const events = TOPICS.slice(from, from + 250).flatMap((topic) => Array.from({ length: HISTORY }, (_, n) => ({ topic, data: `${topic} #${n}` })));
    const reply = await httpRequest(`${url}/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events) });
    assert.equal(reply.status, 201, reply.text);
    firstId ||= (reply.json() as { ids: string[] }).ids[0]!;
  }
  return firstId;
}

/** Events keep coming while streams open and close: some arrive for a stream being torn down. */
function keepPublishing(url: string): { failure(): unknown; stop(): Promise<number> } {
  const random = mulberry32(0xfeed);
  let stopped = false;
  let error: unknown;
  let published = 0;
  const running = (async () => {
    try {
      while (!stopped) {
        const events = Array.from({ length: 10 }, () => ({ topic: TOPICS[Math.floor(random() * TOPICS.length)]!, data: 'tick' }));
        const reply = await httpRequest(`${url}/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events) });
        assert.equal(reply.status, 201, reply.text);
        published += events.length;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } catch (failure) {
      error = failure;
    }
  })();
  return {
    failure: () => error,
    stop: async () => {
      stopped = true;
      await running;
      if (error) throw error;
      return published;
    },
  };
}

/** `count` cycles, CONCURRENCY at a time; stops at the publisher's first failure. */
async function churn(url: string, count: number, random: () => number, firstId: string, publisher: { failure(): unknown }): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      if (publisher.failure()) throw publisher.failure();
      await cycle(url, randomRequest(random, firstId));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

describe('connection churn', () => {
  it('leaves no subscriber behind and memory near its baseline after 10,000 connect/disconnect cycles', async (t) => {
    const CYCLES = 10_000;
    // The warm-up is long enough for V8 to have grown its heap to what this load keeps: measured
    // with --trace-gc, the committed heap goes from about 28 MB to 55 MB over the first few
    // thousand connections (and creeps on to 75 MB later) while the live heap stays at 8-11 MB;
    // RSS then stays at 145-160 MB over 40,000 more cycles. A baseline taken after a couple of
    // hundred connections would charge that one-off growth (about 50 MB of RSS) to the test.
    const WARMUP_CYCLES = 4_000;
    const SAMPLE_EVERY = 1_000;
    // Every client comes from 127.0.0.1: the per-IP stream limit and the publish rate limit are off,
    // as they are not what this test is about.
    const hub = await spawnHub(['--max-streams-per-ip', '0', '--publish-rate', '0', '--history-max-events', String(HISTORY)]);
    const random = mulberry32(0x5eed);
    let publisher: ReturnType<typeof keepPublishing> | undefined;
    try {
      const rssIdle = hub.rssBytes();
      const firstId = await fillHistory(hub.url);
      publisher = keepPublishing(hub.url);
      let done = 0;
      const runCycles = async (count: number): Promise<void> => {
        await churn(hub.url, count, random, firstId, publisher!);
        done += count;
      };
      /** Waits until the hub has seen every close, then reads its RSS. */
      const settle = async (what: string): Promise<{ rss: number; stats: Stats }> => {
        const settled = await waitForStats(hub, (s) => s.connections === 0, `no connection left ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { rss: hub.rssBytes(), stats: settled };
      };

      const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
      const median = (values: number[]): number => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

      await runCycles(WARMUP_CYCLES);
      const baseline = await settle('after the warm-up');
      // The RSS at rest after every 1,000 cycles; single samples vary by about 5 MB with where V8
      // is in its garbage collection cycle, so the checks below compare medians of three.
      const samples: number[] = [];
      let last = baseline;
      let published = 0;
      for (let run = 0; run < CYCLES; run += SAMPLE_EVERY) {
        if (run + SAMPLE_EVERY >= CYCLES) {
          await runCycles(CYCLES - run);
          published = await publisher.stop();
        } else {
          await runCycles(SAMPLE_EVERY);
        }
        last = await settle(`after ${run + SAMPLE_EVERY} cycles`);
        samples.push(last.rss);
      }
      assert.equal(done, WARMUP_CYCLES + CYCLES);
      const early = median(samples.slice(0, 3)); // around 2,000 cycles
      const late = median(samples.slice(-3)); // around 9,000 cycles, the last 10,000th included
      const end = samples[samples.length - 1]!;
      t.diagnostic(
        `hub RSS: idle ${mb(rssIdle)}, baseline after a ${WARMUP_CYCLES}-cycle warm-up ${mb(baseline.rss)}, ` +
          `then every ${SAMPLE_EVERY} cycles ${samples.map(mb).join(', ')} (median around 2,000 ${mb(early)}, ` +
          `around 9,000 ${mb(late)}); ${published} events published during the cycles`,
      );

      // Every subscriber is gone, and with it every selector of the topic index.
      assert.equal(last.stats.connections, 0);
      assert.equal(last.stats.subscribedSelectors, 0);
      assert.equal(last.stats.slowConsumersDropped, 0);

      // Memory. The hub keeps nothing per closed connection, but its RSS does not come back to the
      // byte: V8 collects the old generation rarely under this load (once every few thousand
      // cycles) and keeps raising the heap it has committed for a while (measured with --trace-gc
      // over 40,000 cycles: the live heap stays at 10-11 MB after every full collection, the
      // committed heap creeps from about 65 to 78 MB, RSS levels off at 150-160 MB). 40 MB over the
      // baseline covers that, while a leak of 4 KB per connection would exceed it over 10,000 cycles
      // (an open connection costs the hub about 25 KB, so keeping any closed one's objects would
      // show at once). From around 2,000 to around 9,000 cycles RSS has moved by -6 to +27 MB on
      // the same build on the AMD machines: a growth check finer than the 40 MB bound would be
      // noise. The live heap is weighed in the next test instead.
      assert.ok(end < baseline.rss + 40 * MB, `RSS ${mb(end)} after ${CYCLES} cycles is not within 40 MB of the baseline ${mb(baseline.rss)}`);
      assert.ok(late < baseline.rss + 40 * MB, `RSS ${mb(late)} around 9,000 cycles is not within 40 MB of the baseline ${mb(baseline.rss)}`);
    } finally {
      await publisher?.stop().catch(() => {});
      await hub.stop();
    }
  });

  it('keeps nothing of a closed connection: the live heap after full collections stays where it was', async (t) => {
    // In this process, so that the heap can be weighed after forced full collections (RSS cannot
    // tell a leak of a few hundred bytes per connection from V8's own growth).
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const liveHeap = (): number => {
      for (let i = 0; i < 3; i++) collect();
      return process.memoryUsage().heapUsed;
    };
    const hub = await startTestHub({ maxStreamsPerIp: 0, publishRate: 0, historyMaxEvents: HISTORY });
    const random = mulberry32(0xc0ffee);
    const publisher = keepPublishing(hub.url);
    try {
      const firstId = await fillHistory(hub.url);
      const settle = async (what: string): Promise<number> => {
        const settled = await waitForStats(hub, (s) => s.connections === 0, `no connection left ${what}`);
        assert.equal(settled.subscribedSelectors, 0);
        return liveHeap();
      };
      await churn(hub.url, 2_000, random, firstId, publisher); // warm-up: JIT, pools, free lists
      const before = await settle('after the warm-up');
      const CYCLES = 6_000;
      await churn(hub.url, CYCLES, random, firstId, publisher);
      const after = await settle(`after ${CYCLES} more cycles`);
      const perCycle = (after - before) / CYCLES;
      t.diagnostic(`live heap after the warm-up ${(before / MB).toFixed(2)} MB, after ${CYCLES} more cycles ${(after / MB).toFixed(2)} MB (${perCycle.toFixed(0)} bytes per cycle)`);
      // A closed stream that kept its Subscriber, its sink or its socket would keep well over 500 bytes.
      assert.ok(perCycle < 100, `the live heap grew by ${perCycle.toFixed(0)} bytes per connection`);
    } finally {
      await publisher.stop().catch(() => {});
      await hub.close();
    }
  });
});
