import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { comparisonText, progressText, ratioOf } from '../../bench/compare.js';
import type { Row } from '../../bench/run.js';
import { SCENARIOS } from '../../bench/scenarios.js';
import { wsSummary, type WsRow } from '../../bench/ws/run.js';

function row(server: string, figures: Partial<Row>): Row {
  return { server, ...figures } as Row;
}

const scenario = (key: string) => SCENARIOS.find((candidate) => candidate.key === key)!;

describe('bench comparisons', () => {
  it('states memory as ssehub\'s figure over the other\'s: half as much reads 0.50×, lower is better', () => {
    // The figures of the report in issue 24: 14.35 KiB against 28.58 KiB was printed as "1.99×".
    const hub = row('ssehub', { rssBytesPerSubscriber: 14.35 * 1024 });
    const other = row('express-emitter', { rssBytesPerSubscriber: 28.58 * 1024 });
    assert.equal(ratioOf(scenario('d').ratio, hub, other).toFixed(2), '0.50');
    assert.equal(comparisonText(scenario('d').ratio, hub, other), "RSS per subscriber 14.35 / 28.58 KiB = 0.50× express-emitter's (lower is better)");
  });

  it('states CPU per delivery the same way round, lower is better', () => {
    const text = comparisonText(scenario('a').ratio, row('ssehub', { cpuMicrosPerDelivery: 3 }), row('nchan', { cpuMicrosPerDelivery: 2 }));
    assert.equal(text, "server CPU per delivery 3.00 / 2.00 µs = 1.50× nchan's (lower is better)");
  });

  it('states rates as ssehub\'s over the other\'s, higher is better', () => {
    const hub = row('ssehub', { publishesPerSecond: 26_113, deliveriesPerSecond: 500 });
    const other = row('nchan', { publishesPerSecond: 40_257, deliveriesPerSecond: 250 });
    assert.equal(comparisonText(scenario('c').ratio, hub, other), "publishes per second 26,113 / 40,257 /s = 0.65× nchan's (higher is better)");
    assert.equal(comparisonText(scenario('b').ratio, hub, other), "deliveries per second 500.00 / 250.00 /s = 2.00× nchan's (higher is better)");
  });

  it('shows a dash, not Infinity, when the other server measured nothing', () => {
    const text = comparisonText(scenario('c').ratio, row('ssehub', { publishesPerSecond: 10 }), row('nchan', { publishesPerSecond: 0 }));
    assert.match(text, /= –× nchan's/);
  });

  it('reports progress with an estimate of the time left from the pace so far', () => {
    assert.equal(progressText(0, 8, 0), '[1/8, 0 s in]');
    assert.equal(progressText(2, 8, 60_000), '[3/8, 1 min 0 s in, about 3 min 0 s left]');
    assert.equal(progressText(7, 8, 35_000), '[8/8, 35 s in, about 5 s left]');
  });

  it('states the WebSocket scenarios the same way: ssehub over each other server, lower is better', () => {
    const ws = (server: string, scenario: 'e' | 'f', p50Ms: number, p99Ms: number, cpuMicrosPerDelivery: number): WsRow =>
      ({ server, scenario, subscribers: 10, published: 10, expected: 100, received: 100, p50Ms, p99Ms, cpuMicrosPerDelivery });
    const lines = wsSummary([ws('ssehub', 'e', 1, 4, 3), ws('socket.io', 'e', 2, 8, 12), ws('ssehub', 'f', 0.5, 2, 1), ws('socket.io', 'f', 1, 4, 1)]);
    assert.deepEqual(lines, [
      "ssehub: (e) server CPU per delivery 3.00 / 12.00 µs = 0.25× socket.io's (lower is better); (e) p99 latency 4.00 / 8.00 ms = 0.50× socket.io's (lower is better).",
      "ssehub: (f) round trip p50 0.50 / 1.00 ms = 0.50× socket.io's (lower is better); (f) round trip p99 2.00 / 4.00 ms = 0.50× socket.io's (lower is better).",
    ]);
  });
});
