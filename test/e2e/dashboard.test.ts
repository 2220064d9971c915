/**
 * The dashboard in a real Chromium against a real hub: its counters follow the hub's own
 * $ssehub/stats topic as clients connect and events flow; the publish panel publishes, the tail
 * panel shows what arrives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium, pageErrors, screenshot } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { mintToken } from '../../src/auth/tokens.js';
import { openStream, publish, type OpenStream } from '../support/http.js';
import { describeUnlessSkipped } from '../support/skip.js';

const numberIn = async (page: Page, selector: string): Promise<number> => Number((await page.textContent(selector))!.replace(/[^\d.]/g, ''));

describeUnlessSkipped('the dashboard', { skip: chromiumSkipReason() }, () => {
  let hub: RunningHub;
  let browser: Browser;
  before(async () => {
    hub = await startTestHub({ statsIntervalMs: 200, maxStreamsPerIp: 0 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await hub?.close();
  });

  test('counters move when clients connect and events flow', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(hub.url);
    await page.waitForSelector('#status.ok');
    // The page's own stats stream is a connection.
    await page.waitForFunction(() => Number(document.getElementById('connections')!.textContent) >= 1);
    const before = await numberIn(page, '#published-total');

    const streams: OpenStream[] = await Promise.all([1, 2, 3, 4, 5].map(() => openStream(`${hub.url}/topics/orders/1`)));
    await page.waitForFunction(() => Number(document.getElementById('connections')!.textContent) >= 6);
    await page.waitForSelector('#topics-body tr:has-text("orders/1")');
    const row = await page.textContent('#topics-body tr:has-text("orders/1") td.num');
    assert.equal(row, '5');

    for (let i = 0; i < 20; i++) await publish(hub.url, 'orders/1', `event ${i}`);
    await page.waitForFunction((target) => Number(document.getElementById('published-total')!.textContent!.replace(/[^\d]/g, '')) >= target, before + 20);
    await page.waitForFunction(() => Number(document.getElementById('delivered-total')!.textContent!.replace(/[^\d]/g, '')) >= 100);
    assert.equal(await page.textContent('#engine'), 'memory');
    await page.waitForFunction(() => document.querySelector('#chart .published')!.getAttribute('points')!.split(' ').length >= 2);
    await screenshot(page, 'dashboard');

    for (const stream of streams) stream.close();
    await page.waitForFunction(() => Number(document.getElementById('connections')!.textContent) === 1);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the publish panel publishes; the tail panel shows events of a pattern', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(hub.url);
    await page.fill('#tail-topic', 'panel/**');
    await page.click('#tail-form button[type=submit]');
    await page.waitForSelector('#tail-status.ok');

    await page.fill('#publish-topic', 'panel/a');
    await page.fill('#publish-event', '');
    await page.fill('#publish-data', 'from the publish panel');
    await page.click('#publish-form button[type=submit]');
    await page.waitForSelector('#publish-result:has-text("published panel/a")');
    await page.waitForSelector('#tail-log :text("from the publish panel")');

    // A named event from elsewhere, and a bad topic reported with the hub's error code.
    await publish(hub.url, 'panel/b/c', 'named one', { event: 'update' });
    await page.waitForSelector('#tail-log :text("named one")');
    await page.fill('#publish-topic', 'panel//bad');
    await page.click('#publish-form button[type=submit]');
    await page.waitForSelector('#publish-result:has-text("invalid_topic")');
    await screenshot(page, 'dashboard-panels');
    assert.deepEqual(errors.filter((error) => !error.includes('400')), []);
    await page.close();
  });

  test('thousands of topics are summarised: the busiest 20, and the total', async () => {
    const page = await browser.newPage();
    await page.goto(hub.url);
    await page.waitForSelector('#status.ok');
    const streams: OpenStream[] = [];
    for (let i = 0; i < 1500; i += 100) {
      streams.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => openStream(`${hub.url}/topics/many/${i + j}`)))));
    }
    streams.push(await openStream(`${hub.url}/topics/many/0`)); // the busiest: two subscribers
    await page.waitForFunction(() => Number(document.getElementById('topics-total')!.textContent!.replace(/[^\d]/g, '')) >= 1500);
    await page.waitForFunction(() => document.querySelector('#topics-body tr:first-child td.topic')?.textContent === 'many/0');
    assert.equal(await page.locator('#topics-body tr').count(), 20);
    assert.equal(await page.textContent('#topics-body tr:first-child td.num'), '2');
    await page.fill('#topic-filter', 'many/0');
    await page.waitForFunction(() => document.querySelectorAll('#topics-body tr').length === 1);
    for (const stream of streams) stream.close();
    await page.close();
  });

  test('readable on a phone: nothing overflows the viewport', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.goto(hub.url);
    await page.waitForSelector('#status.ok');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone's screen`);
    await screenshot(page, 'dashboard-phone');
    await page.close();
  });
});

describeUnlessSkipped('the dashboard on a hub that requires tokens', { skip: chromiumSkipReason() }, () => {
  test('applying the token again while a ticket is on its way leaves one stream, not one per click', async () => {
    const secret = 'dashboard-secret-dashboard-secret!';
    const hub = await startTestHub({ jwtSecret: secret, statsIntervalMs: 200, maxStreamsPerIp: 0 });
    const browser = await launchChromium();
    try {
      const token = await mintToken({ secret, lifetimeSeconds: 600, subscribe: ['$ssehub/stats'], subject: 'dashboard' });
      const page = await browser.newPage();
      await page.goto(hub.url);
      await page.fill('#token', token);
      // Five submits in one go: each restarts the stats stream, whose ticket request is still out.
      await page.evaluate(() => {
        const form = document.getElementById('token-form') as HTMLFormElement;
        for (let i = 0; i < 5; i++) form.requestSubmit();
      });
      await page.waitForSelector('#status.ok');
      await page.waitForFunction(() => Number(document.getElementById('connections')!.textContent) >= 1);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(hub.hub.stats().connections, 1, 'one stats stream for the page');
      await page.close();
    } finally {
      await browser.close();
      await hub.close();
    }
  });
});
