/**
 * The benchmark's figures drawn as SVG: one chart per scenario, a horizontal bar per server of the
 * figure the scenario compares servers on (its `ratio`), ssehub's bars highlighted, and the delivery
 * latency's p50 and p99 beside it where the scenario has them. Hand-written SVG text: a white
 * background, the system font, a viewBox, no external resources, every text escaped, so that
 * GitHub shows it inline from RESULTS.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { figureText, type Comparison } from './compare.js';
import type { Row } from './run.js';
import { SCENARIOS } from './scenarios.js';
import { WS_COMPARISONS, WS_TITLES, type WsRow } from './ws/run.js';

/** Where `npm run bench` writes its charts unless told otherwise (--charts DIR), and RESULTS.md links them. */
export const DEFAULT_CHARTS_DIR = fileURLToPath(new URL('charts/', import.meta.url));

/**
 * Where a run draws its charts: DIR when given; else the recorded charts (DEFAULT_CHARTS_DIR), but
 * only for a run of the standard comparison. A smoke run (--quick), or one narrowed to some servers,
 * another engine, several hubs or another subscriber count, measures something else: drawn over
 * the recorded charts, it would replace ssehub beside its peers. Undefined: no charts.
 */
export function chartsDirOf(options: { charts?: string; quick?: boolean; servers?: string; engine?: string; hubs?: string; subscribers?: string }): string | undefined {
  if (options.charts !== undefined) return options.charts;
  const narrowed = [options.servers, options.engine, options.hubs, options.subscribers].some((value) => value !== undefined);
  return options.quick || narrowed ? undefined : DEFAULT_CHARTS_DIR;
}

/** One bar: a server and its figure (NaN when it was not measured: no bar, "–" as its value). */
export interface Bar {
  /** Printed after the value, e.g. "p99"; none for a panel of one figure per server. */
  label?: string;
  value: number;
}

/** One panel of a chart: a group of bars per server, on one scale, with the axis labelled. */
export interface Panel {
  name: string;
  unit: string;
  better: 'lower' | 'higher';
  /** Latency spans orders of magnitude between servers (1 ms beside 10 s): then a log scale. */
  scale: 'linear' | 'log';
  groups: Array<{ server: string; bars: Bar[] }>;
}

/** A latency panel turns logarithmic when its largest figure is this many times its smallest. */
const LOG_SCALE_SPREAD = 100;

export interface Chart {
  /** The scenario's key, and the file's name: `<key>.svg`. */
  key: string;
  title: string;
  /** Lines under the title, wrapped to the chart's width. */
  caption: string[];
  panels: Panel[];
}

/** Where a chart's figures come from, printed in its title and caption. */
export interface ChartSource {
  /** When the figures were measured (an ISO date or date-time; the date is shown). */
  date: string;
  /** e.g. the command that measured them, or "from RESULTS.md's run of …". */
  note: string;
}

/** What a scenario's chart is drawn from: its key, its title and description, and its rows. */
export interface ScenarioFigures {
  key: string;
  title: string;
  description: string;
  rows: Row[];
}

/** Chart (a) to (d): the scenario's own figure per server, then p50 and p99 when events were delivered. */
export function scenarioChart(figures: ScenarioFigures, source: ChartSource): Chart {
  const scenario = SCENARIOS.find((candidate) => candidate.key === figures.key);
  if (scenario === undefined) throw new Error(`no scenario "${figures.key}"; known: ${SCENARIOS.map((candidate) => candidate.key).join(', ')}`);
  const panels = [figurePanel(scenario.ratio, figures.rows)];
  if (figures.rows.some((row) => Number.isFinite(row.p99Ms) && row.expected !== 0)) panels.push(latencyPanel('delivery latency', figures.rows));
  // "broadcast: 2,000 subscribers on one topic, …" -> "broadcast": the count is the run's own, below.
  const name = figures.title.split(':')[0]!.trim();
  return {
    key: figures.key,
    title: `(${figures.key}) ${name}, ${countText(figures.rows)}, ${dateOf(source.date)}`,
    caption: [figures.description, source.note],
    panels,
  };
}

/** Charts (e) and (f) from the WebSocket rows: (e) CPU per delivery and delivery latency, (f) the round trip. */
export function webSocketCharts(rows: readonly WsRow[], source: ChartSource): Chart[] {
  const charts: Chart[] = [];
  for (const key of ['e', 'f'] as const) {
    const mine = rows.filter((row) => row.scenario === key);
    if (mine.length === 0) continue;
    // (f)'s compared figures are the round trip's own p50 and p99: its latency panel is the chart.
    const panels = key === 'e' ? [figurePanel(WS_COMPARISONS.e[0]!, mine), latencyPanel('delivery latency', mine)] : [latencyPanel('round trip', mine)];
    const description =
      key === 'e'
        ? `${mine[0]!.subscribers} subscribers on one topic over WebSocket, events published over the same transport (scenario (a)'s shape).`
        : `One client publishes and waits for its own event, ${mine[0]!.published} times, while ${mine[0]!.subscribers} others follow the topic.`;
    charts.push({ key, title: `(${key}) ${WS_TITLES[key]}, ${countText(mine)}, ${dateOf(source.date)}`, caption: [description, source.note], panels });
  }
  return charts;
}

