/**
 * The benchmark's SVG charts, parsed as XML by a real parser (Chromium's DOMParser, as GitHub's
 * viewers would read them): a bar per server with its value printed, bars scaled to their values,
 * ssehub highlighted, which way is better, latency where measured, odd names escaped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chartSvg, escapeXml, logTicks, niceTicks, scenarioChart, webSocketCharts, type Chart } from '../../bench/charts.js';
import type { Row } from '../../bench/run.js';
import type { WsRow } from '../../bench/ws/run.js';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';

const SOURCE = { date: '2026-12-02T10:00:00.000Z', note: 'npm run bench -- --scenarios c' };

function row(server: string, figures: Partial<Row>): Row {
  return {
    server, subscribers: 10_000, failedConnections: 0, dropped: 0, publishesAccepted: 1, publishesFailed: 0, publishesNotSent: 0, publishesPerSecond: NaN, expected: 1,
    received: 1, duplicates: 0, deliveriesPerSecond: NaN, deliveredShare: 1, p50Ms: NaN, p99Ms: NaN, cpuMicrosPerDelivery: NaN, systemMicrosPerDelivery: NaN,
    serverCpuShare: NaN, loadCpuShare: NaN, rssBytesPerSubscriber: NaN, rssBytes: NaN, errors: [], ...figures,
  };
}

const notifications = (rows: Row[]): Chart =>
  scenarioChart({ key: 'c', title: 'notifications: 10,000 subscribers, each on its own topic, 16 publishers', description: 'Ten thousand topics.', rows }, SOURCE);

/** What a chart holds, as the parser read it. */
interface Parsed {
  error: string | null;
  root: string;
  namespace: string | null;
  viewBox: string | null;
  title: string;
  external: number;
  panels: Array<{
    heading: string;
    better: string | null;
    scale: string | null;
    axis: string;
    servers: Array<{ server: string | null; label: string; weight: string | null; bars: Array<{ width: number; fill: string | null; value: string | null }>; values: string[] }>;
  }>;
}

