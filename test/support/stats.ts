/** Reading a hub's GET /stats in tests, and waiting for it to reach a state. */
import assert from 'node:assert/strict';
import type { HubStats } from '../../src/hub/hub.js';
import { httpRequest } from './http.js';

/** The JSON of GET /stats: the hub's counters plus the engine and uptime. */
export type Stats = HubStats & { engine: string; uptimeSeconds: number };

export async function stats(hub: { url: string }): Promise<Stats> {
  const reply = await httpRequest(`${hub.url}/stats`);
  assert.equal(reply.status, 200, reply.text);
  return reply.json() as Stats;
}

export async function waitForStats(hub: { url: string }, predicate: (s: Stats) => boolean, what: string, timeoutMs = 10_000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await stats(hub);
    if (predicate(current)) return current;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stats: ${JSON.stringify(current)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
