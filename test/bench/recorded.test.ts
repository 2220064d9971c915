/**
 * RESULTS.md's tables read back into rows (bench/recorded.ts): the figures the charts of a recorded
 * run are drawn from, so each must come out of its own column and section.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordedSection } from '../../bench/recorded.js';
import { wsTable, type WsRow } from '../../bench/ws/run.js';

const fanOut: WsRow = { server: 'socket.io', scenario: 'e', subscribers: 2000, published: 174, expected: 348_000, received: 348_000, p50Ms: 27.4, p99Ms: 70.88, cpuMicrosPerDelivery: 18.8 };
const roundTrip: WsRow = { server: 'ssehub', scenario: 'f', subscribers: 100, published: 2000, expected: 200_000, received: 199_998, p50Ms: 2.26, p99Ms: 6.72, cpuMicrosPerDelivery: 16.5 };

const RESULTS = `# Results

## Later, 2026-12-03: another run

### (c) notifications: 10,000 subscribers, each on its own topic, 16 publishers

| server | subscribers | publishes/s | deliveries/s | delivered | p50 ms | p99 ms | server CPU µs/delivery (kernel) | server CPU | RSS KiB/subscriber |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ssehub | 10,000 | 1 | 1 | 100.00% | 1.00 | 1.00 | 1.00 (1.00) | 1% | 1.00 |

## Sixth round, 2026-12-02: the one to draw

A command:

| scenario | ssehub | nchan |
|---|---:|---:|
| (c) publishes per second | 8,073 | 8,001 |

### (c) notifications: 10,000 subscribers, each on its own topic, 16 publishers

10000 subscribers, one topic each; 16 publishers.

| server | subscribers | publishes/s | deliveries/s | delivered | p50 ms | p99 ms | server CPU µs/delivery (kernel) | server CPU | RSS KiB/subscriber |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ssehub | 10,000 | 20,531 | 20,524 | 100.00% | 0.66 | 3.10 | 46.37 (25.57) | 93% | 3.91 |
| nchan | 10,000 | 23,709 | 23,704 | 99.50% | 0.60 | 3.86 | 33.57 (25.05) | 80% | 11.29 |

ssehub: publishes per second 0.87× nchan's.

### (d) idle: 10,000 subscribers, memory per subscriber

10000 subscribers over 100 topics, nothing published.

| server | subscribers | failed | RSS MiB | RSS KiB/subscriber |
|---|---:|---:|---:|---:|
| ssehub | 10,000 | 0 | 109.3 | 4.85 |
| ssehub (19000) | 19,000 | 2 | 117.9 | 3.01 |
| nchan | 10,000 | 0 | 124.8 | – |

### --workers 2

| server | subscribers | publishes/s |
|---|---:|---:|
| ssehub --workers 2 | 10,000 | 5 |

${wsTable([fanOut, roundTrip])}

## Fifth round, 2026-11-21

### (a) broadcast: 2,000 subscribers on one topic, 50 events/s

| server | subscribers | publishes/s | deliveries/s | delivered | p50 ms | p99 ms | server CPU µs/delivery (kernel) | server CPU | RSS KiB/subscriber |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ssehub | 2,000 | 50 | 99,165 | 100.00% | 21.18 | 57.00 | 9.36 (6.88) | 93% | 5.85 |
`;

describe('recorded results', () => {
  const section = recordedSection(RESULTS, 'Sixth round');

  it('reads the named section only, with the date of its heading', () => {
    assert.equal(section.heading, 'Sixth round, 2026-12-02: the one to draw');
    assert.equal(section.date, '2026-12-02');
    assert.deepEqual(
      section.scenarios.map((scenario) => [scenario.key, scenario.title, scenario.description]),
      [
        ['c', 'notifications: 10,000 subscribers, each on its own topic, 16 publishers', '10000 subscribers, one topic each; 16 publishers.'],
        ['d', 'idle: 10,000 subscribers, memory per subscriber', '10000 subscribers over 100 topics, nothing published.'],
      ],
    );
  });

  it('takes each figure from its own column', () => {
    const [hub, nchan] = section.scenarios[0]!.rows;
    assert.deepEqual(
      [hub!.server, hub!.subscribers, hub!.publishesPerSecond, hub!.deliveriesPerSecond, hub!.p50Ms, hub!.p99Ms, hub!.cpuMicrosPerDelivery, hub!.systemMicrosPerDelivery, hub!.serverCpuShare, hub!.rssBytesPerSubscriber],
      ['ssehub', 10_000, 20_531, 20_524, 0.66, 3.1, 46.37, 25.57, 0.93, 3.91 * 1024],
    );
    assert.equal(nchan!.deliveredShare, 0.995);
    assert.ok(Number.isNaN(hub!.received), 'a figure the table does not have stays NaN');
  });

  it('reads the idle table: rows of another count, failed connections, a missing figure as NaN', () => {
    const rows = section.scenarios[1]!.rows;
    assert.deepEqual(rows.map((row) => [row.server, row.subscribers, row.failedConnections, row.expected]), [
      ['ssehub', 10_000, 0, 0],
      ['ssehub (19000)', 19_000, 2, 0],
      ['nchan', 10_000, 0, 0],
    ]);
    assert.equal(rows[0]!.rssBytes, 109.3 * 2 ** 20);
    assert.ok(Number.isNaN(rows[2]!.rssBytesPerSubscriber));
  });

  it('reads the WebSocket table back into the rows it was printed from (to its printed precision)', () => {
    assert.deepEqual(section.websocket, [fanOut, roundTrip]);
  });

  it('names a missing section, and a section without a date', () => {
    assert.throws(() => recordedSection(RESULTS, 'Seventh round'), /no section "## Seventh round…"/);
    assert.throws(() => recordedSection('## Undated\n', 'Undated'), /names no date/);
  });
});
