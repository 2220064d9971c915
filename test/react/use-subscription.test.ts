/**
 * useSubscription in real Chromium: a page bundled with React (StrictMode) and the hook, served
 * with an embedded hub from one origin. What a user of a single-page app relies on: events arrive
 * while a component is mounted, and unmounting it closes its stream, every time.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { createHub, type EmbeddedHub } from '../../src/index.js';
import { chromiumSkipReason, launchChromium, pageErrors } from '../support/browser.js';
import type { ProbePage, Rendered } from './page.js';

const PAGE_ENTRY = fileURLToPath(new URL('./page.tsx', import.meta.url));
const HTML = '<!doctype html><meta charset="utf-8"><title>useSubscription</title><div id="root"></div><script type="module" src="/page.js"></script>';

/** React, the hook and the client in one file, for the browser (React's development build: StrictMode runs every effect twice). */
async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [PAGE_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"development"' },
  });
  return result.outputFiles[0]!.text;
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The probe's last render. */
const rendered = (page: Page): Promise<Rendered | undefined> => page.evaluate(() => window.probe.renders().at(-1));
const call = <K extends keyof ProbePage>(page: Page, method: K, ...args: Parameters<ProbePage[K]>): Promise<unknown> =>
  page.evaluate(({ method, args }) => (window.probe[method] as (...a: unknown[]) => unknown)(...args), { method, args: args as unknown[] });

describe('useSubscription in Chromium', { skip: chromiumSkipReason() }, () => {
  let hub: EmbeddedHub;
  let server: Server;
  let url: string;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const streams = (): number => hub.hub.stats().connections;

  before(async () => {
    const script = await bundlePage();
    hub = await createHub({ logLevel: 'silent', maxStreamsPerIp: 0 });
    server = createServer((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(HTML);
      else if (req.url === '/favicon.ico') res.writeHead(204).end();
      else if (req.url === '/page.js') res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(script);
      else hub.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    page = await browser.newPage();
    errors = pageErrors(page);
    await page.goto(`${url}/`);
    await page.waitForFunction(() => window.probe !== undefined);
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await hub?.close();
  });

  test('mounted and unmounted 100 times: events arrive while mounted, and the hub is left with no stream', async () => {
    for (let i = 0; i < 100; i++) {
      const topic = `rooms/${i}`;
      await call(page, 'mount', { topics: topic, keep: 2 });
      // Every other time the component goes away while its request is still on its way.
      if (i % 2 === 0) {
        await waitFor(async () => (await rendered(page))?.status === 'open', `mount ${i}: open`);
        // StrictMode subscribed twice: the first subscription is closed, one stream stays.
        await waitFor(() => streams() === 1, `mount ${i}: one stream at the hub, not ${streams()}`);
        await hub.publish(topic, `hello ${i}`);
        await waitFor(async () => (await rendered(page))?.lastData === `hello ${i}`, `mount ${i}: the event`);
      }
      await call(page, 'unmount');
    }
    await waitFor(() => streams() === 0, `no stream left at the hub, not ${streams()}`);
    assert.deepEqual(errors, []);
  });

  test('states: connecting, then open; the last events kept; a new topic resubscribes from a clean state', async () => {
    await call(page, 'mount', { topics: 'states/a', keep: 2 });
    await waitFor(async () => (await rendered(page))?.status === 'open', 'open');
    await waitFor(() => streams() === 1, 'one stream');
    const renders = await page.evaluate(() => window.probe.renders());
    assert.equal(renders[0]!.status, 'connecting');
    for (const data of ['one', 'two', 'three']) await hub.publish('states/a', data);
    await waitFor(async () => (await rendered(page))?.lastData === 'three', 'three events');
    assert.deepEqual((await rendered(page))!.events, ['two', 'three']);

    const before = (await page.evaluate(() => window.probe.renders())).length;
    await call(page, 'update', { topics: 'states/b', keep: 2 });
    const first = (await page.evaluate(() => window.probe.renders()))[before];
    assert.deepEqual(first, { status: 'connecting', lastData: null, events: [], reset: null, error: null }, 'the first render for the new topic');
    await waitFor(async () => (await rendered(page))?.status === 'open', 'open on the new topic');
    await waitFor(() => streams() === 1, 'the old topic’s stream closed');
    await hub.publish('states/a', 'not for b');
    await hub.publish('states/b', 'for b');
    await waitFor(async () => (await rendered(page))?.lastData === 'for b', 'the new topic’s event');
    assert.deepEqual((await rendered(page))!.events, ['for b']);
    await call(page, 'unmount');
    await waitFor(() => streams() === 0, 'no stream left');
  });

  test('the reset signal: resuming from an id this hub cannot place', async () => {
    await call(page, 'mount', { topics: 'states/reset', lastEventId: 'zzzzzzzz-1' });
    await waitFor(async () => (await rendered(page))?.reset !== null, 'a reset');
    assert.equal((await rendered(page))!.reset, 'unknown-id');
    await call(page, 'unmount');
  });

  test('a refusal is status error, closed for good', async () => {
    await call(page, 'mount', { topics: '$nope/x' });
    await waitFor(async () => (await rendered(page))?.status === 'error', 'error');
    assert.match((await rendered(page))!.error!, /^HubResponseError: invalid selector/);
    await call(page, 'unmount');
    await waitFor(() => streams() === 0, 'no stream left');
    assert.deepEqual(errors.splice(0), ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });

  test('the example component of examples/react shows the order’s status', async () => {
    await call(page, 'mountExample', '42');
    await waitFor(() => streams() === 1, 'the example’s stream');
    await hub.publish('orders/42', { status: 'paid', at: '12:00' }, { event: 'status' });
    await page.waitForFunction(() => document.querySelector('h2')?.textContent === 'Order 42: paid');
    await call(page, 'unmount');
    await waitFor(() => streams() === 0, 'no stream left');
    assert.deepEqual(errors, []);
  });
});
