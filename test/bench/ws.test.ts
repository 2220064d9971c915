/**
 * The WebSocket benchmark (bench/ws/), small, against each of its servers on free ports: every
 * server really starts and delivers every event to every subscriber, and the round trip is timed.
 * No speed targets: those belong to the full benchmark on a quiet machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWebSocketBench, wsTable, type WsRow } from '../../bench/ws/run.js';

describe('the WebSocket benchmark, --quick', { timeout: 180_000 }, () => {
  it('fans out and round-trips on ssehub, a ws broadcast server and socket.io, every event delivered', async () => {
    const rows: WsRow[] = await runWebSocketBench({ quick: true, fromSource: true });
    assert.deepEqual(
      rows.map((row) => [row.server, row.scenario]),
      [
        ['ssehub', 'e'],
        ['ssehub', 'f'],
        ['ws-broadcast', 'e'],
        ['ws-broadcast', 'f'],
        ['socket.io', 'e'],
        ['socket.io', 'f'],
      ],
    );
    for (const row of rows) {
      assert.ok(row.published > 0, `${row.server} ${row.scenario}: nothing published`);
      assert.equal(row.received, row.expected, `${row.server} ${row.scenario}: every subscriber gets every event`);
      assert.ok(row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${row.server} ${row.scenario}: latencies were measured`);
      assert.ok(Number.isFinite(row.cpuMicrosPerDelivery), `${row.server} ${row.scenario}: the server's CPU was read`);
    }
    assert.match(wsTable(rows), /\| \(f\) round trip \| socket\.io \|/);
  });
});
