/**
 * The primary process of `ssehub serve --workers N`, as real processes: the option itself, a
 * worker killed with SIGKILL and restarted while the hub keeps serving (and its clients, resuming
 * on the other worker, lose nothing), SIGTERM closing every worker gracefully and exiting 0, and a
 * start that fails in a worker failing the command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { request } from 'node:http';
import { afterEach, describe, test } from 'node:test';
import { workerCount } from '../../src/cluster/primary.js';
import { loadConfig } from '../../src/config.js';
import { HubError } from '../../src/errors.js';
import { checkExactlyOnceInOrder } from '../support/cluster.js';
import { httpRequest, openStream, publish } from '../support/http.js';
import { childPids, processAlive, spawnHub, type HubProcess } from '../support/hub.js';
import { InstanceWatcher, publishUntilStored, ResumingSubscriber, subscribersOf } from '../support/workers.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const started: HubProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
// Each test's hub and clients are stopped when it ends, so that idle hubs do not run beside the later tests.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await Promise.allSettled(started.splice(0).map((hub) => hub.stop()));
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(50);
  }
}

describe('--workers', () => {
  test('is a count: 1 by default, from the flag or SSEHUB_WORKERS, and 0 means one per CPU core', () => {
    assert.equal(loadConfig([], {}).workers, 1);
    assert.equal(loadConfig(['--workers', '4'], {}).workers, 4);
    assert.equal(loadConfig([], { SSEHUB_WORKERS: '3' }).workers, 3);
    assert.equal(workerCount(loadConfig(['--workers', '0'], {})), availableParallelism());
    assert.equal(workerCount(loadConfig(['--workers', '2'], {})), 2);
    for (const value of ['-1', 'two', '1.5']) {
      assert.throws(
        () => loadConfig(['--workers', value], {}),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && error.message.includes('--workers'),
        value,
      );
    }
  });

  test('--workers 0 starts one worker per CPU core', async () => {
    const hub = await spawnHub(['--workers', '0']);
    started.push(hub);
    const cores = availableParallelism();
    if (cores > 1) {
      assert.match(hub.output(), new RegExp(`, ${cores} workers\\)`));
      assert.equal(childPids(hub.pid).length, cores);
    } else {
      assert.equal(childPids(hub.pid).length, 0, 'one core: one process, no workers');
    }
    await hub.stop();
  });
});

describe('the primary of --workers 2', () => {
  test('a worker killed with SIGKILL is restarted, the hub keeps serving, and clients that resume lose nothing', async () => {
    const hub = await spawnHub(['--workers', '2', '--stats-interval', '200ms', '--publish-rate', '0', '--max-streams-per-ip', '0', '--heartbeat', '1s']);
    started.push(hub);
    const workers = childPids(hub.pid);
    assert.equal(workers.length, 2);
    const watcher = new InstanceWatcher(hub);
    cleanups.push(() => watcher.stop());
    const subscribers: ResumingSubscriber[] = [];
    for (let i = 0; i < 6; i++) {
      subscribers.push(new ResumingSubscriber(hub.url, '/topics/jobs'));
      await pause(100); // one connection at a time, so that round-robin alternates between the workers
    }
    cleanups.push(() => Promise.all(subscribers.map((subscriber) => subscriber.stop())).then(() => {}));
    const before = await watcher.waitFor(
      (latest) => latest.size === 2 && [...latest.values()].every((report) => subscribersOf(report, 'jobs') >= 1),
      'the subscribers on both workers',
    );

    const total = 200;
    const publisher = (async () => {
      for (let n = 0; n < total; n++) {
        await publishUntilStored(hub.url, 'jobs', `p:${n}`, `jobs-${n}`);
        if (n % 10 === 0) await pause(5);
      }
    })();
    await subscribers[0]!.waitFor((events) => events.length >= 50, 'events before the kill');
    const [victim] = workers;
    process.kill(victim!, 'SIGKILL');
    const killedAt = Date.now();
    await publisher;

    for (const [i, subscriber] of subscribers.entries()) {
      await subscriber.waitFor((events) => events.length >= total, `subscriber ${i} to have every event`);
      await pause(i === 0 ? 300 : 0); // room for a duplicate to show up
      assert.equal(checkExactlyOnceInOrder(subscriber.events, { p: total }), undefined, `subscriber ${i}`);
      assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset: the events live in the primary`);
    }
    assert.ok(subscribers.some((subscriber) => subscriber.reconnects >= 1), 'some subscribers were on the killed worker and resumed');

    // The primary noticed, said so, and forked a new worker in its place.
    await waitUntil(() => /worker \d \(pid \d+\) exited with signal SIGKILL; restarting it in \d+ ms/.test(hub.output()), 'the restart to be logged');
    assert.ok(hub.output().includes(`(pid ${victim})`), hub.output());
    await waitUntil(() => {
      const now = childPids(hub.pid);
      return now.length === 2 && !now.includes(victim!);
    }, 'a new worker in place of the killed one');
    // The new worker is a new instance, and it takes streams of its own.
    const after = await watcher.waitFor(
      (latest) => latest.size === 2 && [...latest.keys()].some((instance) => !before.has(instance)),
      'a report from the new worker',
      { since: killedAt + 500 },
    );
    const newcomer = [...after.keys()].find((instance) => !before.has(instance))!;
    for (let i = 0; i < 6; i++) {
      const stream = new ResumingSubscriber(hub.url, '/topics/after-restart');
      cleanups.push(() => stream.stop());
      await pause(100);
    }
    await watcher.waitFor((latest) => subscribersOf(latest.get(newcomer), 'after-restart') >= 1, 'a stream on the new worker', {
      since: Date.now(),
    });
  });

  test('the primary keeps the history of every worker within --history-max-bytes', async () => {
    const hub = await spawnHub(['--workers', '2', '--history-max-bytes', '64KiB', '--publish-rate', '0', '--publish-bytes-rate', '0']);
    started.push(hub);
    const first = (await publish(hub.url, 'budget/0', 'first')).json().id as string;
    // Each publish on a fresh connection: node:cluster spreads them over both workers.
    for (let i = 0; i < 20; i++) assert.equal((await publish(hub.url, `budget/${i % 4}`, 'x'.repeat(10 * 1024))).status, 201);
    const stats = (await httpRequest(`${hub.url}/stats`)).json();
    assert.ok(stats.retainedBytes <= 64 * 1024, `retained ${stats.retainedBytes} bytes`);
    assert.ok(stats.evictedForBudget > 0);
    const resumed = await openStream(`${hub.url}/topics/budget/0`, { 'Last-Event-ID': first });
    const [reset] = await resumed.waitForEvents(1);
    assert.equal(reset!.type, 'ssehub.reset');
    assert.equal(JSON.parse(reset!.data).reason, 'history-exceeded');
    resumed.close();
  });

  test('SIGTERM: every worker ends its streams gracefully, and the primary exits 0 once they are gone', async () => {
    const hub = await spawnHub(['--workers', '2', '--stats-interval', '200ms', '--max-streams-per-ip', '0']);
    started.push(hub);
    const workers = childPids(hub.pid);
    assert.equal(workers.length, 2);
    const watcher = new InstanceWatcher(hub);
    cleanups.push(() => watcher.stop());
    const { port } = new URL(hub.url);
    /** A raw stream that records whether the server ended it properly (last chunk received) or cut it. */
    const openRaw = () =>
      new Promise<{ ended: Promise<'ended' | 'cut'> }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/topics/term', agent: false }, (res) => {
          res.resume();
          const ended = new Promise<'ended' | 'cut'>((done) => {
            res.once('end', () => done('ended'));
            res.once('error', () => done('cut'));
            res.once('close', () => done(res.complete ? 'ended' : 'cut'));
          });
          resolve({ ended });
        });
        req.on('error', reject);
        req.end();
      });
    // One after the other: connections that arrive together may all go to the first free worker.
    const streams: Array<{ ended: Promise<'ended' | 'cut'> }> = [];
    for (let i = 0; i < 6; i++) streams.push(await openRaw());
    await watcher.waitFor((latest) => latest.size === 2 && [...latest.values()].every((report) => subscribersOf(report, 'term') >= 1), 'streams on both workers');
    hub.child.kill('SIGTERM');
    assert.equal(await hub.exited, 0, hub.output());
    assert.deepEqual(await Promise.all(streams.map((stream) => stream.ended)), Array(6).fill('ended'), 'every stream ended by its worker, none cut');
    assert.match(hub.output(), /SIGTERM received, closing streams/);
    for (const pid of workers) await waitUntil(() => !processAlive(pid), `worker ${pid} to be gone`, 5000);
    assert.doesNotMatch(hub.output(), /restarting/, 'no worker was restarted during the shutdown');
  });

  test('a worker that cannot start fails the command with its error, and leaves no worker behind', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const { port } = busy.address() as AddressInfo;
    const child = spawn(process.execPath, [CLI, 'serve', '--workers', '2', '--port', String(port), '--stats-interval', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const workers = new Set<number>();
    const watching = setInterval(() => childPids(child.pid!).forEach((pid) => workers.add(pid)), 20);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    clearInterval(watching);
    assert.notEqual(code, 0, output);
    assert.notEqual(code, null, `it hung and was killed:\n${output}`);
    assert.match(output, /is already in use/);
    assert.doesNotMatch(output, /listening on/);
    for (const pid of workers) await waitUntil(() => !processAlive(pid), `worker ${pid} to be gone`, 5000);
  });
});
