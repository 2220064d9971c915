/**
 * bench/draw-charts.ts: the charts drawn again from a run's --json file, or from RESULTS.md's tables,
 * each saying where its figures come from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function draw(...args: string[]): { status: number | null; output: string } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', 'bench/draw-charts.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: child.status, output: child.stdout + child.stderr };
}

describe('bench/draw-charts.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-charts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('draws a --json run: a chart per scenario, captioned with its command; null (NaN) figures as "–"', () => {
    const json = join(dir, 'run.json');
    const row = (server: string, publishesPerSecond: number | null) => ({ server, subscribers: 200, expected: 10, publishesPerSecond, p50Ms: 1.5, p99Ms: 4 });
    const scenario = { key: 'c', title: 'notifications: 10,000 subscribers, each on its own topic, 16 publishers', subscribers: 200, durationMs: 1500, publish: { mode: 'flood', concurrency: 16 } };
    // (d)'s figure is computed (RSS / 1024): an unmeasured one must stay unmeasured, not become 0.
    const idle = { key: 'd', title: 'idle: 10,000 subscribers, memory per subscriber', subscribers: 200, idleMs: 300 };
    const idleRow = (server: string, rssBytesPerSubscriber: number | null) => ({ server, subscribers: 200, expected: 0, rssBytesPerSubscriber, p50Ms: null, p99Ms: null });
    const results = { c: { scenario, rows: [row('ssehub', 170.62), row('nchan', null)] }, d: { scenario: idle, rows: [idleRow('ssehub', 4096), idleRow('nchan', null)] } };
    writeFileSync(json, JSON.stringify({ date: '2026-12-02T11:00:00.000Z', argv: ['--quick', '--scenarios', 'c'], results, websocket: [] }));
    const out = join(dir, 'from-json');
    const run = draw('--from', json, '--charts', out);
    assert.equal(run.status, 0, run.output);
    assert.deepEqual(run.output.trim().split('\n'), [join(out, 'c.svg'), join(out, 'd.svg')]);
    const svg = readFileSync(join(out, 'c.svg'), 'utf8');
    assert.match(svg, /<title>\(c\) notifications, 200 subscribers, 2026-12-02<\/title>/);
    assert.match(svg, />npm run bench -- --quick --scenarios c</);
    assert.match(svg, /200 subscribers, one topic each; 16 publishers/, "the scenario's description, of the run's own size");
    assert.match(svg, /data-value="170.62"[^>]*>\n<text[^>]*>170.62</);
    assert.match(svg, /data-value=""[^>]*>\n<text[^>]*>–</);
    const idleSvg = readFileSync(join(out, 'd.svg'), 'utf8');
    assert.match(idleSvg, /data-value="4"[^>]*>\n<text[^>]*>4.00</);
    assert.match(idleSvg, /data-value=""[^>]*>\n<text[^>]*>–</);
    assert.doesNotMatch(idleSvg, /p99/, 'no latency where nothing was published');
  });

  it("draws RESULTS.md's tables of a named section, saying which run", () => {
    const markdown = join(dir, 'RESULTS.md');
    writeFileSync(
      markdown,
      [
        '# Results', '', '## Sixth round, 2026-12-02: a run', '', '### (d) idle: 10,000 subscribers, memory per subscriber', '', 'Nothing published.', '',
        '| server | subscribers | failed | RSS MiB | RSS KiB/subscriber |', '|---|---:|---:|---:|---:|', '| ssehub | 10,000 | 0 | 109.3 | 4.85 |', '| nchan | 10,000 | 0 | 124.8 | 10.05 |', '',
      ].join('\n'),
    );
    const out = join(dir, 'from-results');
    const run = draw('--from', markdown, '--section', 'Sixth round', '--charts', out);
    assert.equal(run.status, 0, run.output);
    const svg = readFileSync(join(out, 'd.svg'), 'utf8');
    assert.match(svg, />From RESULTS.md&apos;s run of 2026-12-02: &quot;Sixth round, 2026-12-02: a run&quot;.</);
    assert.match(svg, />4.85</);
    assert.match(svg, />10.05</);
  });

  it('asks for --section with RESULTS.md', () => {
    const run = draw('--from', join(ROOT, 'bench/RESULTS.md'), '--charts', join(dir, 'none'));
    assert.notEqual(run.status, 0);
    assert.match(run.output, /--from RESULTS.md needs --section HEADING/);
  });
});
