/**
 * The four demos in a real Chromium against a real hub (started with its demos on): each reaches
 * its end state, and a notification sent from one tab appears in another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { cannedReply } from '../../src/demos/chat.js';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium, pageErrors, screenshot } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { publish } from '../support/http.js';
import { describeUnlessSkipped } from '../support/skip.js';

describeUnlessSkipped('the demos', { skip: chromiumSkipReason() }, () => {
  let hub: RunningHub;
  let browser: Browser;
  before(async () => {
    hub = await startTestHub({ demos: true, presenceGraceMs: 200 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await hub?.close();
  });

  test('job progress: three jobs fill their bars to 100 and say done', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(`${hub.url}/demos/jobs`);
    await page.click('#start');
    await page.waitForFunction(() => document.querySelectorAll('#jobs li').length === 3);
    // Mid-way, the bars move independently.
    await page.waitForFunction(() => [...document.querySelectorAll('#jobs progress')].some((bar) => (bar as HTMLProgressElement).value > 0));
    await page.waitForFunction(() => [...document.querySelectorAll('#jobs .state')].every((state) => state.textContent === 'done'), undefined, { timeout: 15_000 });
    const values = await page.$$eval('#jobs progress', (bars) => bars.map((bar) => (bar as HTMLProgressElement).value));
    assert.deepEqual(values, [100, 100, 100]);
    await screenshot(page, 'demo-jobs');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('log tail: the lines of a real server-side process, stdout and stderr, then its exit code', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(`${hub.url}/demos/logs`);
    await page.click('#start');
    await page.waitForSelector('#status:has-text("exited with code 0")', { timeout: 20_000 });
    const lines = await page.$$eval('#log div', (divs) => divs.map((div) => [div.className, div.textContent]));
    assert.ok(lines.length >= 10, `only ${lines.length} lines`);
    assert.ok(lines.some(([stream]) => stream === 'stderr'), 'stderr lines are shown');
    assert.ok(lines.some(([stream]) => stream === 'stdout'), 'stdout lines are shown');
    assert.equal(new Set(lines.map(([, text]) => text)).size, lines.length, 'no line twice');
    // The log follows its end.
    const atBottom = await page.$eval('#log', (log) => log.scrollTop + log.clientHeight >= log.scrollHeight - 4);
    assert.ok(atBottom, 'the log scrolled to its last line');
    await screenshot(page, 'demo-logs');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('notifications: sent from a second tab, the first tab\'s bell ticks', async () => {
    const context = await browser.newContext();
    const first = await context.newPage();
    const second = await context.newPage();
    const errors = [...pageErrors(first)];
    await first.goto(`${hub.url}/demos/notifications`);
    await second.goto(`${hub.url}/demos/notifications`);
    // Both tabs are subscribed once the hub counts their streams.
    await waitForConnections(hub, 2);
    await second.fill('#message', 'Your order has shipped');
    await second.click('#send button');
    await first.waitForSelector('#unread:not([hidden])');
    assert.equal(await first.textContent('#unread'), '1');
    await first.waitForSelector('#notifications li.unread:has-text("Your order has shipped")');
    // A notification from a server (here plain HTTP) ticks it again.
    await publish(hub.url, 'demo/notifications', JSON.stringify({ text: 'Payment received' }), { event: 'notification', type: 'application/json' });
    await first.waitForFunction(() => document.getElementById('unread')!.textContent === '2');
    await screenshot(first, 'demo-notifications');
    await first.click('#bell');
    assert.equal(await first.isHidden('#unread'), true);
    assert.equal(await first.locator('#notifications li.unread').count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('chat over WebSocket: members listed, typing shown, messages exchanged; the model\'s reply grows word by word', async () => {
    const alice = await browser.newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors = [...pageErrors(alice), ...pageErrors(bob)];
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await page.goto(`${hub.url}/demos/chat`);
      await page.fill('#name', name);
      await page.click('#enter');
    }
    // Presence: each page lists both members, whoever joined first.
    for (const page of [alice, bob]) await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    assert.deepEqual(await alice.$$eval('#members li', (items) => items.map((item) => item.textContent)), ['alice (you)', 'bob']);
    // Typing is an ephemeral event: shown on the other page, never stored.
    await bob.type('#prompt', 'hello alice');
    await alice.waitForSelector('#typing:has-text("bob is typing")');
    await bob.click('#send');
    await alice.waitForSelector('.bubble.model:has-text("hello alice")');
    await alice.waitForFunction(() => document.getElementById('typing')!.textContent === '');
    const history = await (await fetch(`${hub.url}/history?topic=demo/chat/room/lobby`)).json();
    assert.deepEqual(history.events.map((event: { event: string }) => event.event), ['message'], 'the message is history, the typing is not');

    // Every text the reply bubble shows, in order, as the page changes it.
    await alice.evaluate(() => {
      const shown: string[] = [];
      (window as unknown as { shown: string[] }).shown = shown;
      new MutationObserver(() => {
        const text = document.querySelector('.bubble.reply')?.textContent ?? '';
        if (text !== '' && text !== shown.at(-1)) shown.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await alice.fill('#prompt', '/ask What is server-sent events?');
    await alice.click('#send');
    await alice.waitForSelector('.bubble.reply.streaming');
    await alice.waitForSelector('.bubble.reply:not(.streaming)', { timeout: 20_000 });
    const full = (await alice.textContent('.bubble.reply'))!;
    const shown = await alice.evaluate(() => (window as unknown as { shown: string[] }).shown);
    assert.equal(shown.at(-1), full);
    // Word by word: each text is the one before plus whole words (a busy page may show a few at
    // once), and the reply took many steps, not one.
    for (let i = 1; i < shown.length; i++) {
      assert.ok(shown[i]!.startsWith(shown[i - 1]!) && /^(\s+\S+)+$/.test(shown[i]!.slice(shown[i - 1]!.length)), `${JSON.stringify(shown[i - 1])} then ${JSON.stringify(shown[i])}`);
    }
    assert.ok(shown.length >= 5, `the reply appeared in ${shown.length} steps: ${JSON.stringify(shown)}`);
    assert.equal(await alice.isEnabled('#send'), true);
    await screenshot(alice, 'demo-chat');

    // Bob leaves: alice's member list follows (after the presence grace period).
    await bob.context().close();
    await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 1, undefined, { timeout: 15_000 });
    assert.deepEqual(errors, []);
    await alice.close();
  });

  test('AI generations: a reload in the middle resumes, and the final text is complete with no token twice', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(`${hub.url}/demos/ai`);
    const question = 'How do resumable generations work?';
    await page.fill('#prompt', question);
    await page.click('#send');
    await page.waitForFunction(() => (document.querySelector('.bubble.model.streaming')?.textContent ?? '').split(' ').length >= 6);
    await page.reload();
    // After the reload: the question and the text so far are back at once, and the rest streams on.
    await page.waitForSelector('.bubble.model.streaming');
    assert.equal(await page.textContent('.bubble.user'), question);
    assert.ok(((await page.textContent('.bubble.model')) ?? '').split(' ').length >= 6, 'the text so far is shown again');
    await page.waitForSelector('.bubble.model:not(.streaming)', { timeout: 20_000 });
    assert.equal(await page.textContent('.bubble.model'), cannedReply(question), 'every token once, in order');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept once the generation ended');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('AI generations: Stop ends the generation in the middle', async () => {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(`${hub.url}/demos/ai`);
    const question = 'Please stop me early';
    await page.fill('#prompt', question);
    await page.click('#send');
    await page.waitForFunction(() => (document.querySelector('.bubble.model.streaming')?.textContent ?? '').split(' ').length >= 4);
    await page.click('#stop');
    await page.waitForSelector('.bubble.model .stopped', { timeout: 10_000 });
    const text = (await page.textContent('.bubble.model'))!.replace(/ \(stopped\)$/, '');
    const whole = cannedReply(question);
    assert.ok(whole.startsWith(text) && text.length < whole.length, `stopped part-way: ${JSON.stringify(text)}`);
    assert.equal(await page.isEnabled('#send'), true);
    assert.equal(await page.isHidden('#stop'), true);
    await screenshot(page, 'demo-ai-stopped');
    assert.deepEqual(errors, []);
    await page.close();
  });
});

async function waitForConnections(hub: RunningHub, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (hub.hub.stats().connections < count) {
    if (Date.now() > deadline) throw new Error(`the hub never counted ${count} streams`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
