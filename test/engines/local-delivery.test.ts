import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackgroundTasks, LocalDelivery } from '../../src/engines/local-delivery.js';
import type { StoredEvent } from '../../src/engines/engine.js';
import { HubError } from '../../src/errors.js';

const event = (n: number): StoredEvent => ({ id: `e-${n}`, topic: 't', data: String(n), time: 0 });
const quiet = () => {
  const errors: string[] = [];
  return { errors, logger: { info() {}, warn: (_: object, m?: string) => errors.push(m ?? ''), error: (_: object, m?: string) => errors.push(m ?? '') } };
};

describe('LocalDelivery', () => {
  test('every listener hears every event in order, even when one of them throws', () => {
    const { errors, logger } = quiet();
    const delivery = new LocalDelivery<number>('test', logger, (a, b) => a - b);
    const heard: string[] = [];
    delivery.onDeliver(() => {
      throw new Error('broken listener');
    });
    delivery.onDeliver((e) => heard.push(e.data));
    delivery.deliver(1, event(1));
    delivery.deliver(2, event(2));
    assert.deepEqual(heard, ['1', '2']);
    assert.equal(errors.length, 2);
  });

  test('until() resolves at once when covered, on delivery otherwise, and fails with 503 after its timeout or on close', async () => {
    const delivery = new LocalDelivery<number>('test', quiet().logger, (a, b) => a - b, 100);
    await delivery.until(3, 5, 'behind');
    let reached = false;
    const waiting = delivery.until(7, 5, 'behind').then(() => (reached = true));
    delivery.deliver(6, event(6));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reached, false, 'not before 7');
    delivery.deliver(7, event(7));
    await waiting;
    await assert.rejects(delivery.until(9, 7, 'lagging'), (error: unknown) => error instanceof HubError && error.status === 503 && /lagging/.test(error.message));
    const pending = delivery.until(10, 7, 'behind');
    delivery.close();
    await assert.rejects(pending, (error: unknown) => error instanceof HubError && /closed/.test(error.message));
  });

  test('many waiters: each resolves when its own target is delivered, whatever the order they came in and one that timed out', async () => {
    const delivery = new LocalDelivery<number>('test', quiet().logger, (a, b) => a - b, 1000);
    const resolved: number[] = [];
    // The lowest target, asked first, lapses while the others still wait for theirs.
    const lapsing = delivery.until(5, 0, 'behind').catch(() => 'lapsed');
    await new Promise((resolve) => setTimeout(resolve, 600));
    const targets = [30, 10, 20, 10, 40];
    const waits = targets.map((target) => delivery.until(target, 0, 'behind').then(() => resolved.push(target)));
    assert.equal(await lapsing, 'lapsed');
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    for (const [at, expected] of [[9, []], [10, [10, 10]], [25, [10, 10, 20]], [30, [10, 10, 20, 30]], [45, [10, 10, 20, 30, 40]]] as const) {
      delivery.deliver(at, event(at));
      await settle();
      assert.deepEqual([...resolved].sort((a, b) => a - b), expected, `after delivering ${at}`);
    }
    await Promise.all(waits);
  });
});

describe('BackgroundTasks', () => {
  test('never runs a task twice at once, logs its failures, and stops', async () => {
    const { errors, logger } = quiet();
    const tasks = new BackgroundTasks('test', logger);
    let running = 0;
    let most = 0;
    let runs = 0;
    tasks.every(5, async () => {
      running += 1;
      runs += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running -= 1;
      throw new Error('task failed');
    });
    await new Promise((resolve) => setTimeout(resolve, 120));
    tasks.stop();
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(most, 1);
    assert.ok(runs >= 2, `ran ${runs} times`);
    assert.equal(runs, stoppedAt, 'no run after stop');
    assert.ok(errors.length >= 2);
  });
});
