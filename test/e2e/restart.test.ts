/**
 * The browser's own resume: a page with a native EventSource stays open while the hub process is
 * killed and started again (on Redis, so history survives). Events published before, during the
 * outage's aftermath and after all show up exactly once: EventSource reconnects by itself and sends
 * Last-Event-ID, and the hub replays what the page missed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { chromiumSkipReason, launchChromium, screenshot } from '../support/browser.js';
import { spawnHub, type HubProcess, freePort } from '../support/hub.js';
import { publish } from '../support/http.js';
import { redisService } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const redis = await redisService();
const running: HubProcess[] = [];
after(async () => {
  await Promise.allSettled(running.map((hub) => hub.stop()));
});

const notify = (url: string, text: string) =>
  publish(url, 'demo/notifications', JSON.stringify({ text }), { event: 'notification', type: 'application/json' });

describeUnlessSkipped('a page across a hub restart', { skip: chromiumSkipReason() ?? redis.skipReason() }, () => {
  test('every notification exactly once, through the browser\'s own Last-Event-ID resume', { timeout: 60_000 }, async () => {
    assert.ok(redis.reachable, `Redis is not reachable at ${redis.url}`);
    const port = await freePort();
    // A long retry: the page stays away long enough for events to be published without it.
    const args = ['--port', String(port), '--engine', redis.url, '--namespace', `e${randomBytes(5).toString('hex')}`, '--retry', '3s'];
    let hub = await spawnHub(args);
    running.push(hub);
    const url = `http://127.0.0.1:${port}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${url}/demos/notifications`);
      await waitForStreams(url, 1);
      for (let i = 0; i < 5; i++) assert.equal((await notify(url, `n${i}`)).status, 201);
      await page.waitForFunction(() => document.querySelectorAll('#notifications li').length === 5);

      hub.child.kill('SIGKILL');
      await hub.exited;
      hub = await spawnHub(args);
      running.push(hub);
      // Published while the page is still waiting to reconnect: it can only get these by resuming.
      for (let i = 5; i < 10; i++) assert.equal((await notify(url, `n${i}`)).status, 201);
      await waitForStreams(url, 1, 15_000);
      for (let i = 10; i < 15; i++) assert.equal((await notify(url, `n${i}`)).status, 201);

      await page.waitForFunction(() => document.querySelectorAll('#notifications li').length >= 15, undefined, { timeout: 15_000 });
      await new Promise((resolve) => setTimeout(resolve, 300)); // room for a duplicate to show up
      const texts = await page.$$eval('#notifications li', (items) => items.map((item) => item.textContent).reverse());
      assert.deepEqual(texts, Array.from({ length: 15 }, (_, i) => `n${i}`));
      await screenshot(page, 'restart-notifications');
    } finally {
      await browser.close();
    }
  });
});

/** Waits until the hub counts this many open streams (the page reconnected). */
async function waitForStreams(url: string, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await fetch(`${url}/stats`).then((reply) => reply.json() as Promise<{ connections: number }>);
    if (stats.connections >= count) return;
    if (Date.now() > deadline) throw new Error(`the hub never counted ${count} streams`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
