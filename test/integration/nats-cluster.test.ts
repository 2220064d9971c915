/**
 * The NATS engine on a 3-node JetStream cluster that loses a server: this test runs its own cluster
 * (nats-server with routes, one store directory each, on spare ports), two hubs on it with
 * --nats-replicas 3, and SIGKILLs the server leading the hubs' stream while 6 publishers and 8
 * subscribers run. Publishes during the election get 503 or succeed and always get an answer; every
 * acknowledged event reaches every subscriber exactly once, all in one order; the hubs carry on, on
 * the two servers left, without being restarted.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { checkExactlyOnceInOrder, FailoverSubscriber, publishWithRetry } from '../support/cluster.js';
import { httpRequest, type Reply } from '../support/http.js';
import { freshNamespace } from '../support/namespaces.js';
import { hasBinary, OwnServer } from '../support/servers.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until, untilValue } from '../support/wait.js';

const BINARY = 'nats-server';
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
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

    const subscribers = Array.from({ length: 8 }, (_, i) => new FailoverSubscriber(() => (i % 2 === 0 ? hubUrls() : [...hubUrls()].reverse()), '/topics/load'));
    // Every subscriber is connected once it received a first warm-up event (its Last-Event-ID then
    // covers the rest); the warm-up events a subscriber missed before connecting are left out below.
    let warmUps = 0;
    await until(async () => {
      await publishWithRetry(hubUrls, 'load', `w:${warmUps}`, `w${warmUps}-${namespace}`);
      warmUps += 1;
      return subscribers.every((subscriber) => subscriber.events.length > 0);
    }, 'every subscriber connected', 30_000, 100);
    const loadOf = (subscriber: FailoverSubscriber) => subscriber.events.filter((event) => !event.data.startsWith('w:'));

    const statuses: number[] = [];
    const failures: string[] = [];
    const record = (reply: Reply | Error) => {
      statuses.push(reply instanceof Error ? -1 : reply.status);
      if (reply instanceof Error) failures.push(reply.message);
    };
    const publishers = 6;
    const perPublisher = 60;
    let published = 0;
    const publishing = Array.from({ length: publishers }, async (_, p) => {
      for (let n = 0; n < perPublisher; n++) {
        const order = p % 2 === 0 ? hubUrls() : [...hubUrls()].reverse();
        // 30 s: the hub's request timeout; an answer always comes well before it, 503 at worst.
        await publishWithRetry(() => order, 'load', `p${p}:${n}`, `p${p}-${n}-${namespace}`, record, 30_000);
        published += 1;
      }
    });

    await until(() => published >= publishers * 10, 'events published before the kill');
    const leader = await streamLeader(nc, namespace);
    await servers.get(leader)!.kill();
    const atKill = published;
    await Promise.all(publishing);
    assert.ok(published > atKill, 'publishing went on after the kill');

    const seen = statuses.reduce<Record<number, number>>((count, status) => ({ ...count, [status]: (count[status] ?? 0) + 1 }), {});
    t.diagnostic(`killed ${leader} after ${atKill} publishes; attempts by status: ${JSON.stringify(seen)}`);
    assert.deepEqual(failures, [], 'every publish attempt got an answer');
    assert.ok(statuses.every((status) => [201, 503, 409].includes(status)), `only 201, 503 or 409: ${[...new Set(statuses)].join(', ')}`);
    const counts = Object.fromEntries(Array.from({ length: publishers }, (_, p) => [`p${p}`, perPublisher]));
    const total = publishers * perPublisher;
    for (const [i, subscriber] of subscribers.entries()) {
      await subscriber.waitFor(() => loadOf(subscriber).length >= total, `subscriber ${i} to receive everything`, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${hubs.map((hub, h) => `hub ${h} said:\n${hub.output()}`).join('\n')}`);
      });
      assert.equal(checkExactlyOnceInOrder(loadOf(subscriber), counts), undefined, `subscriber ${i}`);
      assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset`);
    }
    // One order: every subscriber saw the same ids in the same sequence.
    const order = loadOf(subscribers[0]!).map((event) => event.lastEventId);
    for (const [i, subscriber] of subscribers.entries()) assert.deepEqual(loadOf(subscriber).map((event) => event.lastEventId), order, `subscriber ${i} saw the order of subscriber 0`);

    // The hubs resumed on their own: a new leader, healthy, and a publish on each is delivered.
    const newLeader = await streamLeader(nc, namespace);
    assert.notEqual(newLeader, leader, 'a new leader was elected');
    for (const [h, url] of hubUrls().entries()) {
      await until(async () => (await httpRequest(`${url}/healthz`)).status === 200, `hub ${h} healthy`);
      await publishWithRetry(() => [url], 'load', `a${h}:0`, `after-${h}-${namespace}`);
    }
    for (const [i, subscriber] of subscribers.entries()) {
      await subscriber.waitFor(() => loadOf(subscriber).length >= total + 2, `subscriber ${i} to receive the publishes after the election`);
    }
    await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
  });
});
