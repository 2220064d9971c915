/** Waiting on an event rather than the clock: polls until a condition holds, or fails naming what it waited for. */
import assert from 'node:assert/strict';

/** Resolves once `condition` holds (checked every `intervalMs`); fails after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Reads until `ok(value)` holds and returns that value; fails after `timeoutMs`, showing the last value read. */
export async function untilValue<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await read();
  }
  return value;
}
