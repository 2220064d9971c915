/**
 * The Redis engine behind Redis Sentinel, its master SIGKILLed mid-publish: this test runs its own
 * master, two replicas and three sentinels on spare ports, and two hubs on
 * redis-sentinel://…/mymaster with --redis-wait-replicas 1. Publishes during the failover get 503
 * (or 409 while a retry's first attempt is in flight) and always get an answer; once the sentinels
 * promoted a replica the hubs carry on by themselves, and every acknowledged event reaches every
 * subscriber exactly once, in one order. Two replicas: after the failover the new master still has
 * one replica to WAIT for.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { LoadAcrossHubs } from '../support/cluster.js';
import { hasBinary, OwnServer } from '../support/servers.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';

const BINARY = 'redis-server';
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

function redisArgs(port: number, replicaOf?: number) {
  return (dir: string) => [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
    ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
  ];
}

/** A sentinel writes its configuration back to its file: one file per sentinel, in its own directory. */
function sentinelArgs(port: number, masterPort: number) {
  return (dir: string) => {
    const file = join(dir, 'sentinel.conf');
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${masterPort} 2`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 10000',
        'sentinel parallel-syncs mymaster 2',
        '',
      ].join('\n'),
    );
    return [file, '--sentinel'];
  };
}

async function start(server: OwnServer): Promise<OwnServer> {
  cleanups.push(() => server.dispose());
  await server.start();
  return server;
}

const missing = !hasBinary(BINARY);
const skip = missing && !process.env.CI ? `${BINARY} is not installed (.ci/run installs it)` : undefined;
describeUnlessSkipped('the Redis engine behind Sentinel, its master killed mid-publish', { skip }, () => {
  test(`${BINARY} is installed`, () => assert.ok(!missing, `${BINARY} not found on PATH`));

  test('with --redis-wait-replicas 1, every acknowledged event reaches every subscriber exactly once', async (t) => {
    const masterPort = await freePort();
    const master = await start(new OwnServer(BINARY, redisArgs(masterPort), masterPort));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      await start(new OwnServer(BINARY, redisArgs(port, masterPort), port));
    }
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      await start(new OwnServer(BINARY, sentinelArgs(port, masterPort), port));
      sentinelPorts.push(port);
    }
    const engine = `redis-sentinel://${sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')}/mymaster`;
    const hubArgs = ['--engine', engine, '--redis-wait-replicas', '1', '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s'];
    const hubs: HubProcess[] = await Promise.all([spawnHub(hubArgs), spawnHub(hubArgs)]);
    for (const hub of hubs) cleanups.push(() => hub.stop());
    const hubUrls = () => hubs.map((hub) => hub.url);

    const load = new LoadAcrossHubs(hubUrls, 4, 'sentinel');
    await load.warmUp();
    load.startPublishing(3, 60);
    await until(() => load.published >= 30, 'events published before the kill');
    await master.kill();
    const atKill = load.published;
    await load.publishingDone();
    t.diagnostic(`killed the master after ${atKill} publishes; attempts by status: ${JSON.stringify(load.statusCounts())}`);
    assert.ok(load.published > atKill, 'publishing went on after the failover');
    await load.checkLoad(() => hubs.map((hub, h) => `hub ${h} said:\n${hub.output()}`).join('\n'));
    await load.stop();
  });
});
