/**
 * `npm run bench -- --quick` as CI runs it (on dist/, which `npm test` builds first): every scenario
 * against every server, small. No speed targets here (they belong to the full benchmark on a quiet
 * machine); this checks that the harness measures what it claims: all subscribers connect, ssehub
 * delivers every event exactly as often as expected, and each alternative server is really started
 * and really delivers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exactlyOnceFaults } from '../../bench/load/delivery-count.js';
import type { Row } from '../../bench/run.js';
import { CHECKOUT } from '../support/checkout.js';
import { builtCli } from '../support/cli.js';

const ROOT = CHECKOUT;
const nchanMissing = !existsSync('/usr/sbin/nginx') || !existsSync('/usr/lib/nginx/modules/ngx_nchan_module.so');
const servers = ['ssehub', 'express-emitter', 'better-sse', ...(nchanMissing && !process.env.CI ? [] : ['nchan'])];
/**
 * The rows of a run with --workers 2 --nagle --node-http-publish: ssehub, then as two workers, with
 * Nagle's algorithm on, with every publish through node:http, then the others.
 */
const hubRows = ['ssehub', 'ssehub --workers 2', 'ssehub --tcp-nodelay false', 'ssehub --fast-publish false'];
const rowsExpected = [...hubRows, ...servers.slice(1)];

describe('npm run bench -- --quick', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-'));
  let results: Record<string, { rows: Row[] }>;
  let output = '';

  before(async () => {
    builtCli(); // refuses a missing or stale dist/, which the quick run starts
    // The WebSocket scenarios (e) and (f) are left out here: test/bench/ws.test.ts runs them.
    const json = join(dir, 'quick.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--duration', '0.5', '--websocket', '', '--workers', '2', '--nagle', '--node-http-publish', '--servers', servers.join(','), '--json', json, '--charts', join(dir, 'charts')], { cwd: ROOT });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, output);
    results = JSON.parse(readFileSync(json, 'utf8')).results;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs all four scenarios against every server, all subscribers connected', (t) => {
    if (nchanMissing && !process.env.CI) t.diagnostic('nginx-light and libnginx-mod-nchan are not installed: nchan left out');
    assert.deepEqual(Object.keys(results), ['a', 'b', 'c', 'd']);
    for (const [key, { rows }] of Object.entries(results)) {
      assert.deepEqual(rows.map((row) => row.server), rowsExpected, `scenario ${key}`);
      for (const row of rows) {
        assert.equal(row.failedConnections, 0, `${key} ${row.server}: ${row.errors.join('; ')}`);
        assert.equal(row.subscribers, key === 'a' || key === 'c' ? 200 : 500, `${key} ${row.server}`);
        // The resident size itself, not its growth: over 500 connections a process whose memory is
        // already reserved (nginx, a Node heap that grew before) can grow by nothing.
        assert.ok(row.rssBytes > 1024 * 1024 && Number.isFinite(row.rssBytesPerSubscriber), `${key} ${row.server} memory was read from /proc`);
      }
    }
  });

  it('ssehub delivers every published event to every subscriber, each exactly once, in each of its variants', () => {
    for (const [key, label] of ['a', 'b', 'c'].flatMap((key) => hubRows.map((label) => [key, label] as const))) {
      const hub = results[key]!.rows.find((row) => row.server === label)!;
      assert.ok(hub.publishesAccepted > 0, `${key} ${label}: published`);
      assert.equal(hub.publishesFailed, 0, `${key} ${label}: ${hub.errors.join('; ')}`);
      // By event, per subscriber: a lost event and a duplicate cannot cancel out.
      assert.deepEqual(exactlyOnceFaults(hub), [], `${key} ${label}: received ${hub.received} of ${hub.expected}`);
      assert.equal(hub.dropped, 0);
      assert.ok(hub.p99Ms > 0 && hub.cpuMicrosPerDelivery > 0, `${key} ${label}: latency and CPU were measured`);
    }
    // (c) sends one event per topic in turn to 200 one-subscriber topics.
    const notifications = results.c!.rows.find((row) => row.server === 'ssehub')!;
    assert.equal(notifications.expected, notifications.publishesAccepted);
  });

  it('every alternative server is really started and really delivers', () => {
    for (const row of results.a!.rows) {
      assert.ok(row.publishesAccepted > 0, `${row.server} accepted publishes`);
      assert.ok(row.received > 0, `${row.server} delivered events`);
    }
  });

  it('prints one table per scenario with ssehub\'s ratio to each alternative', () => {
    for (const key of ['a', 'b', 'c', 'd']) assert.match(output, new RegExp(`### \\(${key}\\)`));
    for (const server of servers.slice(1)) assert.match(output, new RegExp(`× ${server}'s`));
    assert.match(output, /^ssehub --tcp-nodelay false: .*× express-emitter's/m);
    assert.match(output, /^ssehub --workers 2: .*× express-emitter's/m);
  });

  it('draws a chart per scenario into --charts DIR, a bar per row, and prints its path', () => {
    assert.deepEqual(readdirSync(join(dir, 'charts')).sort(), ['a.svg', 'b.svg', 'c.svg', 'd.svg']);
    for (const key of ['a', 'b', 'c', 'd']) {
      assert.ok(output.includes(`\n  ${join(dir, 'charts', `${key}.svg`)}\n`), `${key}.svg's path printed`);
      // The first panel's bars (the scenario's own figure): one per row of its table.
      const firstPanel = readFileSync(join(dir, 'charts', `${key}.svg`), 'utf8').split('<g class="panel"')[1]!;
      assert.equal(firstPanel.match(/<rect class="bar"/g)?.length, rowsExpected.length, `${key}.svg`);
    }
  });
});

