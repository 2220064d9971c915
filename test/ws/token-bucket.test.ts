/** The per-connection rate of ephemeral publishes: a burst of the rate, then the rate. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../src/ws/token-bucket.js';

test('a burst of `perSecond`, then one more each 1/perSecond seconds; none with a rate of 0', () => {
  let now = 0;
  const bucket = new TokenBucket(4, () => now);
  assert.deepEqual(Array.from({ length: 5 }, () => bucket.take()), [true, true, true, true, false]);
  now += 250;
  assert.deepEqual([bucket.take(), bucket.take()], [true, false]);
  now += 10_000;
  assert.equal(Array.from({ length: 10 }, () => bucket.take()).filter(Boolean).length, 4, 'no more than a burst is saved up');
  assert.equal(new TokenBucket(0, () => now).take(), false);
});
