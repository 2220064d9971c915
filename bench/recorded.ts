/**
 * The figures recorded in RESULTS.md read back into rows, to draw charts of a run whose JSON was not
 * kept: a section's scenario tables, as `npm run bench` printed them (run.ts's table, ws/run.ts's
 * wsTable). Only the columns a table has are read; every other figure of a row stays NaN.
 */
import type { Row } from './run.js';
import type { ScenarioFigures } from './charts.js';
import type { WsRow } from './ws/run.js';

export interface RecordedSection {
  /** The section's heading, without the `## `. */
  heading: string;
  /** The first YYYY-MM-DD of the heading. */
  date: string;
  scenarios: ScenarioFigures[];
  websocket: WsRow[];
}

/** The `## ` section of `markdown` whose heading starts with `start`, its tables read. */
export function recordedSection(markdown: string, start: string): RecordedSection {
  const lines = markdown.split('\n');
  const first = lines.findIndex((line) => line.startsWith('## ') && line.slice(3).startsWith(start));
  if (first < 0) throw new Error(`no section "## ${start}…" in the results`);
  const heading = lines[first]!.slice(3);
  const date = /\d{4}-\d{2}-\d{2}/.exec(heading)?.[0];
  if (date === undefined) throw new Error(`the section "${heading}" names no date (YYYY-MM-DD)`);
  const end = lines.findIndex((line, index) => index > first && line.startsWith('## '));
  const body = lines.slice(first + 1, end < 0 ? undefined : end);

  const scenarios: ScenarioFigures[] = [];
  const websocket: WsRow[] = [];
  let current: ScenarioFigures | undefined;
  for (let index = 0; index < body.length; index++) {
    const line = body[index]!;
    const scenarioHeading = /^### \(([a-z])\) (.+)$/.exec(line);
    if (scenarioHeading) {
      // The heading, then the scenario's description as run.ts prints it, then its table.
      const description = body.slice(index + 1).find((next) => next.trim() !== '') ?? '';
      current = { key: scenarioHeading[1]!, title: scenarioHeading[2]!, description: description.startsWith('|') ? '' : description, rows: [] };
      scenarios.push(current);
      continue;
    }
    if (line.startsWith('### ')) current = undefined;
    if (!line.startsWith('| ') || body[index + 1]?.startsWith('|---') !== true) continue;
    const table = readTable(body, index);
    index += table.rows.length + 1;
    if (table.columns[0] === 'server' && current !== undefined && current.rows.length === 0) current.rows = table.rows.map(sseRow);
    if (table.columns[0] === 'scenario' && table.columns[1] === 'server') websocket.push(...table.rows.map(wsRow));
  }
  return { heading, date, scenarios: scenarios.filter((scenario) => scenario.rows.length > 0), websocket };
}

type Cells = Map<string, string>;

function readTable(lines: readonly string[], start: number): { columns: string[]; rows: Cells[] } {
  const cells = (line: string): string[] => line.replace(/^\|/, '').replace(/\|\s*$/, '').split('|').map((cell) => cell.trim());
  const columns = cells(lines[start]!);
  const rows: Cells[] = [];
  for (let index = start + 2; index < lines.length && lines[index]!.startsWith('|'); index++) {
    const values = cells(lines[index]!);
    rows.push(new Map(columns.map((column, i) => [column, values[i] ?? ''])));
  }
  return { columns, rows };
}

/** A cell's leading number: "20,531" 20531, "9.36 (6.88)" 9.36, "100.00%" 100; NaN for "–" or an absent column. */
function numberIn(cells: Cells, column: string): number {
  const match = /^-?[\d,]*\.?\d+/.exec(cells.get(column) ?? '');
  return match ? Number(match[0].replace(/,/g, '')) : NaN;
}

function sseRow(cells: Cells): Row {
  const cpu = numberIn(cells, 'server CPU µs/delivery (kernel)');
  const deliveredPercent = numberIn(cells, 'delivered');
  return {
    server: cells.get('server') ?? '',
    subscribers: numberIn(cells, 'subscribers'),
    failedConnections: numberIn(cells, 'failed'),
    dropped: NaN,
    publishesAccepted: NaN,
    publishesFailed: NaN,
    publishesNotSent: NaN,
    publishesPerSecond: numberIn(cells, 'publishes/s'),
    // A table with a delivered column is one of a scenario that published: expected is unknown, not 0.
    expected: cells.has('delivered') ? NaN : 0,
    received: NaN,
    duplicates: NaN,
    deliveriesPerSecond: numberIn(cells, 'deliveries/s'),
    deliveredShare: deliveredPercent / 100,
    p50Ms: numberIn(cells, 'p50 ms'),
    p99Ms: numberIn(cells, 'p99 ms'),
    cpuMicrosPerDelivery: cpu,
    systemMicrosPerDelivery: Number(/\(([\d.]+)\)/.exec(cells.get('server CPU µs/delivery (kernel)') ?? '')?.[1] ?? NaN),
    serverCpuShare: numberIn(cells, 'server CPU') / 100,
    loadCpuShare: NaN,
    rssBytesPerSubscriber: numberIn(cells, 'RSS KiB/subscriber') * 1024,
    rssBytes: numberIn(cells, 'RSS MiB') * 2 ** 20,
    errors: [],
  };
}

function wsRow(cells: Cells): WsRow {
  const scenario = /^\(([ef])\)/.exec(cells.get('scenario') ?? '')?.[1];
  if (scenario !== 'e' && scenario !== 'f') throw new Error(`a WebSocket row of no known scenario: "${cells.get('scenario')}"`);
  const [received, expected] = (cells.get('delivered / expected') ?? '').split('/').map((part) => Number(part.trim().replace(/,/g, '')));
  return {
    server: cells.get('server') ?? '',
    scenario,
    subscribers: numberIn(cells, 'subscribers'),
    published: numberIn(cells, 'published'),
    expected: expected ?? NaN,
    received: received ?? NaN,
    p50Ms: numberIn(cells, 'p50 ms'),
    p99Ms: numberIn(cells, 'p99 ms'),
    cpuMicrosPerDelivery: numberIn(cells, 'server CPU µs / delivery'),
  };
}
