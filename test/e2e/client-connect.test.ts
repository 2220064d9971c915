/**
 * connect() in real Chromium: the client bundled for the browser (its global WebSocket, not the `ws`
 * package), against an embedded hub on the page's own origin: publish with acks, events of other
 * publishers, and a resume after the connection dropped.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { createHub, type EmbeddedHub } from '../../src/index.js';
import { chromiumSkipReason, launchChromium, pageErrors } from '../support/browser.js';
import { describeUnlessSkipped } from '../support/skip.js';

const CLIENT = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
const HTML = '<!doctype html><meta charset="utf-8"><title>connect()</title><script type="module" src="/client.js"></script>';

describeUnlessSkipped('connect() in Chromium', { skip: chromiumSkipReason() }, () => {
  let hub: EmbeddedHub;
  let server: Server;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const sockets = new Set<Duplex>();

  before(async () => {
    const bundled = await build({ entryPoints: [CLIENT], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' });
    // The page gets the client as a global, as an app's bundle would give it to its code.
    const script = `${bundled.outputFiles[0]!.text.replace(/export\s*\{([^}]*)\};?\s*$/, (_all, names: string) => `window.ssehub = {${names.replace(/(\w+) as (\w+)/g, '$2: $1')}};`)}`;
    hub = await createHub({ logLevel: 'silent', presenceGraceMs: 100 });
    server = createServer((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(HTML);
      else if (req.url === '/favicon.ico') res.writeHead(204).end();
      else if (req.url === '/client.js') res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(script);
      else hub.handle(req, res, () => res.writeHead(404).end());
    });
    server.on('upgrade', (req, socket, head) => {
      sockets.add(socket);
      hub.upgrade(req, socket, head);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
    page = await browser.newPage();
    errors = pageErrors(page);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction('window.ssehub?.connect !== undefined');
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await hub?.close();
  });

  test('publishes with acks, receives every event once, and resumes after the connection dropped', async () => {
    // As text: this file's own functions would carry the test runner's transforms into the page.
    const published = (await page.evaluate(`(async () => {
      window.seen = [];
      window.hub = window.ssehub.connect({ url: location.origin, backoff: { initialDelayMs: 50, maxDelayMs: 200 } });
      window.hub.subscribe('room/1', { onEvent: (event) => window.seen.push(event.data) });
      return (await window.hub.publish('room/1', 'from the page')).id;
    })()`)) as string;
    assert.match(published, /\S/);
    await hub.publish('room/1', 'from the app');
    await page.waitForFunction('window.seen.length === 2');
    // The network drops the connection: the page reconnects and resumes from its last id.
    for (const socket of sockets) socket.destroy();
    await hub.publish('room/1', 'while away');
    await page.waitForFunction("window.seen.includes('while away')");
    await page.evaluate("window.hub.publish('room/1', 'after')");
    await page.waitForFunction("window.seen.includes('after')");
    assert.deepEqual(await page.evaluate('window.seen'), ['from the page', 'from the app', 'while away', 'after']);
    assert.deepEqual(errors, []);
  });
});
