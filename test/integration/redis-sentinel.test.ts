/**
 * The Redis engine behind Redis Sentinel, its master SIGKILLed mid-publish: each test runs its own
 * master, replicas and three sentinels on spare ports, and two hubs on redis-sentinel://…/mymaster.
 * Publishes during the failover get 503 (or 409 while a retry's first attempt is in flight) and
 * always get an answer; once the sentinels promoted a replica the hubs carry on by themselves.
 * - With --redis-wait-replicas 1 (two replicas: after the failover the new master still has one to
 *   WAIT for), every acknowledged event reaches every subscriber exactly once, in one order.
 * - Without it, a failover may lose acknowledged events, never silently: each subscriber has every
 *   acknowledged event exactly once in order, or got ssehub.reset and then every event acknowledged
 *   since. The replica reaches its master through a proxy that, in one run, stops passing on the
 *   replication stream before the kill, so that the promoted replica surely lacks acknowledged events.
 * - Sentinels that cannot be reached while the hub runs: what a down Redis gives, 503s and a failing
 *   /healthz, until they answer again.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { httpRequest, openStream } from '../support/http.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { LoadAcrossHubs, publishWithRetry } from '../support/cluster.js';
import { RESET_EVENT } from '../../src/protocol/index.js';
import { hasBinary, OwnServer } from '../support/servers.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';

const BINARY = 'redis-server';
const cleanups: Array<() => Promise<unknown>> = [];
// Each test's servers and hubs are stopped when it ends, so that they do not run beside the later tests.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
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

/** A master, `replicas` replicas (each through a proxy that can stall its link) and three sentinels. */
async function startSentinels(replicas: number) {
  const masterPort = await freePort();
  const master = await start(new OwnServer(BINARY, redisArgs(masterPort), masterPort));
  const links: TcpProxy[] = [];
  for (let i = 0; i < replicas; i++) {
    const link = await startTcpProxy(`http://127.0.0.1:${masterPort}`);
    cleanups.push(() => link.close());
    links.push(link);
    const port = await freePort();
    await start(new OwnServer(BINARY, redisArgs(port, Number(new URL(link.url).port)), port));
  }
  const sentinels: OwnServer[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    sentinels.push(await start(new OwnServer(BINARY, sentinelArgs(port, masterPort), port)));
  }
  const engine = `redis-sentinel://${sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',')}/mymaster`;
  return { master, links, sentinels, engine };
}

async function startHubs(engine: string, ...extra: string[]): Promise<HubProcess[]> {
  const hubArgs = ['--engine', engine, ...extra, '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s'];
  const hubs = await Promise.all([spawnHub(hubArgs), spawnHub(hubArgs)]);
  for (const hub of hubs) cleanups.push(() => hub.stop());
  return hubs;
}

const said = (hubs: HubProcess[]) => () => hubs.map((hub, h) => `hub ${h} said:\n${hub.output()}`).join('\n');