/** The charts of one `npm run bench` run, each captioned with the command that measured it. */
export function runCharts(run: { date: string; argv: readonly string[]; scenarios: readonly ScenarioFigures[]; websocket: readonly WsRow[] }): Chart[] {
  const source = { date: run.date, note: `npm run bench -- ${run.argv.join(' ')}`.trim() };
  return [...run.scenarios.map((figures) => scenarioChart(figures, source)), ...webSocketCharts(run.websocket, source)];
}

/** Writes each chart to DIR/<key>.svg; returns the paths written. */
export function writeCharts(dir: string, charts: readonly Chart[]): string[] {
  mkdirSync(dir, { recursive: true });
  return charts.map((chart) => {
    const path = join(dir, `${chart.key}.svg`);
    writeFileSync(path, chartSvg(chart));
    return path;
  });
}

function figurePanel<R extends { server: string }>(comparison: Comparison<R>, rows: readonly R[]): Panel {
  return { name: comparison.name, unit: comparison.unit, better: comparison.better, scale: 'linear', groups: rows.map((row) => ({ server: row.server, bars: [{ value: comparison.figure(row) }] })) };
}

function latencyPanel(name: string, rows: ReadonlyArray<{ server: string; p50Ms: number; p99Ms: number }>): Panel {
  const figures = rows.flatMap((row) => [row.p50Ms, row.p99Ms]).filter((value) => Number.isFinite(value) && value > 0);
  return {
    name: `${name}, p50 and p99`,
    unit: 'ms',
    better: 'lower',
    scale: figures.length > 0 && Math.max(...figures) >= LOG_SCALE_SPREAD * Math.min(...figures) ? 'log' : 'linear',
    groups: rows.map((row) => ({ server: row.server, bars: [{ label: 'p50', value: row.p50Ms }, { label: 'p99', value: row.p99Ms }] })),
  };
}

const countText = (rows: ReadonlyArray<{ subscribers: number }>): string => `${(rows[0]?.subscribers ?? 0).toLocaleString('en-US')} subscribers`;
const dateOf = (date: string): string => date.slice(0, 10);

// Layout, in SVG user units (pixels at 100%).
const WIDTH = 760;
const MARGIN = 16;
const TITLE_SIZE = 16;
const FONT_SIZE = 13;
const SMALL_SIZE = 12;
const LINE = 17;
/** Average advance of a character at FONT_SIZE in a sans-serif system font: for the label column's width. */
const CHAR_WIDTH = 7.2;
const BAR_HEIGHT = 16;
const SUB_BAR_HEIGHT = 11;
const GROUP_GAP = 8;
/** Room kept right of the longest bar for its value. */
const VALUE_ROOM = 96;
const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";
const COLOURS = { text: '#1f2328', muted: '#57606a', grid: '#d0d7de', ssehub: '#0969da', ssehubVariant: '#54aeff', other: '#8c959f' };

