/**
 * The dashboard in a real Chromium against real hubs: its counters follow the hub's own
 * $ssehub/stats topic as clients connect and events flow; the charts start with the minute before
 * the page opened; the publish panel publishes, the tail panel shows every event that arrives, or
 * the hub's error; two instances on Redis show on one page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium, pageErrors, screenshot } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { mintToken } from '../../src/auth/tokens.js';
import { httpRequest, openStream, publish, type OpenStream } from '../support/http.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { redisService } from '../support/services.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';

/** The figure a "peak 12.5/s" caption states. */
const peakOf = (id: string): number => Number(/peak ([\d.,]+)/.exec(document.getElementById(id)!.textContent!)?.[1]?.replace(/,/g, '') ?? 0);

/**
 * Where a chart's line peaks, as a share of its plot's height (1: at the top of its scale), and
 * its axis labels.
 */
function chartShape(id: string): { peakHeight: number; yLabels: string[]; timeLabels: string[] } {
  const svg = document.getElementById(id)!;
  const gridYs = [...svg.querySelectorAll('line.grid')].map((line) => Number(line.getAttribute('y1')));
  const top = Math.min(...gridYs);
  const bottom = Math.max(...gridYs);
  const ys = [...svg.querySelectorAll('polyline.line')].flatMap((line) => line.getAttribute('points')!.split(' ').map((point) => Number(point.split(',')[1])));
  return {
    peakHeight: (bottom - Math.min(...ys)) / (bottom - top),
    yLabels: [...svg.querySelectorAll('text.tick.y')].map((text) => text.textContent!),
    timeLabels: [...svg.querySelectorAll('text.tick.x')].map((text) => text.textContent!),
  };
}

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
    await page.waitForFunction(() => (document.querySelector('#chart-published polyline')?.getAttribute('points')?.split(' ').length ?? 0) >= 2);
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

  test('the tail panel shows every event, whatever its name', async () => {
    const page = await browser.newPage();
    await page.goto(hub.url);
    await page.fill('#tail-topic', 'names/**');
    await page.click('#tail-form button[type=submit]');
    await page.waitForSelector('#tail-status.ok');
    await publish(hub.url, 'names/a', 'a name no list holds', { event: 'zz-made-up' });
    await publish(hub.url, 'names/b', 'no name at all');
    await page.waitForSelector('#tail-log div:has-text("a name no list holds")');
    await page.waitForSelector('#tail-log div:has-text("no name at all")');
    assert.match((await page.textContent('#tail-log div:has-text("a name no list holds") .event-name'))!, /zz-made-up/);
    assert.match((await page.textContent('#tail-log div:has-text("no name at all") .event-name'))!, /message/);
    await page.close();
  });

  test("an invalid pattern shows the hub's error code and message, and is not retried", async () => {
    const page = await browser.newPage();
    const tries: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/events?') && request.url().includes('bad')) tries.push(request.url());
    });
    await page.goto(hub.url);
    await page.fill('#tail-topic', 'tail//bad');
    await page.click('#tail-form button[type=submit]');
    await page.waitForSelector('#tail-status.bad:has-text("invalid_topic")');
    assert.match((await page.textContent('#tail-status'))!, /^400 invalid_topic: \S/, 'the status, the code and the message');
    assert.equal(await page.isDisabled('#tail-stop'), true, 'nothing left to stop');
    // A good tail opened and live afterwards: by then a retry of the bad one would have gone out.
    await page.fill('#tail-topic', 'tail/good');
    await page.click('#tail-form button[type=submit]');
    await page.waitForSelector('#tail-status.ok');
    await publish(hub.url, 'tail/good', 'after the error');
    await page.waitForSelector('#tail-log div:has-text("after the error")');
    assert.equal(tries.length, 1, tries.join('\n'));
    await page.close();
  });

  test("clicking a topic shows its recent events: what the hub retains, then live ones", async () => {
    const listener = await openStream(`${hub.url}/topics/recent/x`); // puts it in the topic list
    for (const text of ['earlier one', 'earlier two', 'earlier three']) await publish(hub.url, 'recent/x', text, { event: 'update' });
    const page = await browser.newPage();
    await page.goto(hub.url);
    // The list is not rebuilt while it stays the same (a row replaced between press and release loses the click).
    // Once the minute of stats replayed on load is drawn: the page's own stats stream and the listener.
    await page.waitForFunction(() => [...document.querySelectorAll('#topics-body button')].map((button) => button.textContent).join() === '$ssehub/stats,recent/x');
    await page.evaluate(() => ((document.querySelector('#topics-body button') as HTMLElement).dataset.mark = 'kept'));
    const published = await numberIn(page, '#published-total');
    await publish(hub.url, 'elsewhere/no-subscriber', 'moves the counters');
    await page.waitForFunction((before) => Number(document.getElementById('published-total')!.textContent!.replace(/[^\d]/g, '')) > before, published);
    assert.equal(await page.locator('#topics-body button[data-mark="kept"]').count(), 1, 'the same rows after a render');
    await page.click('#topics-body button:text-is("recent/x")');
    await page.waitForSelector('#tail-status.ok');
    for (const text of ['earlier one', 'earlier two', 'earlier three']) await page.waitForSelector(`#tail-log div:has-text("${text}")`);
    await publish(hub.url, 'recent/x', 'a live one');
    await page.waitForSelector('#tail-log div:has-text("a live one")');
    assert.deepEqual(
      await page.locator('#tail-log div').evaluateAll((lines) => lines.map((line) => line.lastChild!.textContent)),
      ['earlier one', 'earlier two', 'earlier three', 'a live one'],
      'in order, each once, and no control event',
    );
    assert.equal(await page.inputValue('#tail-topic'), 'recent/x');
    listener.close();
    await page.close();
  });

  test('an open hub needs no token: the token panel stays hidden', async () => {
    const page = await browser.newPage();
    const statsAnswered = page.waitForResponse((response) => new URL(response.url()).pathname === '/stats');
    await page.goto(hub.url);
    assert.equal((await statsAnswered).status(), 200);
    await page.waitForSelector('#status.ok');
    assert.equal(await page.isVisible('#token-panel'), false);
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
    // The busiest first: many/0 with its two subscribers ahead of every topic with one (the
    // dashboard's own $ssehub/stats may tie with it while a page of an earlier test is closing).
    const rows = () => [...document.querySelectorAll('#topics-body tr')].map((tr) => ({ topic: tr.querySelector('td.topic')!.textContent, count: Number(tr.querySelector('td.num')!.textContent) }));
    await page.waitForFunction(`(${rows.toString()})().some((row, i, all) => row.topic === 'many/0' && row.count === 2 && all.slice(0, i).every((before) => before.count >= 2))`);
    assert.equal(await page.locator('#topics-body tr').count(), 20);
    const shown = await page.evaluate(rows);
    assert.deepEqual(shown.map((row) => row.count), shown.map((row) => row.count).sort((a, b) => b - a), 'by subscribers, most first');
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

describeUnlessSkipped('the dashboard charts', { skip: chromiumSkipReason() }, () => {
  test('start with the minute before the page opened, with value and time axes, published and delivered each on its own scale', async () => {
    const hub = await startTestHub({ statsIntervalMs: 200, maxStreamsPerIp: 0 });
    const browser = await launchChromium();
    try {
      // Traffic before the page exists: four streams on a topic, twelve events to it.
      const streams = await Promise.all([1, 2, 3, 4].map(() => openStream(`${hub.url}/topics/seed/a`)));
      const stats = await openStream(`${hub.url}/topics/$ssehub/stats`);
      // A report from before the events, so that the retained reports hold the step they make (a
      // hub slow to send its first report counted all of them in it, and no rate was left to draw).
      await stats.waitUntil(() => stats.events.some((e) => e.type === 'stats'), 10_000, 'a report before the events');
      for (let i = 0; i < 12; i++) await publish(hub.url, 'seed/a', `event ${i}`);
      await Promise.all(streams.map((stream) => stream.waitForEvents(12, 10_000)));
      // Two stats events that counted them: a rate exists in what the hub retains.
      const reports = () => stats.events.filter((e) => e.type === 'stats' && JSON.parse(e.data).eventsDelivered >= 48).length;
      await stats.waitUntil(() => reports() >= 2, 10_000, 'stats that counted the events');
      stats.close();

      // Nothing is published once the page is open: only the retained stats can show the traffic.
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(hub.url);
      await page.waitForFunction(peakOf, 'chart-published-peak');
      await page.waitForFunction(peakOf, 'chart-delivered-peak');
      const published = await page.evaluate(chartShape, 'chart-published');
      const delivered = await page.evaluate(chartShape, 'chart-delivered');
      for (const chart of [published, delivered]) {
        assert.equal(chart.yLabels.length, 3, 'zero, half and the top of the scale');
        assert.equal(chart.yLabels[0], '0.0');
        assert.ok(chart.yLabels.every((label) => /^[\d.,]+$/.test(label)), chart.yLabels.join(' '));
        assert.ok(chart.timeLabels.length >= 3, 'a label every 15 s');
        assert.ok(chart.timeLabels.every((label) => /^\d\d:\d\d:\d\d$/.test(label)), chart.timeLabels.join(' '));
        // Each line fills its own scale: on a shared one, published (a quarter of delivered) would lie low.
        assert.ok(chart.peakHeight >= 0.45, `the line peaks at ${chart.peakHeight} of its chart`);
      }
      const peaks = await page.evaluate(() => [document.getElementById('chart-published-peak')!.textContent, document.getElementById('chart-delivered-peak')!.textContent]);
      assert.notEqual(peaks[0], peaks[1], 'four streams: delivered is four times published');
      assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('#chart-published polyline')!).strokeDasharray !== 'none'), true, 'published is dashed');
      await screenshot(page, 'dashboard-charts');
      assert.deepEqual(errors, []);
      for (const stream of streams) stream.close();
      await page.close();
    } finally {
      await browser.close();
      await hub.close();
    }
  });
});