describe('benchmark charts', { skip: chromiumSkipReason() }, () => {
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
  });
  after(async () => browser?.close());

  const parse = (svg: string): Promise<Parsed> =>
    page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const root = doc.documentElement;
      const error = doc.querySelector('parsererror');
      return {
        error: error === null ? null : error.textContent,
        root: root.localName,
        namespace: root.namespaceURI,
        viewBox: root.getAttribute('viewBox'),
        title: doc.querySelector('title')?.textContent ?? '',
        // Anything that would fetch: links, images, scripts, styles, url(...) references.
        external: doc.querySelectorAll('[href], image, script, style, foreignObject').length + (text.includes('url(') ? 1 : 0),
        panels: [...doc.querySelectorAll('g.panel')].map((panel) => ({
          heading: panel.previousElementSibling?.textContent ?? '',
          better: panel.getAttribute('data-better'),
          scale: panel.getAttribute('data-scale'),
          axis: panel.querySelector('text.axis')?.textContent ?? '',
          servers: [...panel.querySelectorAll('g.server')].map((group) => ({
            server: group.getAttribute('data-server'),
            label: group.querySelector('text')?.textContent ?? '',
            weight: group.querySelector('text')?.getAttribute('font-weight') ?? null,
            bars: [...group.querySelectorAll('rect.bar')].map((bar) => ({ width: Number(bar.getAttribute('width')), fill: bar.getAttribute('fill'), value: bar.getAttribute('data-value') })),
            values: [...group.querySelectorAll('text.value')].map((value) => value.textContent ?? ''),
          })),
        })),
      };
    }, svg);

  it('is a standalone SVG document: its namespace, a viewBox, a title, nothing fetched', async () => {
    const parsed = await parse(chartSvg(notifications([row('ssehub', { publishesPerSecond: 20_531 })])));
    assert.equal(parsed.error, null);
    assert.equal(parsed.root, 'svg');
    assert.equal(parsed.namespace, 'http://www.w3.org/2000/svg');
    assert.match(parsed.viewBox ?? '', /^0 0 \d+ \d+$/);
    assert.equal(parsed.title, '(c) notifications, 10,000 subscribers, 2026-12-02');
    assert.equal(parsed.external, 0);
  });

  it('draws a bar per server with its value printed, the longest for the largest, to scale', async () => {
    const chart = notifications([
      row('ssehub', { publishesPerSecond: 20_531 }),
      row('express-emitter', { publishesPerSecond: 5914 }),
      row('better-sse', { publishesPerSecond: 15_120 }),
      row('nchan', { publishesPerSecond: 23_709 }),
    ]);
    const [figure] = (await parse(chartSvg(chart))).panels;
    assert.equal(figure!.heading, 'publishes per second (/s), higher is better');
    assert.deepEqual(figure!.servers.map((server) => [server.server, server.label, server.values]), [
      ['ssehub', 'ssehub', ['20,531']],
      ['express-emitter', 'express-emitter', ['5,914']],
      ['better-sse', 'better-sse', ['15,120']],
      ['nchan', 'nchan', ['23,709']],
    ]);
    const widths = figure!.servers.map((server) => server.bars[0]!.width);
    assert.equal(Math.max(...widths), widths[3], 'nchan, the largest figure, has the longest bar');
    assert.equal(Math.min(...widths), widths[1], 'express-emitter, the smallest, the shortest');
    // Widths are rounded to a tenth: the ratio of two bars is the ratio of their figures.
    assert.ok(Math.abs(widths[0]! / widths[3]! - 20_531 / 23_709) < 0.002, `${widths[0]} / ${widths[3]}`);
  });

  it('highlights ssehub: its own colour and a bold label, its variants a lighter one, the others grey', async () => {
    const chart = notifications([
      row('ssehub', { publishesPerSecond: 3 }),
      row('ssehub (baseline)', { publishesPerSecond: 2 }),
      row('nchan', { publishesPerSecond: 4 }),
      row('better-sse', { publishesPerSecond: 1 }),
    ]);
    const [hub, baseline, nchan, betterSse] = (await parse(chartSvg(chart))).panels[0]!.servers;
    assert.equal(hub!.weight, '600');
    assert.equal(nchan!.weight, null);
    assert.notEqual(hub!.bars[0]!.fill, nchan!.bars[0]!.fill);
    assert.notEqual(hub!.bars[0]!.fill, baseline!.bars[0]!.fill);
    assert.notEqual(baseline!.bars[0]!.fill, nchan!.bars[0]!.fill);
    assert.equal(nchan!.bars[0]!.fill, betterSse!.bars[0]!.fill);
  });

  it('says which way is better, on the heading and the axis, with the unit', async () => {
    const lower = await parse(
      chartSvg(scenarioChart({ key: 'd', title: 'idle: memory', description: '', rows: [row('ssehub', { rssBytesPerSubscriber: 4096, expected: 0 })] }, SOURCE)),
    );
    assert.equal(lower.panels.length, 1, 'an idle scenario has no latency to draw');
    assert.equal(lower.panels[0]!.better, 'lower');
    assert.equal(lower.panels[0]!.heading, 'RSS per subscriber (KiB), lower is better');
    assert.match(lower.panels[0]!.axis, /^KiB, lower is better/);
    assert.deepEqual(lower.panels[0]!.servers[0]!.values, ['4.00']);
    const higher = await parse(chartSvg(notifications([row('ssehub', { publishesPerSecond: 1 })])));
    assert.equal(higher.panels[0]!.better, 'higher');
    assert.match(higher.panels[0]!.axis, /^\/s, higher is better/);
  });

  it('draws p50 and p99 beside the figure where events were delivered', async () => {
    const chart = notifications([row('ssehub', { publishesPerSecond: 20_531, p50Ms: 0.66, p99Ms: 3.1 }), row('nchan', { publishesPerSecond: 23_709, p50Ms: 0.6, p99Ms: 3.86 })]);
    const latency = (await parse(chartSvg(chart))).panels[1]!;
    assert.equal(latency.heading, 'delivery latency, p50 and p99 (ms), lower is better');
    assert.deepEqual(latency.servers.map((server) => server.values), [['p50 0.66', 'p99 3.10'], ['p50 0.60', 'p99 3.86']]);
    assert.equal(latency.scale, 'linear');
    const [p50, p99] = latency.servers[1]!.bars;
    assert.ok(p99!.width > p50!.width);
  });

  it('draws latency on a log scale when it spans orders of magnitude, every bar still visible and in order', async () => {
    const chart = notifications([row('ssehub', { publishesPerSecond: 50, p50Ms: 21.18, p99Ms: 57 }), row('express-emitter', { publishesPerSecond: 23, p50Ms: 748.03, p99Ms: 10_625.28 })]);
    const latency = (await parse(chartSvg(chart))).panels[1]!;
    assert.equal(latency.scale, 'log');
    assert.equal(latency.heading, 'delivery latency, p50 and p99 (ms, log scale), lower is better');
    assert.match(latency.axis, /^ms \(log scale\), lower is better/);
    const widths = latency.servers.flatMap((server) => server.bars.map((bar) => bar.width));
    assert.ok(widths[0]! > 0, 'the smallest figure still has a bar');
    assert.deepEqual([...widths].sort((a, b) => a - b), widths, 'bars grow with their figures: 21 < 57 < 748 < 10,625');
    assert.deepEqual(latency.servers.map((server) => server.values), [['p50 21.18', 'p99 57.00'], ['p50 748.03', 'p99 10,625']]);
  });

  it('prints an unmeasured figure as "–" with no bar', async () => {
    const [figure] = (await parse(chartSvg(notifications([row('ssehub', { publishesPerSecond: 10 }), row('nchan', { publishesPerSecond: NaN })])))).panels;
    assert.deepEqual(figure!.servers[1]!.values, ['–']);
    assert.equal(figure!.servers[1]!.bars[0]!.width, 0);
    assert.equal(figure!.servers[1]!.bars[0]!.value, '');
  });

  it('escapes odd server names and titles, and drops characters XML cannot hold', async () => {
    const odd = `<b>"Tom" & 'Jerry'</b>\u0001]]>`;
    const chart = scenarioChart({ key: 'c', title: `odd & <title>: ${odd}`, description: odd, rows: [row(odd, { publishesPerSecond: 1 })] }, { ...SOURCE, note: odd });
    const parsed = await parse(chartSvg(chart));
    assert.equal(parsed.error, null);
    assert.equal(parsed.title, '(c) odd & <title>, 10,000 subscribers, 2026-12-02');
    const clean = `<b>"Tom" & 'Jerry'</b>]]>`;
    assert.equal(parsed.panels[0]!.servers[0]!.server, clean);
    assert.equal(parsed.panels[0]!.servers[0]!.label, clean);
    assert.equal(escapeXml('a<&>"\'\u0000b'), 'a&lt;&amp;&gt;&quot;&apos;b');
  });

  it('charts the WebSocket rows: (e) CPU per delivery and latency, (f) the round trip', async () => {
    const ws = (server: string, scenario: 'e' | 'f', cpu: number, p50: number, p99: number): WsRow => ({
      server, scenario, subscribers: scenario === 'e' ? 2000 : 100, published: 10, expected: 10, received: 10, p50Ms: p50, p99Ms: p99, cpuMicrosPerDelivery: cpu,
    });
    const charts = webSocketCharts([ws('ssehub', 'e', 15, 46.76, 128.38), ws('ssehub', 'f', 16.5, 2.26, 6.72), ws('socket.io', 'e', 18.8, 27.4, 70.88), ws('socket.io', 'f', 16.3, 3.56, 8.19)], SOURCE);
    assert.deepEqual(charts.map((chart) => chart.key), ['e', 'f']);
    const fanOut = await parse(chartSvg(charts[0]!));
    assert.equal(fanOut.title, '(e) WebSocket fan-out, 2,000 subscribers, 2026-12-02');
    assert.deepEqual(fanOut.panels.map((panel) => panel.heading), ['(e) server CPU per delivery (µs), lower is better', 'delivery latency, p50 and p99 (ms), lower is better']);
    assert.deepEqual(fanOut.panels[0]!.servers.map((server) => server.values[0]), ['15.00', '18.80']);
    const roundTrip = await parse(chartSvg(charts[1]!));
    assert.deepEqual(roundTrip.panels.map((panel) => panel.heading), ['round trip, p50 and p99 (ms), lower is better']);
    assert.deepEqual(roundTrip.panels[0]!.servers.map((server) => server.values), [['p50 2.26', 'p99 6.72'], ['p50 3.56', 'p99 8.19']]);
  });
});

