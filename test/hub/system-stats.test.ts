/**
 * The system topic $ssehub/stats over real HTTP: each instance publishes a `stats` event every
 * --stats-interval through the engine, with the exact shape dashboards read; subscribing is
 * allowed (with a grant that names it, when tokens are on), publishing never; the events are not
 * counted as traffic; an engine outage is logged once and never crashes the hub.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { mintToken } from '../../src/auth/tokens.js';
import { defaultConfig } from '../../src/config.js';
import type { ParsedEvent } from '../../src/protocol/index.js';
import { startHub, type RunningHub } from '../../src/start.js';
import { startTestHub, userEventsRetained } from '../support/hub.js';
import { parseSubscribeSelector } from '../../src/topics/index.js';
import { httpRequest, openStream, publish, type OpenStream } from '../support/http.js';
import { redisService } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { describeUnlessSkipped } from '../support/skip.js';

const INTERVAL = 100;
/**
 * How long to wait for an event due within a few intervals before failing: generous, because a
 * loaded machine runs timers late; a passing run never waits this long.
 */
const WAIT = 10_000;
const SECRET = 'system-stats-secret-system-stats-secret';

interface Stats {
  instance: string;
  time: number;
  uptimeSeconds: number;
  engine: string;
  connections: number;
  eventsPublished: number;
  eventsDelivered: number;
  slowConsumersDropped: number;
  topics: { total: number; top: Array<{ topic: string; subscribers: number }> };
}

