/**
 * `npm run bench -- --hubs 2` on a shared Redis, small: ssehub as two hub processes beside Nchan
 * keeping its messages in the same Redis (nchan-redis), also as two. Checks what the scaling figures
 * rest on: both hubs of a row really took subscribers, every event reached its subscriber exactly
 * once although most were published on the other hub, Nchan on Redis really delivered, and the
 * engine server's CPU was read from /proc. No speed is asserted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { exactlyOnceFaults } from '../../bench/load/delivery-count.js';
import type { Row } from '../../bench/run.js';
import { CHECKOUT } from '../support/checkout.js';
import { builtCli } from '../support/cli.js';
import { redisService } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const redis = await redisService();
const nchanMissing = !existsSync('/usr/sbin/nginx') || !existsSync('/usr/lib/nginx/modules/ngx_nchan_module.so');
const skip = redis.skipReason() ?? (nchanMissing && !process.env.CI ? 'nginx-light and libnginx-mod-nchan are not installed' : undefined);

describeUnlessSkipped('npm run bench -- --hubs 2 --engine redis:// --servers ssehub,nchan-redis', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-hubs-'));
  let rows: Row[];
  let output = '';

  before(async () => {
    builtCli(); // refuses a missing or stale dist/, which the run starts
    const json = join(dir, 'hubs.json');
    // Ports from 18700: apart from the smoke run's (18300 on) and from the ephemeral range.
    const args = ['--quick', '--duration', '0.5', '--engine', redis.url, '--servers', 'ssehub,nchan-redis', '--hubs', '2', '--scenarios', 'c', '--websocket', '', '--port', '18700', '--json', json];
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: CHECKOUT });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0, output);
    rows = JSON.parse(readFileSync(json, 'utf8')).results.c.rows;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs each server as two processes, each with half of the subscribers', () => {
    assert.deepEqual(rows.map((row) => row.server), ['ssehub (2 hubs)', 'nchan-redis (2 hubs)']);
    for (const row of rows) {
      assert.equal(row.hubs, 2, row.server);
      assert.equal(row.failedConnections, 0, `${row.server}: ${row.errors.join('; ')}`);
      assert.deepEqual(row.subscribersPerHub, [100, 100], row.server);
    }
  });

  it('ssehub delivers every event exactly once across its hubs', () => {
    const hub = rows.find((row) => row.server === 'ssehub (2 hubs)')!;
    assert.ok(hub.publishesAccepted > 0, 'published');
    assert.equal(hub.publishesFailed, 0, hub.errors.join('; '));
    // (c): one subscriber per topic, on one hub; half the publishes reach it through the other one.
    assert.equal(hub.expected, hub.publishesAccepted);
    assert.deepEqual(exactlyOnceFaults(hub), [], `received ${hub.received} of ${hub.expected}`);
    assert.equal(hub.dropped, 0);
  });

  it('Nchan keeping its messages in Redis really delivers', () => {
    const nchan = rows.find((row) => row.server === 'nchan-redis (2 hubs)')!;
    assert.ok(nchan.publishesAccepted > 0 && nchan.received > 0, `accepted ${nchan.publishesAccepted}, delivered ${nchan.received}: ${nchan.errors.join('; ')}`);
  });

  it("reads the engine server's CPU and the hubs' beside it", () => {
    for (const row of rows) {
      assert.ok(row.engineCpuMicrosPerEvent! > 0 && row.engineCpuShare! > 0, `${row.server}: Redis's CPU was read (${row.errors.join('; ')})`);
      assert.ok(row.hubCpuMicrosPerEvent! > 0, `${row.server}: the hubs' CPU was read`);
    }
    assert.match(output, /\| hubs \| hubs' CPU µs\/event \| engine CPU µs\/event \| engine CPU \|/);
  });
});
