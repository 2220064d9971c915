/**
 * The six-connection trap, in a real browser. Over HTTP/1.1 Chromium opens at most six
 * connections per origin, and an open EventSource keeps its connection for good: a page that
 * opens more streams than that leaves the rest waiting, without an error. Over HTTP/2 every
 * stream is one of many on a single connection, so one page holds all of them.
 *
 * One Chromium page, served by the hub itself (same origin, no CORS), opens 12 EventSource
 * streams to 12 topics; the test publishes one event to each. Over HTTPS (HTTP/2; the test
 * certificate is accepted by the browser context) all 12 receive theirs; over plain HTTP
 * (HTTP/1.1, a second hub: a hub with TLS serves only TLS) only six do, and the hub sees only six
 * streams open. The page is /healthz rather than the dashboard, whose own stats stream would take
 * one of the six.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeCertificate } from '../../src/cli/cert.js';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium, pageErrors } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { describeUnlessSkipped } from '../support/skip.js';

const STREAMS = 12;
/** Chromium's limit on HTTP/1.1 connections per origin (its socket pool's per-group maximum). */
const HTTP1_CONNECTIONS_PER_ORIGIN = 6;
/** How long the HTTP/1.1 page is given for events that will not come. */
const SETTLE_MS = 3000;

const topics = Array.from({ length: STREAMS }, (_, n) => `six/${n}`);

/**
 * Opens the page on the hub's origin, then one EventSource per topic. CSP does not apply to
 * page.evaluate; /healthz sends none anyway.
 */
async function openStreams(context: BrowserContext, hub: RunningHub): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors = pageErrors(page);
  const response = await page.goto(`${hub.url}/healthz`);
  assert.equal(response?.status(), 200);
  await page.evaluate((names) => {
    const state = window as unknown as { received: Record<string, string>; opened: Record<string, boolean>; sources: EventSource[] };
    state.received = {};
    state.opened = {};
    state.sources = names.map((topic) => {
      const source = new EventSource(`/topics/${topic}`);
      source.onopen = () => (state.opened[topic] = true);
      source.onmessage = (event) => (state.received[topic] = event.data);
      return source;
    });
  }, topics);
  return { page, errors };
}

const receivedIn = (page: Page): Promise<Record<string, string>> =>
  page.evaluate(() => (window as unknown as { received: Record<string, string> }).received);
const openedIn = (page: Page): Promise<number> =>
  page.evaluate(() => Object.keys((window as unknown as { opened: Record<string, boolean> }).opened).length);
/** The protocol the page itself was loaded over, as the browser reports it ("h2", "http/1.1"). */
const protocolOf = (page: Page): Promise<string> =>
  page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol);

async function publishToEach(hub: RunningHub): Promise<void> {
  for (const topic of topics) await hub.hub.publish([{ topic, data: `for ${topic}` }]);
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeUnlessSkipped('the six-connection limit, in Chromium', { skip: chromiumSkipReason() }, () => {
  let certDir: string;
  let browser: Browser;
  let context: BrowserContext;
  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'ssehub-six-'));
    browser = await launchChromium();
    // The test's self-signed certificate is accepted by this context only.
    context = await browser.newContext({ ignoreHTTPSErrors: true });
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  test('over HTTP/2 one page holds 12 EventSource streams, and each receives its event', async () => {
    const { certFile, keyFile } = await makeCertificate({ dir: certDir });
    const hub = await startTestHub({ tlsCertFile: certFile, tlsKeyFile: keyFile });
    try {
      const { page, errors } = await openStreams(context, hub);
      assert.equal(await protocolOf(page), 'h2');
      await waitFor(() => hub.hub.stats().connections === STREAMS, `${STREAMS} streams open at the hub`);
      await waitFor(async () => (await openedIn(page)) === STREAMS, `${STREAMS} EventSources open`);
      await publishToEach(hub);
      await waitFor(async () => Object.keys(await receivedIn(page)).length === STREAMS, `${STREAMS} events received`);
      assert.deepEqual(await receivedIn(page), Object.fromEntries(topics.map((topic) => [topic, `for ${topic}`])));
      assert.equal(hub.hub.stats().connections, STREAMS);
      // The browser's own request for /favicon.ico is a 404 on this page; nothing else may fail.
      assert.deepEqual(errors.filter((error) => !/status of 404/.test(error)), []);
      await page.close();
    } finally {
      await hub.close();
    }
  });

  test(`over HTTP/1.1 the same page gets ${HTTP1_CONNECTIONS_PER_ORIGIN} streams; the others wait for a connection`, async (t) => {
    const hub = await startTestHub();
    try {
      const { page } = await openStreams(context, hub);
      assert.equal(await protocolOf(page), 'http/1.1');
      await waitFor(() => hub.hub.stats().connections === HTTP1_CONNECTIONS_PER_ORIGIN, `${HTTP1_CONNECTIONS_PER_ORIGIN} streams open at the hub`);
      await publishToEach(hub);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const received = Object.keys(await receivedIn(page));
      t.diagnostic(`HTTP/1.1: ${received.length} of ${STREAMS} EventSources received their event; the hub saw ${hub.hub.stats().connections} streams`);
      assert.equal(received.length, HTTP1_CONNECTIONS_PER_ORIGIN, `received: ${received.join(', ')}`);
      assert.equal(await openedIn(page), HTTP1_CONNECTIONS_PER_ORIGIN);
      assert.equal(hub.hub.stats().connections, HTTP1_CONNECTIONS_PER_ORIGIN, 'streams opened beyond the per-origin limit');
      // The others were waiting, not failed: closing the open ones lets them connect.
      await page.evaluate((names) => {
        const state = window as unknown as { received: Record<string, string>; sources: EventSource[] };
        state.sources.forEach((source, n) => {
          if (state.received[names[n]!] !== undefined) source.close();
        });
      }, topics);
      await waitFor(async () => (await openedIn(page)) === STREAMS, 'the waiting EventSources to open');
      await waitFor(() => hub.hub.stats().connections === STREAMS - HTTP1_CONNECTIONS_PER_ORIGIN, 'the waiting streams at the hub');
      await page.close();
    } finally {
      await hub.close();
    }
  });
});
