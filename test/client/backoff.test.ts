import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff } from '../../src/client/backoff.js';

describe('Backoff (full jitter)', () => {
  test('the ceiling doubles per failure up to the cap; the wait is random below it', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => backoff.next()), [99, 199, 399, 799, 999, 999]);
    const low = new Backoff({ initialDelayMs: 100, random: () => 0 });
    assert.deepEqual([low.next(), low.next()], [0, 0]);
  });

  test('a Retry-After floor wins over a shorter random wait', () => {
    const backoff = new Backoff({ initialDelayMs: 100, random: () => 0.5 });
    assert.equal(backoff.next(3000), 3000);
    assert.equal(backoff.next(0), 100); // the curve still advanced: 0.5 * 200
  });

  test('reset() starts the curve over; setBase() moves it', () => {
    const backoff = new Backoff({ initialDelayMs: 100, random: () => 0.5 });
    backoff.next();
    backoff.next();
    assert.equal(backoff.attempt, 2);
    backoff.reset();
    backoff.setBase(4000);
    assert.equal(backoff.next(), 2000);
  });

  test('a server cannot make it spin (retry: 0) nor stall it past the cap (Retry-After: a day)', () => {
    const backoff = new Backoff({ initialDelayMs: 1000, maxDelayMs: 30_000, random: () => 0.5 });
    backoff.setBase(0);
    assert.equal(backoff.next(), 50); // half of the 100 ms minimum
    assert.equal(backoff.next(86_400_000), 30_000);
  });
});
