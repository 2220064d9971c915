/**
 * The NATS engine on a 3-node JetStream cluster that loses a server: this test runs its own cluster
 * (nats-server with routes, one store directory each, on spare ports), two hubs on it with
 * --nats-replicas 3, and SIGKILLs the server leading the hubs' stream while 6 publishers and 8
 * subscribers run. Publishes during the election get 503 or succeed and always get an answer; every
 * acknowledged event reaches every subscriber exactly once, all in one order; the hubs carry on, on
 * the two servers left, without being restarted.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { LoadAcrossHubs, publishWithRetry } from '../support/cluster.js';
import { httpRequest } from '../support/http.js';
import { freshNamespace } from '../support/namespaces.js';
import { hasBinary, OwnServer } from '../support/servers.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until, untilValue } from '../support/wait.js';

const BINARY = 'nats-server';
const cleanups: Array<() => Promise<unknown>> = [];
// Each test's servers and hubs are stopped when it ends, so that they do not run beside the later tests.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Three JetStream servers routed to each other, named n0, n1, n2. */
async function startCluster(): Promise<{ servers: Map<string, OwnServer>; urls: string[] }> {
  const clientPorts = [await freePort(), await freePort(), await freePort()];
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`).join(',');
  const servers = new Map<string, OwnServer>();
  for (const [i, port] of clientPorts.entries()) {
    const args = (dir: string) => [
      ...['-a', '127.0.0.1', '-p', String(port), '--server_name', `n${i}`, '-js', '-sd', dir],
      ...['--cluster_name', 'ssehub-test', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
    ];
    const server = new OwnServer(BINARY, args, port);
    cleanups.push(() => server.dispose());
    servers.set(`n${i}`, server);
  }
  await Promise.all([...servers.values()].map((server) => server.start()));
  return { servers, urls: clientPorts.map((port) => `nats://127.0.0.1:${port}`) };
}

/** The name of the server leading the stream, once it has one. */
async function streamLeader(nc: NatsConnection, stream: string): Promise<string> {
  const jsm = await nc.jetstreamManager();
  const info = await untilValue(
    () => jsm.streams.info(stream).catch(() => undefined),
    (info) => info?.cluster?.leader !== undefined,
    `a leader for the stream ${stream}`,
  );
  return info!.cluster!.leader!;
}

const missing = !hasBinary(BINARY);
const skip = missing && !process.env.CI ? `${BINARY} is not installed (.ci/run installs it)` : undefined;
describeUnlessSkipped('the NATS engine on a JetStream cluster that loses the stream\'s leader', { skip }, () => {
  test(`${BINARY} is installed`, () => assert.ok(!missing, `${BINARY} not found on PATH`));

  test('acknowledged events reach every subscriber exactly once, in one order, and the hubs carry on', async (t) => {
    const { servers, urls } = await startCluster();
    const namespace = freshNamespace('natsha');
    // The seeds in another order for each hub: they start on different servers.
    const hubArgs = (seeds: string[]) => ['--engine', seeds.join(','), '--nats-replicas', '3', '--namespace', namespace, '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s'];
    // The cluster elects its JetStream meta leader after the routes are up: a hub started before that retries.
    const hubs: HubProcess[] = [];
    for (const seeds of [urls, [...urls].reverse()]) {
      const hub = await untilValue(() => spawnHub(hubArgs(seeds)).catch(() => undefined), (hub) => hub !== undefined, 'a hub started on the cluster', 60_000, 500);
      cleanups.push(() => hub!.stop());
      hubs.push(hub!);
    }
    const hubUrls = () => hubs.map((hub) => hub.url);
    const nc = await connect({ servers: urls });
    cleanups.push(() => nc.close());
    const jsm = await nc.jetstreamManager();
    assert.equal((await jsm.streams.info(namespace)).config.num_replicas, 3, 'the stream has 3 replicas');

    const load = new LoadAcrossHubs(hubUrls, 8, namespace);
    cleanups.push(() => load.stop()); // also when an assertion fails: its subscribers would keep the process alive
    await load.warmUp();
    load.startPublishing(6, 60);
    await until(() => load.published >= 60, 'events published before the kill');
    const leader = await streamLeader(nc, namespace);
    await servers.get(leader)!.kill();
    const atKill = load.published;
    await load.publishingDone();
    assert.ok(load.published > atKill, 'publishing went on after the kill');
    t.diagnostic(`killed ${leader} after ${atKill} publishes; attempts by status: ${JSON.stringify(load.statusCounts())}`);
    await load.checkLoad(() => hubs.map((hub, h) => `hub ${h} said:\n${hub.output()}`).join('\n'));

    // The hubs resumed on their own: a new leader, healthy, and a publish on each is delivered.
    const newLeader = await streamLeader(nc, namespace);
    assert.notEqual(newLeader, leader, 'a new leader was elected');
    for (const [h, url] of hubUrls().entries()) {
      await until(async () => (await httpRequest(`${url}/healthz`)).status === 200, `hub ${h} healthy`);
      await publishWithRetry(() => [url], 'load', `a${h}:0`, `after-${h}-${namespace}`);
    }
    const total = 6 * 60;
    for (const [i, subscriber] of load.subscribers.entries()) {
      await subscriber.waitFor(() => load.loadOf(subscriber).length >= total + 2, `subscriber ${i} to receive the publishes after the election`);
    }
    await load.stop();
  });
});