const statsOf = (stream: OpenStream): Stats[] => stream.events.filter((e) => e.type === 'stats').map((e) => JSON.parse(e.data) as Stats);
const last = (stream: OpenStream): Stats | undefined => statsOf(stream).at(-1);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until the predicate holds (for what no stream event signals, like a log line). */
async function until(predicate: () => boolean, what: string, timeoutMs = WAIT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits for a stats event (received after this call) that satisfies the predicate. */
async function nextStats(stream: OpenStream, predicate: (s: Stats) => boolean = () => true, timeoutMs = WAIT): Promise<Stats> {
  const seen = stream.events.length;
  let found: Stats | undefined;
  await stream.waitUntil(
    () => {
      found = stream.events.slice(seen).filter((e) => e.type === 'stats').map((e) => JSON.parse(e.data) as Stats).filter(predicate).at(-1);
      return found !== undefined;
    },
    timeoutMs,
    'a matching stats event',
  );
  return found!;
}

describe('the $ssehub/stats system topic', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ statsIntervalMs: INTERVAL });
  });
  after(() => hub.close());

  test('a stream on /topics/$ssehub/stats gets "stats" events, one per interval, with the exact shape', async () => {
    const started = Date.now();
    const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const [event] = await stream.waitForEvents(1, WAIT);
    assert.equal(event!.type, 'stats');
    assert.ok(event!.lastEventId !== '', 'stats events have ids like any event');
    const stats = JSON.parse(event!.data) as Stats;
    assert.deepEqual(Object.keys(stats), ['instance', 'time', 'uptimeSeconds', 'engine', 'connections', 'eventsPublished', 'eventsDelivered', 'slowConsumersDropped', 'deliveryLatencyMs', 'topics']);
    assert.match(stats.instance, /^[0-9a-f]{8}$/);
    assert.ok(stats.time >= started - 10 && stats.time <= Date.now(), `time ${stats.time}`);
    assert.ok(Number.isInteger(stats.uptimeSeconds) && stats.uptimeSeconds >= 0);
    assert.equal(stats.engine, 'memory');
    assert.ok(stats.connections >= 1, 'the stats stream itself is a connection');
    for (const counter of ['eventsPublished', 'eventsDelivered', 'slowConsumersDropped'] as const) assert.ok(Number.isInteger(stats[counter]), counter);
    assert.deepEqual(Object.keys(stats.topics), ['total', 'top']);
    assert.deepEqual(stats.topics.top.find((t) => t.topic === '$ssehub/stats'), { topic: '$ssehub/stats', subscribers: 1 });

    // One event per interval from this instance, always the same instance id.
    await stream.waitForEvents(3, WAIT);
    assert.deepEqual(new Set(statsOf(stream).map((s) => s.instance)), new Set([stats.instance]));
    stream.close();
  });

  test('GET /events?topic=$ssehub/stats and a $ssehub/* pattern get them too; ** does not', async () => {
    const events = await openStream(`${hub.url}/events?topic=$ssehub/stats`);
    const pattern = await openStream(`${hub.url}/events?topic=$ssehub/*`);
    const everything = await openStream(`${hub.url}/topics/**`);
    await events.waitForEvents(1, WAIT);
    await pattern.waitForEvents(1, WAIT);
    // Two more stats events published since all three streams were open: none reached the third.
    await pattern.waitForEvents(3, WAIT);
    assert.deepEqual(everything.events, [], 'patterns starting with a wildcard never reach $ topics');
    for (const stream of [events, pattern, everything]) stream.close();
  });

  test('connections and the top topics reflect the subscribers of this instance', async () => {
    const stats = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const others = await Promise.all([
      ...[1, 2, 3].map(() => openStream(`${hub.url}/topics/a/b`)),
      openStream(`${hub.url}/topics/m/*`),
      openStream(`${hub.url}/topics/z`),
    ]);
    const seen = await nextStats(stats, (s) => s.connections === 6);
    assert.deepEqual(seen.topics, {
      total: 4,
      // most subscribers first, then by name ("$" sorts before letters)
      top: [
        { topic: 'a/b', subscribers: 3 },
        { topic: '$ssehub/stats', subscribers: 1 },
        { topic: 'm/*', subscribers: 1 },
        { topic: 'z', subscribers: 1 },
      ],
    });
    for (const stream of others) stream.close();
    const after = await nextStats(stats, (s) => s.connections === 1);
    assert.deepEqual(after.topics, { total: 1, top: [{ topic: '$ssehub/stats', subscribers: 1 }] });
    stats.close();
  });

  test('at most 20 topics are listed, while the total counts them all', async () => {
    const stats = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const streams = await Promise.all(Array.from({ length: 30 }, (_, i) => openStream(`${hub.url}/topics/many/${String(i).padStart(2, '0')}`)));
    const extra = await openStream(`${hub.url}/topics/many/29`);
    const seen = await nextStats(stats, (s) => s.connections === 32);
    assert.equal(seen.topics.total, 31);
    assert.equal(seen.topics.top.length, 20);
    assert.deepEqual(seen.topics.top[0], { topic: 'many/29', subscribers: 2 });
    assert.deepEqual(seen.topics.top.slice(1, 3), [{ topic: '$ssehub/stats', subscribers: 1 }, { topic: 'many/00', subscribers: 1 }]);
    assert.equal(seen.topics.top[19]!.topic, 'many/17');
    for (const stream of [...streams, extra, stats]) stream.close();
  });

  test('stats events are not counted as traffic: eventsPublished and eventsDelivered count user events only', async () => {
    await sleep(100); // the streams of the tests above are gone
    const stats = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const first = await nextStats(stats);
    const reader = await openStream(`${hub.url}/topics/traffic`);
    await publish(hub.url, 'traffic', 'one');
    await publish(hub.url, 'traffic', 'two');
    await reader.waitForEvents(2);
    const counted = await nextStats(stats, (s) => s.eventsPublished === first.eventsPublished + 2);
    // Several more stats events are published and delivered meanwhile: the counters do not move.
    await stats.waitForEvents(statsOf(stats).length + 3, WAIT);
    const later = last(stats)!;
    assert.equal(later.eventsPublished, first.eventsPublished + 2);
    assert.equal(later.eventsDelivered, counted.eventsDelivered);
    assert.equal(later.eventsDelivered, first.eventsDelivered + 2);
    const http = (await httpRequest(`${hub.url}/stats`)).json();
    assert.equal(http.eventsPublished, later.eventsPublished);
    assert.equal(http.eventsDelivered, later.eventsDelivered);
    for (const stream of [stats, reader]) stream.close();
  });

  test('a stream resuming on $ssehub/stats gets the missed stats events from history', async () => {
    const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const witness = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const [first] = await stream.waitForEvents(1, WAIT);
    stream.close();
    // A second stream sees two stats events published while the first is away.
    const after = (): ParsedEvent[] => witness.events.slice(witness.events.findIndex((e) => e.lastEventId === first!.lastEventId) + 1);
    await witness.waitUntil(() => witness.events.some((e) => e.lastEventId === first!.lastEventId) && after().length >= 2, WAIT, 'two more stats events');
    const missed = after().slice(0, 2);
    const resumed = await openStream(`${hub.url}/topics/$ssehub/stats`, { 'Last-Event-ID': first!.lastEventId });
    await resumed.waitForEvents(2, WAIT);
    assert.deepEqual(resumed.events.slice(0, 2).map((e: ParsedEvent) => e.lastEventId), missed.map((e) => e.lastEventId));
    assert.ok(resumed.events.every((e: ParsedEvent) => e.type === 'stats'));
    for (const open of [witness, resumed]) open.close();
  });

  test('publishing to $ssehub/stats over HTTP is still refused', async () => {
    const one = await publish(hub.url, '$ssehub/stats', '{"instance":"forged"}', { event: 'stats', type: 'application/json' });
    assert.equal(one.status, 400);
    assert.equal(one.json().error.code, 'invalid_topic');
    const batch = await httpRequest(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ topic: '$ssehub/stats', event: 'stats', data: {} }]),
    });
    assert.equal(batch.status, 400);
    assert.equal(batch.json().error.code, 'invalid_topic');
  });
});