const missing = !hasBinary(BINARY);
const skip = missing && !process.env.CI ? `${BINARY} is not installed (.ci/run installs it)` : undefined;
describeUnlessSkipped('the Redis engine behind Sentinel, its master killed mid-publish', { skip }, () => {
  test(`${BINARY} is installed`, () => assert.ok(!missing, `${BINARY} not found on PATH`));

  test('with --redis-wait-replicas 1, every acknowledged event reaches every subscriber exactly once', async (t) => {
    const { master, engine } = await startSentinels(2);
    const hubs = await startHubs(engine, '--redis-wait-replicas', '1');
    const hubUrls = () => hubs.map((hub) => hub.url);

    const load = new LoadAcrossHubs(hubUrls, 4, 'sentinel');
    cleanups.push(() => load.stop()); // also when an assertion fails: its subscribers would keep the process alive
    await load.warmUp();
    load.startPublishing(3, 60);
    await until(() => load.published >= 30, 'events published before the kill');
    await master.kill();
    const atKill = load.published;
    await load.publishingDone();
    t.diagnostic(`killed the master after ${atKill} publishes; attempts by status: ${JSON.stringify(load.statusCounts())}`);
    assert.ok(load.published > atKill, 'publishing went on after the failover');
    await load.checkLoad(said(hubs));
    await load.stop();
  });

  for (const stalled of [true, false]) {
    const what = stalled ? 'the replica 10 events behind' : 'the replica as it is';
    test(`without --redis-wait-replicas, ${what}: every subscriber has every acknowledged event, or got a reset`, async (t) => {
      const { master, links, engine } = await startSentinels(1);
      const hubs = await startHubs(engine);
      const hubUrls = () => hubs.map((hub) => hub.url);

      const load = new LoadAcrossHubs(hubUrls, 4, `loss-${stalled}`);
      cleanups.push(() => load.stop()); // also when an assertion fails: its subscribers would keep the process alive
    await load.warmUp();
      load.startPublishing(3, 60);
      await until(() => load.published >= 30, 'events published before the kill');
      let onlyOnMaster = 0;
      // The id of an event that survives the failover, for a client away from then on to resume from.
      let beforeLoss = '';
      if (stalled) {
        beforeLoss = await publishWithRetry(hubUrls, 'load', 'w:before', `before-${stalled}`);
        // Acknowledged by the master, never sent on to the replica: the failover loses them.
        links[0]!.holdReplies();
        const atHold = load.published;
        await until(() => load.published >= atHold + 10, 'events acknowledged by the master alone');
        onlyOnMaster = load.published - atHold;
      }
      await master.kill();
      // What a publisher had acknowledged when the master died, and the one publish it may have had
      // in flight: all of these may be lost. Every later one was stored by the promoted replica.
      const keptFrom = load.acknowledged.map((count) => count + 1);
      await load.publishingDone();
      const reset = await load.checkLoadOrReset(keptFrom, said(hubs));
      t.diagnostic(`${onlyOnMaster} events acknowledged by the master alone; attempts by status: ${JSON.stringify(load.statusCounts())}; ${reset} of 4 subscribers reset`);
      if (stalled) {
        assert.ok(reset > 0, 'the loss was found: subscribers were reset');
        // The live subscribers had the lost events before the master died; a client away meanwhile
        // resumes where history lacks them, and must be told.
        const away = await openStream(`${hubs[0]!.url}/topics/load`, { 'Last-Event-ID': beforeLoss });
        const [first] = await away.waitForEvents(1);
        away.close();
        assert.equal(first!.type, RESET_EVENT, `a client resuming from before the loss is reset, not replayed ${first!.data}`);
        assert.ok(
          hubs.some((hub) => /the log lost the events after \S+ up to \S+/.test(hub.output())),
          `a hub logged the lost range\n${said(hubs)()}`,
        );
      }
      await load.stop();
    });
  }

  test('sentinels unreachable while the hub runs: 503 on publish and a failing /healthz, as a down Redis, until they answer', async () => {
    const { master, sentinels, engine } = await startSentinels(0);
    const [hub] = await startHubs(engine);
    const publish = () => httpRequest(`${hub!.url}/topics/t`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x', timeoutMs: 30_000 });
    assert.equal((await publish()).status, 201);
    for (const sentinel of sentinels) await sentinel.kill();
    // The master is still there: the hub does not need the sentinels until it must find it again.
    assert.equal((await publish()).status, 201);
    await master.kill();
    await until(async () => (await httpRequest(`${hub!.url}/healthz`)).status === 503, '/healthz failing');
    const health = await httpRequest(`${hub!.url}/healthz`);
    assert.equal(health.json().engine.ok, false, health.text);
    const refused = await publish();
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json().error.code, 'engine_unavailable');
    await master.start();
    for (const sentinel of sentinels) await sentinel.start();
    await until(async () => (await httpRequest(`${hub!.url}/healthz`)).status === 200, '/healthz ok once the sentinels answer', 30_000);
    assert.equal((await publish()).status, 201);
  });
});
