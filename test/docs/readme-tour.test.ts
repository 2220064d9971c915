/**
 * The README's tour runs as written. Its code blocks say by their fence's info string what this
 * test does with them, in the order they appear:
 *
 *   ```sh run              run with bash; it must exit 0 (or 28, curl's own code for a --max-time
 *                          the block sets on purpose)
 *   ```sh run background   started with bash and left running while the next blocks run, as in a
 *                          second terminal; the test waits until the hub counts its stream open,
 *                          and stops it at the end
 *   ```text output         what the last `run` block printed (all of it or a part, lines in order)
 *   ```text output background   what the last `background` block has printed, waited for
 *   ```js run browser      pasted into the console of a page on another local origin (a
 *                          development server's), in Chromium, against a hub with npm start's
 *                          settings; the test then publishes an `update` to orders/42 and waits
 *                          for the page to log it. On an origin the hub does not allow, it must
 *                          log `stream refused`
 *
 * Blocks without `run` (the Express app, the typed client) are not run here: examples/ and
 * test/examples/ run the apps. Before running, http://127.0.0.1:8080 becomes the test hub's
 * address (SSEHUB_URL too, for the CLI), and `npx ssehub` becomes the CLI run from the source.
 * Event ids differ from run to run: any id (`<letters and digits>-<n>`) matches any other.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { startScriptServeArgs } from '../support/start-script.js';
import type { RunningHub } from '../../src/start.js';
import { parse, readDoc, ROOT, type Fence } from './markdown.js';

const fences = parse(readDoc('README.md')).fences;
const CLI = `node --import tsx ${ROOT}src/cli/main.ts`;
const ID = /\b[0-9a-z]{6,}-\d+\b/g;

/** Ids replaced by a placeholder, trailing spaces dropped: what the comparison ignores. */
const comparable = (text: string) => text.replace(ID, '<id>').replace(/[ \t]+$/gm, '').trimEnd();

function assertPrinted(actual: string, expected: string, block: Fence): void {
  assert.ok(comparable(actual).includes(comparable(expected)), `README.md:${block.line} printed:\n${actual}\nexpected, somewhere in it:\n${expected}`);
}

describe('the README tour', () => {
  let running: RunningHub;
  let url: string;
  const background: { child: ChildProcess; output: () => string }[] = [];

  const adapt = (code: string) => code.replaceAll('http://127.0.0.1:8080', url).replaceAll('npx ssehub', CLI);
  const env = () => ({ ...process.env, SSEHUB_URL: url, NO_COLOR: '1' });
  const openStreams = async (): Promise<number> => ((await (await fetch(`${url}/stats`)).json()) as { connections: number }).connections;

  /** Runs a block to its end (asynchronously: the hub runs in this process). */
  function bash(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', code], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

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
  });

  after(async () => {
    for (const { child } of background) if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    await running.close();
  });

  test('has runnable blocks', () => {
    assert.ok(fences.filter((fence) => fence.info.startsWith('sh run')).length >= 5);
  });

  test('its shell blocks print what it says', async () => {
    let lastRun = '';
    for (const block of fences) {
      if (block.info === 'sh run background') {
        const before = await openStreams();
        const child = spawn('bash', ['-c', adapt(block.body)], { env: env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        background.push({ child, output: () => output });
        await until(async () => (await openStreams()) > before, `the stream of README.md:${block.line} to open`);
      } else if (block.info === 'sh run') {
        const result = await bash(adapt(block.body));
        const allowed = block.body.includes('--max-time') ? [0, 28] : [0];
        assert.ok(allowed.includes(result.code), `README.md:${block.line} exited ${result.code}:\n${result.stdout}${result.stderr}`);
        lastRun = result.stdout;
      } else if (block.info === 'text output') {
        assertPrinted(lastRun, block.body, block);
      } else if (block.info === 'text output background') {
        const last = background.at(-1)!;
        await until(() => comparable(last.output()).includes(comparable(block.body)), `README.md:${block.line}: got\n${last.output()}`);
      }
    }
  });

  /** A page of a development server: another origin than the hub's (another port, or another host). */
  async function appPage(host: string): Promise<{ origin: string; close: () => Promise<void> }> {
    const server = createServer((_request, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>app</title>'));
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return { origin: `http://${host}:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test('its browser snippet, pasted into a page of another local origin, logs an update', { skip: chromiumSkipReason() }, async () => {
    const snippet = fences.find((fence) => fence.info === 'js run browser');
    assert.ok(snippet, 'a js run browser block');
    const app = await appPage('127.0.0.1');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const logged: string[] = [];
      page.on('console', (message) => logged.push(message.text()));
      await page.goto(app.origin);
      const before = await openStreams();
      // The test keeps a handle on the snippet's `source` to see it open before it publishes.
      await page.evaluate(`${adapt(snippet.body)}\nwindow.readmeSource = source;`);
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
      await app.close();
    }
  });

  test('its browser snippet, on an origin the hub does not allow, logs "stream refused"', { skip: chromiumSkipReason() }, async () => {
    const snippet = fences.find((fence) => fence.info === 'js run browser')!;
    // 127.0.0.2 is this machine too, but not an origin npm start allows.
    const app = await appPage('127.0.0.2');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const logged: string[] = [];
      page.on('console', (message) => logged.push(message.text()));
      await page.goto(app.origin);
      await page.evaluate(adapt(snippet.body));
      await until(() => logged.includes('stream refused'), `the page to log the refusal: ${JSON.stringify(logged)}`);
    } finally {
      await browser.close();
      await app.close();
    }
  });
});
