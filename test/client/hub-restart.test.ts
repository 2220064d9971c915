/**
 * The client across a restart of the hub process on the same address: on a shared engine (Redis)
 * it resumes with its Last-Event-ID and gets every event exactly once; on the in-memory engine,
 * whose history died with the process, it reports a reset and carries on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { publish, subscribe, type ResetSignal } from '../../src/client/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { spawnHub, type HubProcess, freePort } from '../support/hub.js';
import { redisService } from '../support/services.js';
import { ClientLog, until } from './support.js';

const redis = await redisService();
const running: HubProcess[] = [];
after(async () => {
  await Promise.allSettled(running.map((hub) => hub.stop()));
});

async function startOn(port: number, args: string[]): Promise<HubProcess> {
  const hub = await spawnHub([...args, '--port', String(port), '--publish-rate', '0']);
  running.push(hub);
  return hub;
}

const fastRetry = { initialDelayMs: 50, maxDelayMs: 250 };

describe('the client across a hub restart', () => {
  test('on Redis: every event exactly once, in order, publishing straight through the restart', { skip: redis.skipReason(), timeout: 60_000 }, async () => {
    assert.ok(redis.reachable, `Redis is not reachable at ${redis.url}`);
    const port = await freePort();
    const args = ['--engine', redis.url, '--namespace', `r${randomBytes(5).toString('hex')}`];
    let hub = await startOn(port, args);
    const url = `http://127.0.0.1:${port}`;
    const received: string[] = [];
    const resets: ResetSignal[] = [];
    const log = new ClientLog();
    // The subscriber waits on a fake clock, so it comes back only after events were published
    // without it: those it can only get by resuming from its Last-Event-ID.
    const clock = new FakeClock();
    const sub = subscribe({
      url,
      topics: ['restart/*'],
      clock,
      backoff: { initialDelayMs: 1000, random: () => 0.5 },
      onEvent: (event) => received.push(event.data),
      onReset: (signal) => resets.push(signal),
      onStateChange: log.record,
    });
    await log.waitForState('open');

    const sent: string[] = [];
    const publishRange = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        await publish({ topic: `restart/${i % 3}`, data: `n${i}` }, { url, retries: 100, backoff: fastRetry });
        sent.push(`n${i}`);
      }
    };
    await publishRange(0, 60);
    await until(() => received.length === 60);

    hub.child.kill('SIGKILL');
    await hub.exited;
    const drop = await log.nextReconnect();
    // Publishing goes on while the hub is down: these retry until it is back.
    const publishing = publishRange(60, 90);
    await new Promise((resolve) => setTimeout(resolve, 300));
    hub = await startOn(port, args);
    await publishing;
    await publishRange(90, 120);
    assert.equal(received.length, 60, 'nothing reaches the subscriber while it waits');
    clock.advance(drop.delayMs!);

    await until(() => received.length >= 120, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show up
    assert.deepEqual(received, sent, 'every event once, in publish order');
    assert.deepEqual(resets, []);
    assert.ok(log.states.filter((state) => state === 'open').length >= 2, log.states.join());
    sub.close();
  });

  test('on the memory engine: the lost history is reported as a reset, then events flow again', { timeout: 30_000 }, async () => {
    const port = await freePort();
    let hub = await startOn(port, []);
    const url = `http://127.0.0.1:${port}`;
    const received: string[] = [];
    const resets: ResetSignal[] = [];
    const log = new ClientLog();
    const sub = subscribe({
      url,
      topics: 'mem/restart',
      backoff: fastRetry,
      onEvent: (event) => received.push(event.data),
      onReset: (signal) => resets.push(signal),
      onStateChange: log.record,
    });
    await log.waitForState('open');
    const before = await publish({ topic: 'mem/restart', data: 'before' }, { url });
    await until(() => received.length === 1);

    hub.child.kill('SIGKILL');
    await hub.exited;
    hub = await startOn(port, []);
    await log.waitForState('open', 2, 10_000);
    await publish({ topic: 'mem/restart', data: 'after' }, { url });
    await until(() => received.length === 2);

    assert.deepEqual(received, ['before', 'after']);
    assert.deepEqual(resets, [{ kind: 'reset', reason: 'unknown-id', lastEventId: before.id }]);
    sub.close();
  });
});
