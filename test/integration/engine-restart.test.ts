/**
 * The engine's server killed and restarted under load: this test starts its own redis-server and
 * nats-server on spare ports (with their data on disk), kills them with SIGKILL mid-stream and
 * starts them again. Publishes while the server is down must get 503, never 2xx; the publisher
 * retries with its Idempotency-Key; every subscriber must get every event exactly once, in order.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { spawnHub, type HubProcess } from '../support/hub.js';
import { checkExactlyOnceInOrder, FailoverSubscriber, publishWithRetry } from '../support/cluster.js';
import type { Reply } from '../support/http.js';
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

function hasBinary(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;
}

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

class OwnServer {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'ssehub-engine-'));

  constructor(
    private readonly kind: ServerKind,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    this.child = spawn(this.kind.binary, this.kind.args(this.port, this.dir), { stdio: 'ignore' });
    await waitForPort(this.port);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

for (const kind of kinds) {
  const missing = !hasBinary(kind.binary);
  const skip = missing && !process.env.CI ? `${kind.binary} is not installed (.ci/run installs it)` : undefined;
  describeUnlessSkipped(`the ${kind.name} server restarted under load`, { skip }, () => {
    test(`${kind.binary} is installed`, () => assert.ok(!missing, `${kind.binary} not found on PATH`));

    test('publishes get 503 while it is down, and every accepted event reaches every subscriber exactly once', async () => {
      const server = new OwnServer(kind, await sparePort());
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