const redis = await redisService();

describeUnlessSkipped('the dashboard of a cluster (two hubs on Redis)', { skip: chromiumSkipReason() ?? redis.skipReason() }, () => {
  test('one page shows every instance: id, engine, uptime, connections, rates and latency', async () => {
    const namespace = freshNamespace('dash');
    const [a, b] = await Promise.all([0, 1].map(() => startTestHub({ engine: redis.url, namespace, statsIntervalMs: 200, maxStreamsPerIp: 0 })));
    const browser = await launchChromium();
    try {
      const [idA, idB] = await Promise.all([a!, b!].map(async (hub) => (await httpRequest(`${hub.url}/stats`)).json().instance as string));
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(a!.url); // the page's stream is on A; B's figures reach it through Redis
      const streams = await Promise.all([1, 2, 3].map(() => openStream(`${b!.url}/topics/cluster/b`)));
      await page.waitForFunction(() => document.querySelectorAll('#instances-body tr').length === 2);
      await page.waitForSelector(`#instances-body tr[data-instance="${idB}"] td.connections:text-is("3")`);
      await page.waitForSelector(`#instances-body tr[data-instance="${idA}"] td.connections:text-is("1")`);
      for (const id of [idA, idB]) assert.equal(await page.textContent(`#instances-body tr[data-instance="${id}"] td:nth-child(2)`), 'redis');
      assert.equal(await page.textContent('#instances'), '2 instances');

      // Events published on A reach B's streams: B's row shows its delivery rate and latency.
      for (let i = 0; i < 10; i++) await publish(a!.url, 'cluster/b', `event ${i}`);
      await Promise.all(streams.map((stream) => stream.waitForEvents(10, 10_000)));
      const row = `#instances-body tr[data-instance="${idB}"]`;
      await page.waitForFunction((selector) => document.querySelector(`${selector} td.p50`)?.textContent!.endsWith(' ms'), row);
      await page.waitForFunction((selector) => document.querySelector(`${selector} td.p99`)?.textContent!.endsWith(' ms'), row);
      await page.waitForFunction((selector) => Number(document.querySelector(`${selector} td.delivered`)?.textContent) > 0, row);
      assert.match((await page.textContent(`${row} td:nth-child(3)`))!, /^\d+s$/, 'uptime');
      await page.waitForFunction(() => document.getElementById('latency')!.textContent!.endsWith(' ms'));
      await screenshot(page, 'dashboard-cluster');
      for (const stream of streams) stream.close();
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await browser.close();
      await Promise.all([a!.close(), b!.close()]);
      await removeNamespace('redis', redis.url, namespace);
    }
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
      await page.waitForSelector('#token-panel', { state: 'visible' }); // the hub requires tokens
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

  test("tailing a topic lists its members, and follows joins and leaves live", async () => {
    const secret = 'dashboard-secret-dashboard-secret!';
    const hub = await startTestHub({ jwtSecret: secret, statsIntervalMs: 200, maxStreamsPerIp: 0, presence: ['room/**'], presenceGraceMs: 200 });
    const browser = await launchChromium();
    const streams: OpenStream[] = [];
    try {
      const member = async (subject: string, name?: string) => {
        const token = await mintToken({ secret, lifetimeSeconds: 600, subscribe: ['room/**'], subject, ...(name ? { presence: { name } } : {}) });
        const stream = await openStream(`${hub.url}/topics/room/1`, { Authorization: `Bearer ${token}` });
        streams.push(stream);
        return stream;
      };
      await member('bob');
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(hub.url);
      await page.fill('#token', await mintToken({ secret, lifetimeSeconds: 600, subscribe: ['$ssehub/stats', 'room/**'], subject: 'operator' }));
      await page.click('#token-form button');
      await page.fill('#tail-topic', 'room/1');
      await page.click('#tail-form button[type=submit]');
      await page.waitForSelector('#tail-members', { state: 'visible' });
      // bob was there; the operator's own tail stream is a member too.
      await page.waitForFunction(() => document.getElementById('tail-members-list')!.textContent === 'bob, operator');
      const alice = await member('alice', 'Alice');
      await page.waitForFunction(() => document.getElementById('tail-members-list')!.textContent === 'Alice, bob, operator');
      await page.waitForSelector('#tail-log div:has-text("ssehub.join")');
      alice.close();
      await page.waitForFunction(() => document.getElementById('tail-members-list')!.textContent === 'bob, operator');
      await page.waitForSelector('#tail-log div:has-text("ssehub.leave")');
      assert.equal(await page.textContent('#tail-members-count'), '2');
      // A pattern has no members: the line is hidden.
      await page.fill('#tail-topic', 'room/*');
      await page.click('#tail-form button[type=submit]');
      await page.waitForSelector('#tail-members', { state: 'hidden' });
      // Before the token is given, the hub refuses the page's stats (401): expected, and nothing else.
      assert.deepEqual(errors.filter((error) => !error.includes('status of 401')), []);
      await page.close();
    } finally {
      for (const stream of streams) stream.close();
      await browser.close();
      await hub.close();
    }
  });
});
