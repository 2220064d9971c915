import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter, StreamCounter } from '../../src/auth/limits.js';
import { HubError } from '../../src/errors.js';

describe('StreamCounter', () => {
  test('refuses past the maximum per key and takes slots back', () => {
    const counter = new StreamCounter(2, 'client IP');
    counter.acquire('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), (error: HubError) => error.status === 429 && error.code === 'too_many_streams');
    counter.acquire('ip2'); // other keys are unaffected
    counter.release('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), HubError);
    counter.release('ip1');
    counter.release('ip1');
    counter.release('ip1'); // more releases than slots held: the count stays at zero
    assert.equal(counter.keys, 1);
    counter.acquire('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), HubError);
  });

  test('0 means no limit', () => {
    const counter = new StreamCounter(0, 'client IP');
    for (let i = 0; i < 10_000; i++) counter.acquire('ip');
    assert.equal(counter.keys, 0);
  });
});

describe('RateLimiter', () => {
  test('allows a burst, then the rate, and answers Retry-After', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 20, () => now);
    limiter.take('alice', 20); // the whole burst at once
    assert.throws(
      () => limiter.take('alice', 1),
      (error: HubError) => error.status === 429 && error.code === 'rate_limited' && error.headers?.['Retry-After'] === '1',
    );
    limiter.take('bob', 5); // per key
    now += 500; // refills 5
    limiter.take('alice', 5);
    assert.throws(() => limiter.take('alice', 1), HubError);
    now += 3000; // refills 30, capped at the burst of 20
    limiter.take('alice', 20);
    assert.throws(() => limiter.take('alice', 15), (error: HubError) => error.headers?.['Retry-After'] === '2');
  });

  test('0 means no limit', () => {
    const limiter = new RateLimiter(0, 0);
    for (let i = 0; i < 1000; i++) limiter.take('x', 1000);
  });
});
