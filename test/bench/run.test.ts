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
 * ssehub's variants (as two workers, with Nagle's algorithm on, with every publish through
 * node:http) are a second, shorter run on (c), which publishes to many topics, so it crosses workers
 * and takes the publish path the fast path stands in for, and on (g), the streaming publish, which
 * runs on request only and against ssehub alone (no peer has one).
 */
const hubRows = ['ssehub', 'ssehub --workers 2', 'ssehub --tcp-nodelay false', 'ssehub --fast-publish false'];

const runBench = async (args: string[]): Promise<{ code: unknown; output: string }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { code: await new Promise((resolve) => child.once('exit', resolve)), output };
};

describe('npm run bench -- --quick', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-'));
  let results: Record<string, { rows: Row[] }>;
  let variants: Record<string, { rows: Row[] }>;
  let output = '';
  let variantsOutput = '';

  before(async () => {
    builtCli(); // refuses a missing or stale dist/, which the quick run starts
    // The WebSocket scenarios (e) and (f) are left out here: test/bench/ws.test.ts runs them.
    const json = join(dir, 'quick.json');
    const all = await runBench(['--quick', '--duration', '0.5', '--websocket', '', '--servers', servers.join(','), '--json', json, '--charts', join(dir, 'charts')]);
    output = all.output;
    assert.equal(all.code, 0, output);
    results = JSON.parse(readFileSync(json, 'utf8')).results;
    const variantsJson = join(dir, 'variants.json');
    const hub = await runBench(['--quick', '--duration', '0.5', '--websocket', '', '--scenarios', 'c,g', '--servers', 'ssehub', '--workers', '2', '--nagle', '--node-http-publish', '--json', variantsJson]);
    variantsOutput = hub.output;
    assert.equal(hub.code, 0, variantsOutput);
    variants = JSON.parse(readFileSync(variantsJson, 'utf8')).results;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs all four scenarios against every server, all subscribers connected', (t) => {
    if (nchanMissing && !process.env.CI) t.diagnostic('nginx-light and libnginx-mod-nchan are not installed: nchan left out');
    assert.deepEqual(Object.keys(results), ['a', 'b', 'c', 'd']);
    for (const [key, { rows }] of Object.entries(results)) {
      assert.deepEqual(rows.map((row) => row.server), servers, `scenario ${key}`);
      for (const row of rows) {
        assert.equal(row.failedConnections, 0, `${key} ${row.server}: ${row.errors.join('; ')}`);
        assert.equal(row.subscribers, key === 'a' || key === 'c' ? 200 : 500, `${key} ${row.server}`);
        // The resident size itself, not its growth: over 500 connections a process whose memory is
        // already reserved (nginx, a Node heap that grew before) can grow by nothing.
        assert.ok(row.rssBytes > 1024 * 1024 && Number.isFinite(row.rssBytesPerSubscriber), `${key} ${row.server} memory was read from /proc`);
      }
    }
  });

  it('ssehub delivers every published event to every subscriber, each exactly once, in each scenario and each of its variants', () => {
    assert.deepEqual(Object.keys(variants), ['c', 'g']);
    for (const key of ['c', 'g']) assert.deepEqual(variants[key]!.rows.map((row) => row.server), hubRows, `${key} (variants)`);
    const hubs = [
      ...['a', 'b', 'c'].map((key) => [key, results[key]!.rows.find((row) => row.server === 'ssehub')!] as const),
      ...['c', 'g'].flatMap((key) => variants[key]!.rows.map((row) => [`${key} (variants)`, row] as const)),
    ];
    for (const [key, hub] of hubs) {
      const label = `${key} ${hub.server}`;
      assert.equal(hub.failedConnections, 0, `${label}: ${hub.errors.join('; ')}`);
      assert.ok(hub.publishesAccepted > 0, `${label}: published`);
      assert.equal(hub.publishesFailed, 0, `${label}: ${hub.errors.join('; ')}`);
      // By event, per subscriber: a lost event and a duplicate cannot cancel out.
      assert.deepEqual(exactlyOnceFaults(hub), [], `${label}: received ${hub.received} of ${hub.expected}`);
      assert.equal(hub.dropped, 0);
      assert.ok(hub.p99Ms > 0 && hub.cpuMicrosPerDelivery > 0, `${label}: latency and CPU were measured`);
    }
    // (c) sends one event per topic in turn to 200 one-subscriber topics; (g) streams to 100 alike.
    for (const row of [results.c!.rows.find((row) => row.server === 'ssehub')!, ...variants.g!.rows]) assert.equal(row.expected, row.publishesAccepted, row.server);
  });

  it('every alternative server is really started and really delivers', () => {
    for (const row of results.a!.rows) {
      assert.ok(row.publishesAccepted > 0, `${row.server} accepted publishes`);
      assert.ok(row.received > 0, `${row.server} delivered events`);
    }
  });

  it('prints one table per scenario with ssehub\'s ratio to each alternative, and each variant\'s', () => {
    for (const key of ['a', 'b', 'c', 'd']) assert.match(output, new RegExp(`### \\(${key}\\)`));
    for (const server of servers.slice(1)) assert.match(output, new RegExp(`× ${server}'s`));
    assert.match(variantsOutput, /^ssehub --tcp-nodelay false: .*× ssehub's/m);
    assert.match(variantsOutput, /^ssehub --workers 2: .*× ssehub's/m);
  });

  it('draws a chart per scenario into --charts DIR, a bar per row, and prints its path', () => {
    assert.deepEqual(readdirSync(join(dir, 'charts')).sort(), ['a.svg', 'b.svg', 'c.svg', 'd.svg']);
    for (const key of ['a', 'b', 'c', 'd']) {
      assert.ok(output.includes(`\n  ${join(dir, 'charts', `${key}.svg`)}\n`), `${key}.svg's path printed`);
      // The first panel's bars (the scenario's own figure): one per row of its table.
      const firstPanel = readFileSync(join(dir, 'charts', `${key}.svg`), 'utf8').split('<g class="panel"')[1]!;
      assert.equal(firstPanel.match(/<rect class="bar"/g)?.length, servers.length, `${key}.svg`);
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
    const { code, output } = await runBench(['--quick', '--from-source', '--profile', '--scenarios', 'a', '--servers', 'ssehub']);
    assert.equal(code, 0, output);
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
  it('runs ssehub from another checkout\'s dist/ next to this one, and compares the two', async () => {
    // This checkout's own build stands in for another commit's (npm install builds dist/).
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-bench-'));
    try {
      const json = join(dir, 'baseline.json');
      const { code, output } = await runBench(['--quick', '--scenarios', 'c', '--servers', 'ssehub', '--baseline', ROOT, '--json', json]);
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
      const { code, output } = await runBench(['--quick', '--scenarios', 'c', '--servers', 'ssehub', '--baseline', dir]);
      assert.notEqual(code, 0);
      assert.match(output, /dist\/ is not built/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
