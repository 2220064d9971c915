/**
 * Draws the benchmark's charts again, from figures already measured (`npm run bench` draws its own
 * as it ends):
 *
 *   node --import tsx bench/draw-charts.ts --from results.json                 a run's --json file
 *   node --import tsx bench/draw-charts.ts --from bench/RESULTS.md --section "Sixth round" --section "WebSocket, 2026-12-02"
 *
 * From RESULTS.md, each named section's scenario tables are read back (recorded.ts), and each chart
 * says which run of RESULTS.md it shows. The charts go to --charts DIR (default bench/charts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_CHARTS_DIR, runCharts, scenarioChart, webSocketCharts, writeCharts, type Chart, type ScenarioFigures } from './charts.js';
import { recordedSection } from './recorded.js';
import type { Row } from './run.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import type { WsRow } from './ws/run.js';

/** What `npm run bench -- --json FILE` writes (the scenarios as plain data: their functions are not kept). */
interface BenchJson {
  date: string;
  argv: string[];
  results: Record<string, { scenario: Partial<Scenario> & { key: string; title: string }; rows: Row[] }>;
  websocket: WsRow[];
}

function chartsFromJson(path: string): Chart[] {
  // JSON wrote an unmeasured figure (NaN) as null: read it back as NaN, not as 0.
  const run = JSON.parse(readFileSync(path, 'utf8'), (_key, value: unknown) => (value === null ? NaN : value)) as BenchJson;
  const scenarios = Object.values(run.results).map(({ scenario, rows }): ScenarioFigures => {
    const template = SCENARIOS.find((candidate) => candidate.key === scenario.key);
    // describe() reads only the scenario's data (subscribers, publish, durations), which the JSON kept.
    const description = template === undefined ? '' : template.describe.call({ ...template, ...scenario } as Scenario);
    return { key: scenario.key, title: scenario.title, description, rows };
  });
  return runCharts({ date: run.date, argv: run.argv, scenarios, websocket: run.websocket ?? [] });
}

function chartsFromResults(path: string, sections: readonly string[]): Chart[] {
  if (sections.length === 0) throw new Error('--from RESULTS.md needs --section HEADING (the start of a "## " heading), once per run to draw');
  const markdown = readFileSync(path, 'utf8');
  const charts: Chart[] = [];
  for (const start of sections) {
    const section = recordedSection(markdown, start);
    const source = { date: section.date, note: `From RESULTS.md's run of ${section.date}: "${section.heading}".` };
    charts.push(...section.scenarios.map((figures) => scenarioChart(figures, source)), ...webSocketCharts(section.websocket, source));
  }
  return charts;
}

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    section: { type: 'string', multiple: true, default: [] },
    charts: { type: 'string', default: DEFAULT_CHARTS_DIR },
  },
});
if (values.from === undefined) throw new Error('--from FILE is needed: a --json file of `npm run bench`, or RESULTS.md with --section HEADING');
const charts = values.from.endsWith('.md') ? chartsFromResults(values.from, values.section) : chartsFromJson(values.from);
if (charts.length === 0) throw new Error(`no scenario figures found in ${values.from}`);
for (const path of writeCharts(values.charts, charts)) console.log(path);