describe('$ssehub/stats when tokens are required', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ statsIntervalMs: INTERVAL, jwtSecret: SECRET });
  });
  after(() => hub.close());

  const token = (subscribe: string[], publishGrants: string[] = []) => mintToken({ secret: SECRET, subject: 'stats-reader', lifetimeSeconds: 600, subscribe, publish: publishGrants });
  const refused = async (url: string, headers: Record<string, string> = {}) => {
    const reply = await openStream(url, headers).then(
      (stream) => (stream.close(), { status: 200, code: '' }),
      (error: { status: number; body: string }) => ({ status: error.status, code: JSON.parse(error.body).error.code as string }),
    );
    return reply;
  };

  test('a token granting ** may not subscribe to $ssehub/stats; no token at all gets 401', async () => {
    const everything = await token(['**']);
    assert.deepEqual(await refused(`${hub.url}/topics/$ssehub/stats`, { Authorization: `Bearer ${everything}` }), { status: 403, code: 'forbidden' });
    assert.deepEqual(await refused(`${hub.url}/events?topic=$ssehub/stats`, { Authorization: `Bearer ${everything}` }), { status: 403, code: 'forbidden' });
    assert.deepEqual(await refused(`${hub.url}/topics/$ssehub/stats`), { status: 401, code: 'token_required' });
  });

  test('a token granting $ssehub/stats (or $ssehub/**) may, and receives the events', async () => {
    for (const grant of ['$ssehub/stats', '$ssehub/**']) {
      const stream = await openStream(`${hub.url}/topics/$ssehub/stats`, { Authorization: `Bearer ${await token([grant])}` });
      const [event] = await stream.waitForEvents(1, WAIT);
      assert.equal(event!.type, 'stats', grant);
      stream.close();
    }
    // An exact grant does not cover a pattern.
    const exact = await token(['$ssehub/stats']);
    assert.deepEqual(await refused(`${hub.url}/topics/$ssehub/*`, { Authorization: `Bearer ${exact}` }), { status: 403, code: 'forbidden' });
  });

  test('a ticket can be issued for $ssehub/stats to a token that grants it', async () => {
    const reply = await httpRequest(`${hub.url}/tickets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await token(['$ssehub/stats'])}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ topics: ['$ssehub/stats'] }),
    });
    assert.equal(reply.status, 201, reply.text);
    const stream = await openStream(`${hub.url}/events?topic=$ssehub/stats&ticket=${reply.json().ticket}`);
    await stream.waitForEvents(1, WAIT);
    stream.close();
  });

  test('no grant lets anyone publish there: a token with publish ** gets 400, one naming $ssehub is not accepted', async () => {
    const publisher = await token([], ['**']);
    const reply = await httpRequest(`${hub.url}/topics/$ssehub/stats`, { method: 'POST', headers: { Authorization: `Bearer ${publisher}`, 'Content-Type': 'text/plain' }, body: 'x' });
    assert.equal(reply.status, 400);
    assert.equal(reply.json().error.code, 'invalid_topic');
    await assert.rejects(token([], ['$ssehub/stats']), { code: 'invalid_topic' });
  });
});

describe('$ssehub/stats made public with --public-topics', () => {
  test('anyone may subscribe to it without a token, while other topics still need one', async () => {
    const hub = await startTestHub({ statsIntervalMs: INTERVAL, jwtSecret: SECRET, publicTopics: ['$ssehub/stats'] });
    try {
      const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
      await stream.waitForEvents(1, WAIT);
      stream.close();
      await assert.rejects(openStream(`${hub.url}/topics/orders`), { status: 401 });
    } finally {
      await hub.close();
    }
  });
});

describe('when no stats are published', () => {
  for (const [name, overrides] of [
    ['--stats-interval 0', { statsIntervalMs: 0 }],
    ['--dashboard false', { statsIntervalMs: INTERVAL, dashboard: false }],
  ] as const) {
    test(`${name}: a stats stream stays empty and nothing is stored`, async () => {
      const hub = await startTestHub(overrides);
      try {
        const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
        await sleep(INTERVAL * 5);
        assert.deepEqual(stream.events, []);
        assert.equal(await userEventsRetained(hub.hub), 0);
        assert.equal((await hub.hub.engine.history([parseSubscribeSelector('$ssehub/stats')], 'none')).events.length, 0, 'no stats event stored');
        stream.close();
      } finally {
        await hub.close();
      }
    });
  }

  test('after close, the publisher has stopped (nothing more is stored)', async () => {
    const hub = await startTestHub({ statsIntervalMs: 20 });
    const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
    await stream.waitForEvents(1, WAIT);
    stream.close();
    assert.ok(hub.hub.stats().retainedEvents > 0);
    await hub.close();
    const retained = hub.hub.stats().retainedEvents;
    await sleep(150);
    assert.equal(hub.hub.stats().retainedEvents, retained);
  });
});

const redis = await redisService();

describeUnlessSkipped('$ssehub/stats on a shared engine (Redis)', { skip: redis.skipReason() }, () => {
  test('a dashboard on one instance sees the stats of every instance', async () => {
    const namespace = `stats_${randomBytes(4).toString('hex')}`;
    const hubs = await Promise.all([0, 1].map(() => startTestHub({ engine: redis.url, namespace, statsIntervalMs: INTERVAL })));
    try {
      const stream = await openStream(`${hubs[0]!.url}/topics/$ssehub/stats`);
      await stream.waitUntil(() => new Set(statsOf(stream).map((s) => s.instance)).size === 2, 5000, 'stats from both instances');
      assert.ok(statsOf(stream).every((s) => s.engine === 'redis'));
      stream.close();
    } finally {
      await Promise.all(hubs.map((hub) => hub.close()));
    }
  });

  test('an engine outage is logged once, never crashes the hub, and publishing resumes after it', async () => {
    const namespace = `stats_${randomBytes(4).toString('hex')}`;
    const target = new URL(redis.url);
    let proxy: TcpProxy | undefined = await startTcpProxy(`http://${target.hostname}:${target.port || 6379}`);
    const proxyPort = new URL(proxy.url).port;
    let logs = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logs += chunk.toString()), done()) });
    const hub = await startHub(
      defaultConfig({ port: 0, engine: `redis://127.0.0.1:${proxyPort}`, namespace, statsIntervalMs: 50, shutdownTimeoutMs: 2000 }),
      pino({ level: 'info' }, sink),
    );
    try {
      const stream = await openStream(`${hub.url}/topics/$ssehub/stats`);
      await stream.waitForEvents(1, WAIT);
      // The engine's server becomes unreachable: connections cut, the port refuses.
      await proxy.close();
      proxy = undefined;
      await until(() => logs.includes('could not publish system stats'), 'the failure to be logged');
      await sleep(1000); // some twenty intervals more, each failing again
      const failures = logs.split('\n').filter((line) => line.includes('could not publish system stats'));
      assert.equal(failures.length, 1, `logged once, not every interval:\n${failures.join('\n')}`);
      assert.equal(JSON.parse(failures[0]!).level, 40, 'at warn level');
      assert.equal((await httpRequest(`${hub.url}/livez`)).status, 200, 'the hub still serves');
      assert.equal((await httpRequest(`${hub.url}/healthz`)).status, 503, 'and says its engine is unreachable');
      // Back: publishing resumes, and that is logged once too.
      proxy = await startTcpProxy(`http://${target.hostname}:${target.port || 6379}`, Number(proxyPort));
      await stream.waitUntil(() => logs.includes('publishing system stats again'), 10_000, 'the recovery to be logged');
      const count = stream.events.length;
      await stream.waitForEvents(count + 2, 10_000);
      stream.close();
    } finally {
      await hub.close();
      await proxy?.close();
    }
  });
});