describe('npm run bench -- --profile', { timeout: 120_000 }, () => {
  const profiles = join(ROOT, 'bench/profiles');
  const before = new Set(existsSync(profiles) ? readdirSync(profiles) : []);
  const written = (): string[] => (existsSync(profiles) ? readdirSync(profiles).filter((name) => !before.has(name)) : []);
  after(() => {
    for (const name of written()) rmSync(join(profiles, name), { force: true });
  });

  it('runs ssehub under node --cpu-prof and leaves its profile in bench/profiles/', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--from-source', '--profile', '--scenarios', 'a', '--servers', 'ssehub'], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0, output);
    // Run from src/, the hub has tsx's module loader thread too, with a profile of its own.
    const profilesWritten = written().filter((name) => name.endsWith('.cpuprofile'));
    assert.ok(profilesWritten.length > 0, `no new profile in bench/profiles/:\n${output}`);
    const hubCode = profilesWritten.some((name) => {
      const parsed = JSON.parse(readFileSync(join(profiles, name), 'utf8')) as { nodes: Array<{ callFrame: { url: string } }> };
      return parsed.nodes.some((node) => node.callFrame.url.includes('/src/hub/'));
    });
    assert.ok(hubCode, 'a profile holds the hub\'s own code');
  });
});

describe('npm run bench -- --baseline', { timeout: 120_000 }, () => {
  const run = async (args: string[]): Promise<{ code: unknown; output: string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return { code: await new Promise((resolve) => child.once('exit', resolve)), output };
  };

  it('runs ssehub from another checkout\'s dist/ next to this one, and compares the two', async () => {
    // This checkout's own build stands in for another commit's (npm install builds dist/).
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-'));
    try {
      const json = join(dir, 'baseline.json');
      const { code, output } = await run(['--quick', '--scenarios', 'c', '--servers', 'ssehub', '--baseline', ROOT, '--json', json]);
      assert.equal(code, 0, output);
      const rows = (JSON.parse(readFileSync(json, 'utf8')).results.c.rows as Row[]);
      assert.deepEqual(rows.map((row) => row.server), ['ssehub', 'ssehub (baseline)']);
      for (const row of rows) assert.deepEqual(exactlyOnceFaults(row), [], `${row.server}: received ${row.received} of ${row.expected}`);
      assert.match(output, /^ssehub: publishes per second [\d,.]+ \/ [\d,.]+ \/s = [\d.]+× ssehub \(baseline\)'s \(higher is better\)\.$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops with the reason when the baseline checkout has no build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-'));
    try {
      const { code, output } = await run(['--quick', '--scenarios', 'c', '--servers', 'ssehub', '--baseline', dir]);
      assert.notEqual(code, 0);
      assert.match(output, /dist\/ is not built/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