/** The chart as an SVG document. */
export function chartSvg(chart: Chart): string {
  const servers = chart.panels.flatMap((panel) => panel.groups.map((group) => group.server));
  const labelWidth = Math.ceil(Math.max(60, ...servers.map((server) => server.length * CHAR_WIDTH))) + 12;
  const plotLeft = MARGIN + labelWidth;
  const plotWidth = WIDTH - plotLeft - MARGIN - VALUE_ROOM;
  const body: string[] = [];
  let y = MARGIN + TITLE_SIZE;
  body.push(text(MARGIN, y, chart.title, { size: TITLE_SIZE, weight: 600 }));
  for (const line of chart.caption.flatMap((paragraph) => wrap(paragraph, Math.floor((WIDTH - 2 * MARGIN) / (SMALL_SIZE * 0.5))))) {
    y += LINE;
    body.push(text(MARGIN, y, line, { size: SMALL_SIZE, fill: COLOURS.muted }));
  }
  for (const panel of chart.panels) {
    y += LINE * 1.8;
    body.push(text(MARGIN, y, `${panel.name} (${panel.unit}${panel.scale === 'log' ? ', log scale' : ''}), ${panel.better} is better`, { weight: 600 }));
    y += 10;
    const drawn = drawPanel(panel, plotLeft, plotWidth, y);
    body.push(drawn.svg);
    y = drawn.bottom;
  }
  const height = Math.ceil(y + MARGIN);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${escapeXml(chart.title)}" font-family="${escapeXml(FONT)}" font-size="${FONT_SIZE}">\n` +
    `<title>${escapeXml(chart.title)}</title>\n` +
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>\n` +
    `${body.join('\n')}\n</svg>\n`
  );
}

function drawPanel(panel: Panel, left: number, width: number, top: number): { svg: string; bottom: number } {
  const values = panel.groups.flatMap((group) => group.bars.map((bar) => bar.value)).filter((value) => Number.isFinite(value) && value > 0);
  const ticks = panel.scale === 'log' ? logTicks(Math.min(...values), Math.max(...values)) : niceTicks(Math.max(0, ...values));
  const [low, high] = [ticks[0]!, ticks[ticks.length - 1]!];
  // A bar's length grows with its value on either scale: the longest bar is the largest figure.
  const scale = (value: number): number => {
    if (!(Number.isFinite(value) && value > 0)) return 0;
    return panel.scale === 'log' ? (Math.log10(value / low) / Math.log10(high / low)) * width : (value / high) * width;
  };
  const parts: string[] = [`<g class="panel" data-name="${escapeXml(panel.name)}" data-better="${panel.better}" data-scale="${panel.scale}">`];
  const perBar = panel.groups[0]!.bars.length === 1 ? BAR_HEIGHT : SUB_BAR_HEIGHT;
  const groupHeight = panel.groups[0]!.bars.length * (perBar + 2) - 2;
  const plotHeight = panel.groups.length * (groupHeight + GROUP_GAP);
  for (const tick of ticks) {
    const x = round(left + scale(tick));
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotHeight}" stroke="${COLOURS.grid}" stroke-width="1"/>`);
    parts.push(text(x, top + plotHeight + 14, tickText(tick), { size: SMALL_SIZE, fill: COLOURS.muted, anchor: 'middle' }));
  }
  let y = top + GROUP_GAP / 2;
  for (const group of panel.groups) {
    const colour = colourOf(group.server);
    parts.push(`<g class="server" data-server="${escapeXml(group.server)}">`);
    parts.push(text(left - 8, y + groupHeight / 2 + 4, group.server, { anchor: 'end', weight: colour === COLOURS.ssehub ? 600 : 400 }));
    for (const [index, bar] of group.bars.entries()) {
      const barWidth = round(scale(bar.value));
      const value = `${bar.label === undefined ? '' : `${bar.label} `}${figureText(bar.value)}`;
      // The first of several bars (p50) a lighter shade of the server's colour than the last (p99).
      const opacity = group.bars.length > 1 && index < group.bars.length - 1 ? ' fill-opacity="0.55"' : '';
      parts.push(
        `<rect class="bar" data-value="${Number.isFinite(bar.value) ? bar.value : ''}" x="${left}" y="${round(y)}" width="${barWidth}" height="${perBar}" fill="${colour}"${opacity}/>`,
        text(left + barWidth + 5, y + perBar / 2 + 4, value, { size: perBar === BAR_HEIGHT ? FONT_SIZE : SMALL_SIZE, className: 'value' }),
      );
      y += perBar + 2;
    }
    parts.push('</g>');
    y += GROUP_GAP - 2;
  }
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotHeight}" stroke="${COLOURS.muted}" stroke-width="1"/>`);
  parts.push(text(left, top + plotHeight + 32, `${panel.unit}${panel.scale === 'log' ? ' (log scale)' : ''}, ${panel.better} is better ${panel.better === 'lower' ? '←' : '→'}`, { size: SMALL_SIZE, fill: COLOURS.muted, className: 'axis' }));
  parts.push('</g>');
  return { svg: parts.join('\n'), bottom: top + plotHeight + 32 };
}

/** ssehub itself in the strong colour, its variants (baseline, flags) in a lighter one, the others grey. */
function colourOf(server: string): string {
  if (server === 'ssehub' || /^ssehub \(\d+\)$/.test(server)) return COLOURS.ssehub;
  return server.startsWith('ssehub') ? COLOURS.ssehubVariant : COLOURS.other;
}

/** Ticks from 0 to the first round number (1, 2 or 5 × 10^n steps) at or past the largest value. */
export function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough)!;
  const ticks: number[] = [];
  for (let tick = 0; ticks.length === 0 || ticks[ticks.length - 1]! < max; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** Powers of ten from the one below the smallest value (so that it still has a bar) to the one at or past the largest. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let power = Math.ceil(Math.log10(min)) - 1; ticks.length < 2 || ticks[ticks.length - 1]! < max; power++) ticks.push(Number((10 ** power).toPrecision(12)));
  return ticks;
}

function tickText(value: number): string {
  if (value >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (value >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

function text(x: number, y: number, content: string, style: { size?: number; weight?: number; fill?: string; anchor?: 'start' | 'middle' | 'end'; className?: string } = {}): string {
  const attributes = [
    `x="${round(x)}"`,
    `y="${round(y)}"`,
    ...(style.className ? [`class="${style.className}"`] : []),
    ...(style.size ? [`font-size="${style.size}"`] : []),
    ...(style.weight && style.weight !== 400 ? [`font-weight="${style.weight}"`] : []),
    `fill="${style.fill ?? COLOURS.text}"`,
    ...(style.anchor && style.anchor !== 'start' ? [`text-anchor="${style.anchor}"`] : []),
  ];
  return `<text ${attributes.join(' ')}>${escapeXml(content)}</text>`;
}

/** Text safe inside an element or a quoted attribute; characters XML 1.0 cannot hold at all are dropped. */
export function escapeXml(value: string): string {
  return value
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Words into lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(paragraph: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of paragraph.split(/\s+/).filter((part) => part !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

const round = (value: number): number => Math.round(value * 10) / 10;
