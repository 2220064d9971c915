/** The waits between retries: doubling from the base, capped, with jitter between half and all. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RETRY_WAIT_MS, retryWait } from '../../src/webhooks/delivery.js';

test('retry waits double from the base, stay between half and all of the step, and stop growing at the cap', () => {
  assert.deepEqual([1, 2, 3, 4].map((retry) => retryWait(retry, 1000, () => 1)), [1000, 2000, 4000, 8000]);
  assert.deepEqual([1, 2, 3].map((retry) => retryWait(retry, 1000, () => 0)), [500, 1000, 2000]);
  assert.equal(retryWait(40, 1000, () => 1), MAX_RETRY_WAIT_MS);
  assert.equal(retryWait(1000, 1000, () => 0), MAX_RETRY_WAIT_MS / 2);
});
