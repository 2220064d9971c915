/**
 * The per-client limits of `ssehub serve --workers 2`, as real processes: the primary keeps one set
 * of counters for both workers, so two workers allow what one hub allows (open streams per subject,
 * the publish burst), whichever worker a connection lands on (told apart by the instance ids of their
 * $ssehub/stats reports), and the slots of a worker killed with SIGKILL are released. Run with the
 * memory engine (a publish's charge rides with its append to the primary) and with Redis (each
 * worker connects to the engine itself and asks the primary for its limits).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { childPids, spawnHub, type HubProcess } from '../support/hub.js';
import { httpRequest, openStream, publish, type OpenStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { redisService, type ServiceCheck } from '../support/services.js';
import { InstanceWatcher, subscribersOf } from '../support/workers.js';
import { describeUnlessSkipped } from '../support/skip.js';

const redis = await redisService();
const SECRET = 'limits-secret-limits-secret-limits!';

const started: HubProcess[] = [];
const watchers: InstanceWatcher[] = [];
const streams: OpenStream[] = [];
const namespaces: string[] = [];
// Each test's hub, streams and watcher are stopped when it ends, so that idle hubs do not run beside the later tests.
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await Promise.allSettled(watchers.splice(0).map((watcher) => watcher.stop()));
  await Promise.allSettled(started.splice(0).map((hub) => hub.stop()));
});
after(async () => {
  if (redis.reachable) for (const namespace of namespaces) await removeNamespace('redis', redis.url, namespace);
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(50);
  }
}

/** The hub's worker processes: its children that run the CLI (not a helper process of the TypeScript loader). */
function workerPids(hub: HubProcess): number[] {
  return childPids(hub.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('serve');
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** A stream of the subject's, and whether the hub has ended it. */
interface Held {
  stream: OpenStream;
  ended: boolean;
}

/** Opens a stream on a new connection; the refusal's status and code if it is refused. */
async function tryStream(url: string, headers: Record<string, string>): Promise<Held | { status: number; code: string }> {
  try {
    const stream = await openStream(url, headers);
    streams.push(stream);
    const held: Held = { stream, ended: false };
    void stream.ended.then(() => (held.ended = true));
    return held;
  } catch (error: any) {
    if (error.status === undefined) throw error;
    return { status: error.status, code: JSON.parse(error.body).error.code };
  }
}

const engines: Array<{ name: string; service?: ServiceCheck; args: () => string[] }> = [
  { name: 'memory', args: () => [] },
  {
    name: 'redis',
    service: redis,
    args: () => {
      const namespace = freshNamespace('wl');
      namespaces.push(namespace);
      return ['--engine', redis.url, '--namespace', namespace];
    },
  },
];

for (const engine of engines) {
  describeUnlessSkipped(`the limits of --workers 2 on the ${engine.name} engine`, { skip: engine.service?.skipReason() }, () => {
    async function startWorkers(extra: string[]): Promise<{ hub: HubProcess; watcher: InstanceWatcher }> {
      const hub = await spawnHub(['--workers', '2', '--stats-interval', '200ms', ...engine.args(), ...extra]);
      started.push(hub);
      const watcher = new InstanceWatcher(hub);
      watchers.push(watcher);
      return { hub, watcher };
    }

    test('a subject limit of 3 is 3 for the hub: a 4th stream is refused on either worker, and a killed worker gives its slots back', async () => {
      const { hub, watcher } = await startWorkers(['--jwt-secret', SECRET, '--public-topics', '$ssehub/stats', '--max-streams-per-subject', '3']);
      const token = await mintToken({ secret: SECRET, lifetimeSeconds: 600, subscribe: ['held/**'], subject: 'alice' });
      const auth = { Authorization: `Bearer ${token}` };
      const url = `${hub.url}/topics/held/a`;

      // One connection at a time, so that round-robin alternates between the workers.
      const held: Held[] = [];
      for (let i = 0; i < 3; i++) {
        const outcome = await tryStream(url, auth);
        assert.ok('stream' in outcome, `stream ${i + 1} of 3: ${JSON.stringify(outcome)}`);
        held.push(outcome);
        await pause(100);
      }
      await watcher.waitFor(
        (latest) => latest.size === 2 && [...latest.values()].every((report) => subscribersOf(report, 'held/a') >= 1),
        "alice's streams on both workers",
      );
      for (let i = 0; i < 4; i++) {
        assert.deepEqual(await tryStream(url, auth), { status: 429, code: 'too_many_streams' }, `attempt ${i + 1} past the limit`);
      }

      // A worker dies with some of alice's streams: they end, and their slots are free again.
      const workers = workerPids(hub);
      assert.equal(workers.length, 2);
      process.kill(workers[0]!, 'SIGKILL');
      await waitUntil(() => held.some((each) => each.ended), 'the killed worker\'s streams to end');
      await waitUntil(() => {
        const now = workerPids(hub);
        return now.length === 2 && !now.includes(workers[0]!);
      }, 'a new worker in place of the killed one');
      await watcher.waitFor((latest) => latest.size === 2, 'reports from both workers', { since: Date.now() });
      const alive = () => held.filter((each) => !each.ended).length;
      assert.ok(alive() >= 1 && alive() <= 2, `the other worker keeps its streams: ${alive()} alive`);
      while (alive() < 3) {
        const outcome = await tryStream(url, auth);
        assert.ok('stream' in outcome, `with ${alive()} streams alive, another opens: ${JSON.stringify(outcome)}`);
        held.push(outcome);
        await pause(100);
      }
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(await tryStream(url, auth), { status: 429, code: 'too_many_streams' }, `attempt ${i + 1} past the limit again`);
      }
    });

    test('the publish burst is not doubled: with --publish-rate 1 --publish-burst 5, exactly 5 publishes pass before a 429, over both workers', async () => {
      const { hub, watcher } = await startWorkers(['--publish-rate', '1', '--publish-burst', '5']);
      await watcher.waitFor((latest) => latest.size === 2, 'reports from both workers');
      let accepted = 0;
      let refusal: { status: number; code: string; retryAfter: string | undefined } | undefined;
      // Each publish on a new connection: they alternate between the workers.
      for (let i = 0; i < 12 && refusal === undefined; i++) {
        const reply = await publish(hub.url, 'burst', `n:${i}`);
        if (reply.status === 201) accepted += 1;
        else refusal = { status: reply.status, code: reply.json().error.code, retryAfter: reply.headers['retry-after'] };
      }
      assert.equal(accepted, 5);
      assert.equal(refusal?.status, 429);
      assert.equal(refusal?.code, 'rate_limited');
      assert.ok(Number(refusal?.retryAfter) >= 1);
      // A batch goes by the same bucket, through the same primary (sent at once: the bucket refills one a second).
      const batch = await httpRequest(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify([{ topic: 'burst', data: 'late' }]),
      });
      assert.equal(batch.status, 429);
      await watcher.waitFor(
        (latest) => latest.size === 2 && [...latest.values()].every((report) => report.eventsPublished >= 1) && sum([...latest.values()].map((report) => report.eventsPublished)) === 5,
        'the 5 accepted publishes on both workers',
      );
    });
  });
}
