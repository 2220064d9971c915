/**
 * The README's tour runs as written: its shell blocks and their outputs as test/docs/blocks.ts
 * describes, against a hub in this process, and its browser snippet:
 *
 *   ```js run browser      pasted into the console of the hub's own page (http://127.0.0.1:8080/)
 *                          in Chromium; the test then publishes an `update` to orders/42 and
 *                          waits for the page to log it
 *
 * Blocks without `run` (the Express app, the typed client) are type-checked by
 * typescript.test.ts; examples/ and test/examples/ run the apps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import type { RunningHub } from '../../src/start.js';
import { Session } from './blocks.js';

describe('the README tour', () => {
  let running: RunningHub;
  let url: string;
  let session: Session;
  const fences = () => session.fences;
  const openStreams = async (): Promise<number> => ((await (await fetch(`${url}/stats`)).json()) as { connections: number }).connections;

  async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await condition()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  before(async () => {
    running = await startTestHub();
    url = running.url;
    session = await Session.open('README.md', Number(new URL(url).port));
    session.streamsOpen = openStreams;
  });

  after(async () => {
    await session.close();
    await running.close();
  });

  test('has runnable blocks', () => {
    assert.ok(fences().filter((fence) => fence.info.startsWith('sh run')).length >= 5);
  });

  test('its shell blocks print what it says', async () => {
    for (const block of fences()) await session.block(block);
  });

  test('its browser snippet, pasted into the hub\'s own page, logs an update', { skip: chromiumSkipReason() }, async () => {
    const snippet = fences().find((fence) => fence.info === 'js run browser');
    assert.ok(snippet, 'a js run browser block');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const logged: string[] = [];
      page.on('console', (message) => logged.push(message.text()));
      await page.goto(`${url}/`);
      const before = await openStreams();
      // The dashboard opens its own stream as the page loads, perhaps after `before` was read: so
      // the count alone cannot tell that the snippet's stream is open. Its readyState can: the test
      // keeps a handle on the snippet's `source` to read it.
      await page.evaluate(`${snippet.body}\nwindow.readmeSource = source;`);
      await page.waitForFunction('window.readmeSource.readyState === EventSource.OPEN', undefined, { timeout: 10_000 });
      await until(async () => (await openStreams()) > before, 'the snippet\'s stream to open');
      const published = await fetch(`${url}/topics/orders/42?event=update`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"status":"delivered"}',
      });
      const { id } = (await published.json()) as { id: string };
      await until(() => logged.some((line) => line.startsWith('order') && line.includes(id)), `the page to log the update: ${JSON.stringify(logged)}`);
    } finally {
      await browser.close();
    }
  });
});
