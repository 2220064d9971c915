/**
 * A Mercure page in a real Chromium, as Symfony's and API Platform's front ends are written: a page
 * of the app's origin (another port of 127.0.0.1, listed in --cors-origins) opens
 * `new EventSource(hub + '/.well-known/mercure?topic=…', { withCredentials: true })`, and the
 * browser sends the mercureAuthorization cookie it holds for the hub. The page gets public updates,
 * and private ones by the cookie's claims; a page of an unlisted origin gets nothing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { mercureToken, publishUpdate, subscribeUrl } from '../support/mercure.js';
import { describeUnlessSkipped } from '../support/skip.js';

const SECRET = 'e2e-mercure-secret-of-at-least-32-bytes!!';
const BOOKS = 'https://example.com/books/{id}';

/** The app's page: an EventSource on `?url=`, with what it receives and its errors kept on window. */
const PAGE = `<!doctype html><title>books</title><script>
  window.received = [];
  window.errors = 0;
  const source = new EventSource(new URLSearchParams(location.search).get('url'), { withCredentials: true });
  source.onopen = () => { document.title = 'open'; };
  source.onerror = () => { window.errors += 1; };
  source.onmessage = (event) => window.received.push({ id: event.lastEventId, data: event.data });
</script>`;

async function startApp(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describeUnlessSkipped('Mercure in a real browser, with the mercureAuthorization cookie', { skip: chromiumSkipReason() }, () => {
  let browser: Browser;
  let app: { server: Server; origin: string };
  let hub: RunningHub;
  let context: BrowserContext;
  before(async () => {
    browser = await launchChromium();
    app = await startApp();
    hub = await startTestHub({ mercure: true, jwtSecret: SECRET, corsOrigins: [app.origin] });
    context = await browser.newContext();
    const cookie = await mercureToken(SECRET, { subscribe: [BOOKS] });
    await context.addCookies([{ name: 'mercureAuthorization', value: cookie, domain: '127.0.0.1', path: '/.well-known/mercure', httpOnly: true, sameSite: 'Lax' }]);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await hub?.close();
    await new Promise((resolve) => app?.server.close(resolve));
  });

  test('a page of a listed origin gets public and private updates; the ids are the publish answers', async () => {
    const page = await context.newPage();
    await page.goto(`${app.origin}/?url=${encodeURIComponent(subscribeUrl(hub.url, [BOOKS]))}`);
    await page.waitForFunction(() => document.title === 'open');
    const publisher = { Authorization: `Bearer ${await mercureToken(SECRET, { publish: ['*'] })}` };
    const ids: string[] = [];
    for (const fields of [
      [['topic', 'https://example.com/books/1'], ['data', 'private'], ['private', 'on']],
      [['topic', 'https://example.com/users/1'], ['data', 'not a book']],
      [['topic', 'https://example.com/books/2'], ['data', 'public']],
    ] as const) {
      const reply = await publishUpdate(hub.url, fields.map(([name, value]) => [name, value]) as Array<['topic' | 'data' | 'private', string]>, publisher);
      assert.equal(reply.status, 200, reply.text);
      ids.push(reply.text);
    }
    await page.waitForFunction(() => (window as unknown as { received: unknown[] }).received.length >= 2);
    const received = await page.evaluate(() => (window as unknown as { received: Array<{ id: string; data: string }> }).received);
    assert.deepEqual(received, [
      { id: ids[0], data: 'private' },
      { id: ids[2], data: 'public' },
    ]);
    await page.close();
  });

  test('a page of an origin not in --cors-origins gets nothing: the stream fails in the browser', async () => {
    const stranger = await startApp();
    try {
      const page = await context.newPage();
      await page.goto(`${stranger.origin}/?url=${encodeURIComponent(subscribeUrl(hub.url, [BOOKS]))}`);
      await page.waitForFunction(() => (window as unknown as { errors: number }).errors > 0);
      const reply = await publishUpdate(hub.url, [['topic', 'https://example.com/books/3'], ['data', 'public']], { Authorization: `Bearer ${await mercureToken(SECRET, { publish: ['*'] })}` });
      assert.equal(reply.status, 200);
      assert.equal(await page.title(), 'books', 'the stream never opened');
      assert.deepEqual(await page.evaluate(() => (window as unknown as { received: unknown[] }).received), []);
      await page.close();
    } finally {
      await new Promise((resolve) => stranger.server.close(resolve));
    }
  });
});