describe('chart axis ticks', () => {
  it('run from 0 to the first round step at or past the largest value', () => {
    assert.deepEqual(niceTicks(23_709), [0, 10_000, 20_000, 30_000]);
    assert.deepEqual(niceTicks(933_541), [0, 500_000, 1_000_000]);
    assert.deepEqual(niceTicks(3.86), [0, 1, 2, 3, 4]);
    assert.deepEqual(niceTicks(0.66), [0, 0.2, 0.4, 0.6, 0.8]);
    assert.deepEqual(niceTicks(0), [0, 1]);
  });

  it('on a log scale, run over powers of ten from below the smallest value to at or past the largest', () => {
    assert.deepEqual(logTicks(18.81, 10_625.28), [10, 100, 1000, 10_000, 100_000]);
    assert.deepEqual(logTicks(10, 1000), [1, 10, 100, 1000]);
    assert.deepEqual(logTicks(0.6, 70), [0.1, 1, 10, 100]);
  });
});

describe('where a run draws its charts', () => {
  it('the recorded charts only for a run of the standard comparison; a given DIR always', async () => {
    const { chartsDirOf, DEFAULT_CHARTS_DIR } = await import('../../bench/charts.js');
    assert.equal(chartsDirOf({}), DEFAULT_CHARTS_DIR);
    assert.equal(chartsDirOf({ quick: false }), DEFAULT_CHARTS_DIR);
    for (const narrowed of [{ quick: true }, { servers: 'ssehub' }, { engine: 'redis://127.0.0.1:6379' }, { hubs: '1,2,3' }, { subscribers: '2000' }]) {
      assert.equal(chartsDirOf(narrowed), undefined, JSON.stringify(narrowed));
      assert.equal(chartsDirOf({ ...narrowed, charts: '/tmp/charts' }), '/tmp/charts', `${JSON.stringify(narrowed)} with --charts`);
    }
  });

  it('as `npm run bench` parses its command line: its defaults narrow nothing, and each narrowing flag does', async () => {
    const { chartsDirOf, DEFAULT_CHARTS_DIR } = await import('../../bench/charts.js');
    const { parseBenchArgs } = await import('../../bench/options.js');
    assert.equal(chartsDirOf(parseBenchArgs([])), DEFAULT_CHARTS_DIR);
    assert.equal(chartsDirOf(parseBenchArgs(['--repeat', '3', '--json', '/tmp/bench.json', '--baseline', '../before'])), DEFAULT_CHARTS_DIR);
    for (const flags of [['--quick'], ['--servers', 'ssehub'], ['--engine', 'redis://127.0.0.1:6379'], ['--hubs', '1,2,3'], ['--subscribers', '2000']]) {
      assert.equal(chartsDirOf(parseBenchArgs(flags)), undefined, flags.join(' '));
    }
  });
});
