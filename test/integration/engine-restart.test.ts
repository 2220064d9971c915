/**
 * The engine's server killed and restarted under load: this test starts its own redis-server and
 * nats-server on spare ports (with their data on disk), kills them with SIGKILL mid-stream and
 * starts them again. Publishes while the server is down must get 503, never 2xx; the publisher
 * retries with its Idempotency-Key; every subscriber must get every event exactly once, in order.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { checkExactlyOnceInOrder, FailoverSubscriber, publishWithRetry } from '../support/cluster.js';
import type { Reply } from '../support/http.js';
import { hasBinary, OwnServer } from '../support/servers.js';
import { describeUnlessSkipped } from '../support/skip.js';

interface ServerKind {
  name: string;
  binary: string;
  args(port: number, dir: string): string[];
  url(port: number): string;
}

const kinds: ServerKind[] = [
  {
    name: 'redis',
    binary: 'redis-server',
    // appendfsync always: a write Redis acknowledged is on disk, so a SIGKILL loses nothing.
    args: (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
    url: (port) => `redis://127.0.0.1:${port}`,
  },
  {
    name: 'nats',
    binary: 'nats-server',
    args: (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
    url: (port) => `nats://127.0.0.1:${port}`,
  },
];

const cleanups: Array<() => Promise<unknown>> = [];
// Each test's servers and hubs are stopped when it ends, so that they do not run beside the later tests.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

for (const kind of kinds) {
  const missing = !hasBinary(kind.binary);
  const skip = missing && !process.env.CI ? `${kind.binary} is not installed (.ci/run installs it)` : undefined;
  describeUnlessSkipped(`the ${kind.name} server restarted under load`, { skip }, () => {
    test(`${kind.binary} is installed`, () => assert.ok(!missing, `${kind.binary} not found on PATH`));

    test('publishes get 503 while it is down, and every accepted event reaches every subscriber exactly once', async () => {
      const port = await freePort();
      const server = new OwnServer(kind.binary, (dir) => kind.args(port, dir), port);
      cleanups.push(() => server.dispose());
      await server.start();
      const args = ['--engine', kind.url(server.port), '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s'];
      const hubs: HubProcess[] = await Promise.all([spawnHub(args), spawnHub(args)]);
      for (const hub of hubs) cleanups.push(() => hub.stop());
      const urls = () => hubs.map((hub) => hub.url);
      const subscribers = [0, 1, 0, 1].map((first) => new FailoverSubscriber(() => (first === 0 ? urls() : [...urls()].reverse()), '/topics/load'));
      await new Promise((resolve) => setTimeout(resolve, 500));

      const statuses: number[] = [];
      const record = (reply: Reply | Error) => statuses.push(reply instanceof Error ? -1 : reply.status);
      const total = 120;
      let published = 0;
      const publisher = (async () => {
        for (let n = 0; n < total; n++) {
          await publishWithRetry(() => [hubs[1]!.url], 'load', `p:${n}`, `load-${n}`, record);
          published += 1;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();

      await subscribers[0]!.waitFor((events) => events.length >= 30, 'events before the kill');
      await server.kill();
      const downAt = published;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(published, downAt, 'no publish succeeded while the server was down');
      await server.start();
      await publisher;

      assert.ok(statuses.includes(503), `publishes during the outage got 503 (saw ${[...new Set(statuses)].join(', ')})`);
      assert.ok(statuses.every((status) => [201, 503, 409].includes(status)), `only 201, 503 or 409: ${[...new Set(statuses)].join(', ')}`);
      for (const [i, subscriber] of subscribers.entries()) {
        await subscriber.waitFor((events) => events.length >= total, `subscriber ${i} to receive everything`, 30_000);
        await new Promise((resolve) => setTimeout(resolve, i === 0 ? 300 : 0));
        assert.equal(checkExactlyOnceInOrder(subscriber.events, { p: total }), undefined, `subscriber ${i}`);
        assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset`);
      }
      await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
    });
  });
}
