/**
 * Publish-to-delivery latency: the quantile arithmetic against known observations, and a real hub
 * that observes it once per event handed to its streams (not once per stream), exposes it on
 * /metrics and summarises each interval in its $ssehub/stats events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { createDeliveryLatency, DELIVERY_LATENCY_METRIC, percentilesBetween, quantileBetween } from '../../src/hub/latency.js';
import type { InstanceStats } from '../../src/hub/system-stats.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';

/** A sample's value on /metrics, or undefined when the line is missing. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('latency quantiles', () => {
  test('interpolate inside the bucket that holds the rank, between two readings only', async () => {
    const histogram = createDeliveryLatency();
    const empty = histogram.bucketCounts();
    assert.equal(quantileBetween(empty, empty, 0.5), null, 'nothing observed: no percentile');
    for (let i = 0; i < 4; i++) histogram.observe(0.003); // in (0.0025, 0.005]
    const first = histogram.bucketCounts();
    // Rank 2 of 4, all in one bucket: halfway through it.
    assert.equal(quantileBetween(empty, first, 0.5), 0.00375);
    for (let i = 0; i < 99; i++) histogram.observe(0.0002); // in (0, 0.0005]
    histogram.observe(7); // in (5, 10]
    const second = histogram.bucketCounts();
    // Between the readings: 99 fast ones and one slow one. p50 is among the fast, p99 is the 99th fast one.
    assert.equal(quantileBetween(first, second, 0.5), 0.0005 * (50 / 99));
    assert.equal(quantileBetween(first, second, 0.99), 0.0005);
    assert.equal(quantileBetween(first, second, 1), 10);
    histogram.observe(60); // past the highest bound: the highest finite bound is all that is known
    const third = histogram.bucketCounts();
    assert.equal(quantileBetween(second, third, 0.5), 10);
    assert.deepEqual(percentilesBetween(empty, first), { p50: 3.75, p99: 4.98 });
  });
});

test('/metrics shows the histogram exactly as a prom-client Histogram of the same observations would', async () => {
  const ours = createDeliveryLatency();
  const theirs = new Histogram({ name: DELIVERY_LATENCY_METRIC, help: (await ours.get()).help, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [] });
  for (const seconds of [0, 0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.02, 0.5, 3, 10, 42]) {
    ours.observe(seconds);
    theirs.observe(seconds);
  }
  const registryOf = (metric: Histogram) => {
    const registry = new Registry();
    registry.registerMetric(metric);
    return registry;
  };
  const text = (metric: Histogram) => registryOf(metric).metrics();
  assert.equal(await text(ours), await text(theirs));
  // The same JSON too, but for the exemplars this histogram never has.
  const json = async (metric: Histogram) =>
    (await registryOf(metric).getMetricsAsJSON()).map(({ values, ...rest }) => ({ ...rest, values: values.map((each) => ({ metricName: (each as { metricName?: string }).metricName, labels: each.labels, value: each.value })) }));
  assert.deepEqual(await json(ours), await json(theirs));
  ours.reset();
  assert.match(await text(ours), /_count 0\n?$/m);
  assert.throws(() => ours.observe({ le: '1' }, 1), /takes no labels/);
});

describe('a hub measures delivery latency', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ statsIntervalMs: 100 });
  });
  after(() => hub.close());

  test('once per event handed to streams, whatever the fan-out; not for events nobody receives', async () => {
    const metricsBefore = (await httpRequest(`${hub.url}/metrics`)).text;
    const countBefore = sample(metricsBefore, 'ssehub_delivery_latency_seconds_count') ?? -1;
    assert.equal(countBefore, 0, 'the histogram is on /metrics from the start');
    await publish(hub.url, 'latency/none', 'nobody listens');
    const streams = await Promise.all([1, 2, 3].map(() => openStream(`${hub.url}/topics/latency/fan`)));
    for (let i = 0; i < 5; i++) await publish(hub.url, 'latency/fan', `event ${i}`);
    await Promise.all(streams.map((stream) => stream.waitForEvents(5, 10_000)));
    const text = (await httpRequest(`${hub.url}/metrics`)).text;
    assert.equal(sample(text, 'ssehub_delivery_latency_seconds_count'), 5, 'five events, three streams each: five observations');
    assert.equal(sample(text, 'ssehub_delivery_latency_seconds_bucket{le="+Inf"}'), 5);
    assert.ok(sample(text, 'ssehub_delivery_latency_seconds_sum')! >= 0);
    for (const stream of streams) stream.close();
  });

  test('each stats event carries the p50 and p99 of its own interval, null when nothing was delivered', async () => {
    const stats = await openStream(`${hub.url}/topics/$ssehub/stats`);
    const reports = (): InstanceStats[] => stats.events.filter((e) => e.type === 'stats').map((e) => JSON.parse(e.data) as InstanceStats);
    const listener = await openStream(`${hub.url}/topics/latency/timed`);
    await stats.waitUntil(() => reports().length >= 1, 10_000, 'a stats event');
    const seen = reports().length;
    await publish(hub.url, 'latency/timed', 'one');
    await listener.waitForEvents(1, 10_000);
    await stats.waitUntil(() => reports().slice(seen).some((r) => r.deliveryLatencyMs.p50 !== null), 10_000, 'a stats event with a latency');
    const timed = reports().slice(seen).find((r) => r.deliveryLatencyMs.p50 !== null)!;
    assert.ok(timed.deliveryLatencyMs.p50! >= 0 && timed.deliveryLatencyMs.p99! >= timed.deliveryLatencyMs.p50!, JSON.stringify(timed.deliveryLatencyMs));
    // The stats events themselves are not timed: the next interval, with no user event, has none.
    const count = reports().length;
    await stats.waitUntil(() => reports().length > count, 10_000, 'the next stats event');
    assert.deepEqual(reports().at(-1)!.deliveryLatencyMs, { p50: null, p99: null });
    listener.close();
    stats.close();
  });
});
