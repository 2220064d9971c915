/**
 * The README's tour runs as written: its shell blocks and their outputs as test/docs/blocks.ts
 * describes, against a hub in this process, and its browser snippet:
 *
 *   ```js run browser      pasted into the console of a page on another local origin (a
 *                          development server's), in Chromium, against a hub with npm start's
 *                          settings; the test then publishes an `update` to orders/42 and waits
 *                          for the page to log it. On an origin the hub does not allow, it must
 *                          log `stream refused`
 *
 * Blocks without `run` (the Express app, the typed client) are type-checked by
 * typescript.test.ts; examples/ and test/examples/ run the apps.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { startScriptServeArgs } from '../support/start-script.js';
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
    // The hub as `npm start` runs it, as the tour says.
    running = await startTestHub({ corsOrigins: loadConfig(startScriptServeArgs(), {}).corsOrigins });
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

  /**
   * Pastes the snippet into the console of a page of a development server on `host` (another
   * origin than the hub's: another port, or another host) in Chromium, and runs `then` with what
   * the page logs. The test keeps a handle on the snippet's `source` (window.readmeSource).
   */
  async function snippetOnPage(host: string, then: (page: Page, logged: string[]) => Promise<void>): Promise<void> {
    const snippet = fences().find((fence) => fence.info === 'js run browser');
    assert.ok(snippet, 'a js run browser block');
    const server = createServer((_request, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>app</title>'));
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const logged: string[] = [];
      page.on('console', (message) => logged.push(message.text()));
      await page.goto(`http://${host}:${(server.address() as AddressInfo).port}`);
      await page.evaluate(`${session.adapt(snippet.body)}\nwindow.readmeSource = source;`);
      await then(page, logged);
    } finally {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  test('its browser snippet, pasted into a page of another local origin, logs an update', { skip: chromiumSkipReason() }, async () => {
    const before = await openStreams();
    await snippetOnPage('127.0.0.1', async (page, logged) => {
      await page.waitForFunction('window.readmeSource.readyState === EventSource.OPEN', undefined, { timeout: 10_000 });
      await until(async () => (await openStreams()) > before, 'the snippet\'s stream to open');
      const published = await fetch(`${url}/topics/orders/42?event=update`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"status":"delivered"}',
      });
      const { id } = (await published.json()) as { id: string };
      await until(() => logged.some((line) => line.startsWith('order') && line.includes(id)), `the page to log the update: ${JSON.stringify(logged)}`);
    });
  });

  test('its browser snippet, on an origin the hub does not allow, logs "stream refused"', { skip: chromiumSkipReason() }, async () => {
    // 127.0.0.2 is this machine too, but not an origin npm start allows.
    await snippetOnPage('127.0.0.2', async (_page, logged) => {
      await until(() => logged.includes('stream refused'), `the page to log the refusal: ${JSON.stringify(logged)}`);
    });
  });
});
