/**
 * `npm run bench`: runs each scenario against each server, fresh, and prints one table per scenario
 * with ssehub's ratio to each alternative. See bench/README.md for what is measured and how.
 *
 *   npm run bench                          all scenarios, all servers
 *   npm run bench -- --quick               a smoke run of seconds (small numbers, no targets)
 *   npm run bench -- --scenarios a,b --servers ssehub,nchan --workers 2 --json out.json
 *   npm run bench -- --profile             ssehub runs under node --cpu-prof (bench/profiles/)
 *   npm run bench -- --baseline ../other   also ssehub built in another checkout, taking turns
 *   npm run bench -- --charts DIR          its SVG charts into DIR (default bench/charts, redrawn only by a run of the standard comparison: see chartsDirOf)
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { SubscriberFleet } from './load/fleet.js';
import { Publisher, type PublishResult } from './load/publisher.js';
import { chartsDirOf, runCharts, writeCharts } from './charts.js';
import { comparisonText, progressText } from './compare.js';
import { engineServers } from './engine-server.js';
import { BASE_PORT, parseBenchArgs } from './options.js';
import { processCost, type ProcessCost } from './proc.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { defaultServers, runNamespace, SERVERS, type RunningServer, type ServerKind, type StartOptions } from './servers.js';
import { runWebSocketBench, WS_SERVERS, wsSummary, wsTable } from './ws/run.js';

/** Connections per load process: well under the 20,000 open files a process may have. */
const CONNECTIONS_PER_LOAD_PROCESS = 5000;
/** The row of ssehub as built in the --baseline checkout. */
const BASELINE_LABEL = 'ssehub (baseline)';

export interface Row {
  server: string;
  subscribers: number;
  failedConnections: number;
  /** Connections the server closed during the run. */
  dropped: number;
  publishesAccepted: number;
  publishesFailed: number;
  /** Paced scenarios: events not offered because all 64 publishing connections were still waiting. */
  publishesNotSent: number;
  publishesPerSecond: number;
  expected: number;
  /** Deliveries counted, duplicates included. */
  received: number;
  /** Deliveries of an event the subscriber already had, told apart by the event's sequence number. */
  duplicates: number;
  deliveriesPerSecond: number;
  deliveredShare: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerDelivery: number;
  /** The kernel's part of cpuMicrosPerDelivery. */
  systemMicrosPerDelivery: number;
  serverCpuShare: number;
  loadCpuShare: number;
  rssBytesPerSubscriber: number;
  rssBytes: number;
  // What a measured row always has, a row read back from RESULTS.md (recorded.ts) may lack:
  /** Processes of the server sharing one engine (--hubs); 1 for every other row. */
  hubs?: number;
  /** The subscribers connected to each hub, in port order. */
  subscribersPerHub?: number[];
  /** The server's CPU (all hubs) per accepted publish, in µs. */
  hubCpuMicrosPerEvent?: number;
  /** The engine servers' CPU (redis-server, every master of a Redis Cluster, nats-server, or PostgreSQL's postmaster and backends) per accepted publish, in µs; NaN without one. */
  engineCpuMicrosPerEvent?: number;
  /** The busiest engine server's share of a core over the measured interval (the wall is one server's core); NaN without one. */
  engineCpuShare?: number;
  errors: string[];
}

async function main(): Promise<void> {
  const values = parseBenchArgs(process.argv.slice(2));
  if (values.help) {
    process.stdout.write(
      'Usage: npm run bench -- [--quick] [--scenarios a,b,c,d,g] [--servers ssehub,express-emitter,better-sse,nchan,node-http-floor,node-net-floor]\n' +
        '                       [--workers N] [--nagle] [--node-http-publish] [--repeat N] [--duration SECONDS] [--json FILE]\n' +
        '                       [--from-source] [--profile] [--baseline CHECKOUT] [--engine URL] [--subscribers N]\n' +
        '                       [--websocket ssehub,ws-broadcast,socket.io] [--port FIRST] [--charts DIR]\n' +
        '--websocket names the servers of the WebSocket scenarios (e) and (f) (bench/ws/run.ts); --websocket "" skips them.\n' +
        '--repeat N runs each scenario N times, the servers taking turns, and reports each figure\'s median.\n' +
        '--baseline CHECKOUT also runs ssehub from CHECKOUT/dist (another commit, built there), as "ssehub (baseline)".\n' +
        '--engine URL runs every ssehub row on that engine (redis://, nats://, postgres://), each run in a namespace of its own.\n' +
        '--subscribers N sets every scenario\'s subscriber count (scenario c: N subscribers on N topics).\n' +
        '--hubs N (or a list, 1,2,3): each row on a shared engine (ssehub with --engine, nchan-redis) runs as N processes on that engine,\n' +
        '  subscribers and publishing connections spread evenly over them; the row also reports the engine server\'s CPU.\n' +
        '--servers: by default every server but the yardsticks, and nchan-redis when --engine is a redis:// URL.\n' +
        `--port FIRST: the servers listen on the ports after FIRST, one each (default ${BASE_PORT}): another number runs a benchmark beside one already running.\n` +
        '--charts DIR: an SVG chart per scenario, DIR/<scenario>.svg (default bench/charts, which RESULTS.md links, drawn only by a run\n' +
        '  without --quick, --servers, --engine, --hubs or --subscribers; those draw only when --charts is given).\n',
    );
    return;
  }
  const quick = values.quick;
  const workers = Number(values.workers);
  const repeat = Math.max(1, Number(values.repeat));
  const scenarios = SCENARIOS.filter((scenario) => values.scenarios.split(',').includes(scenario.key));
  const kinds = (values.servers?.split(',') ?? defaultServers(values.engine).map((kind) => kind.name)).map((name) => {
    const kind = SERVERS.find((server) => server.name === name);
    if (!kind) throw new Error(`unknown server ${name}; known: ${SERVERS.map((server) => server.name).join(', ')}`);
    return kind;
  });
  const firstPort = Number(values.port);
  if (!Number.isInteger(firstPort) || firstPort < 1024 || firstPort > 65_000) throw new Error(`--port takes a port number from 1024 to 65000, not "${values.port}"`);
  const base: StartOptions = { port: firstPort, workers: 1, tcpNoDelay: true, fastPublish: true, fromSource: values['from-source'], profile: values.profile, engine: values.engine };
  // With --workers N, ssehub also runs as N workers; with --nagle, also with Nagle's algorithm on;
  // with --node-http-publish, also with every publish going through node:http; with --baseline,
  // also as built in another checkout (a change against the commit before it, in one table).
  const variants: Array<{ label: string; kind: ServerKind; options: StartOptions }> = [];
  for (const kind of kinds) {
    variants.push({ label: kind.name, kind, options: base });
    if (kind.name === 'ssehub' && workers > 1) variants.push({ label: `ssehub --workers ${workers}`, kind, options: { ...base, workers } });
    if (kind.name === 'ssehub' && values.nagle) variants.push({ label: 'ssehub --tcp-nodelay false', kind, options: { ...base, tcpNoDelay: false } });
    if (kind.name === 'ssehub' && values['node-http-publish']) {
      variants.push({ label: 'ssehub --fast-publish false', kind, options: { ...base, fastPublish: false } });
    }
    if (kind.name === 'ssehub' && values.baseline !== undefined) {
      variants.push({ label: BASELINE_LABEL, kind, options: { ...base, checkout: resolvePath(values.baseline) } });
    }
  }
  // With --hubs, each row on a shared engine runs as that many processes (one row per count given).
  const hubCounts = (values.hubs ?? '1').split(',').map(Number);
  if (hubCounts.some((count) => !Number.isInteger(count) || count < 1 || count > 16)) throw new Error(`--hubs takes counts from 1 to 16, not "${values.hubs}"`);
  const contenders: Array<{ label: string; kind: ServerKind; options: StartOptions; hubs: number }> = variants.flatMap((variant) =>
    variant.kind.engineOf(variant.options) === undefined
      ? [{ ...variant, hubs: 1 }]
      : hubCounts.map((hubs) => ({ ...variant, hubs, label: hubs === 1 ? variant.label : `${variant.label} (${hubs} hubs)` })),
  );
  if (hubCounts.some((count) => count > 1) && !contenders.some((contender) => contender.hubs > 1)) {
    throw new Error('--hubs needs a server on a shared engine: ssehub with --engine URL, or nchan-redis');
  }
  for (const { kind, options } of contenders) {
    const missing = kind.missing(options);
    if (missing) throw new Error(`${kind.name} cannot run: ${missing}`);
  }

  console.log(`ssehub benchmark${quick ? ' (--quick: small numbers, a smoke check, not a measurement)' : ''}`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`servers: ${contenders.map((c) => c.label).join(', ')}${values.engine === undefined ? '' : `; ssehub's engine: ${values.engine}`}\n`);

  // Load processes are started once and reused by every measurement (each starts clean).
  const sizedScenarios = scenarios.map((template) =>
    template.sized(quick, values.duration === undefined ? undefined : Number(values.duration) * 1000, values.subscribers === undefined ? undefined : Number(values.subscribers)),
  );
  const needed = Math.max(...sizedScenarios.map((scenario) => Math.max(...SERVERS.map((kind) => loadProcessesFor(scenario, kind.name)))));
  const fleet = await SubscriberFleet.start(needed);
  const results: Record<string, { scenario: Scenario; rows: Row[] }> = {};
  let port = firstPort;
  const totalMeasurements = repeat * sizedScenarios.reduce((sum, scenario) => sum + contenders.reduce((n, c) => n + scenario.subscriberCounts(c.kind.name).length, 0), 0);
  let measurements = 0;
  const runStarted = performance.now();
  for (const scenario of sizedScenarios) {
    // Servers take turns within each round, so a slow spell of a shared machine hits them alike.
    const runs = new Map<string, Row[]>();
    for (let round = 1; round <= repeat; round++) {
      for (const contender of contenders) {
        for (const subscribers of scenario.subscriberCounts(contender.kind.name)) {
          const ports = Array.from({ length: contender.hubs }, () => ++port);
          const label = subscribers === scenario.subscribers ? contender.label : `${contender.label} (${subscribers})`;
          process.stdout.write(`${progressText(measurements++, totalMeasurements, performance.now() - runStarted)} (${scenario.key}${repeat > 1 ? ` round ${round}` : ''}) ${label}: `);
          const row = await measure({ ...scenario, subscribers }, contender.kind, { ...contender.options, port: ports[0]!, namespace: runNamespace(ports[0]!) }, ports, label, fleet);
          console.log(summary(row));
          runs.set(label, [...(runs.get(label) ?? []), row]);
        }
      }
    }
    const rows = [...runs.values()].map(medianRow);
    results[scenario.key] = { scenario, rows };
    console.log(`\n${table(scenario, rows)}\n`);
  }
  await fleet.close();
  // The WebSocket scenarios, on free ports of their own, after the SSE ones.
  const wsServers = values.websocket.split(',').filter((name) => name !== '');
  const websocket = wsServers.length === 0 ? [] : await runWebSocketBench({ quick, fromSource: values['from-source'], servers: wsServers });
  if (websocket.length > 0) console.log(`WebSocket: (e) fan-out beside (a), (f) publish round trip\n\n${wsTable(websocket)}\n\n${wsSummary(websocket).join('\n')}\n`);
  const date = new Date().toISOString();
  if (values.json) writeFileSync(values.json, JSON.stringify({ date, argv: process.argv.slice(2), results, websocket }, null, 2));
  // Only a run of the standard comparison redraws the recorded charts (chartsDirOf).
  const chartsDir = chartsDirOf({ ...values, quick });
  if (chartsDir === undefined) console.log('charts: none for a smoke or narrowed run (--charts DIR draws them)');
  else {
    const scenarioFigures = Object.values(results).map(({ scenario, rows }) => ({ key: scenario.key, title: scenario.title, description: scenario.describe(), rows }));
    const charts = runCharts({ date, argv: process.argv.slice(2), scenarios: scenarioFigures, websocket });
    console.log(`charts:\n${writeCharts(chartsDir, charts).map((path) => `  ${path}`).join('\n')}`);
  }
}

function loadProcessesFor(scenario: Scenario, server: string): number {
  return Math.max(1, ...scenario.subscriberCounts(server).map((count) => Math.ceil(count / CONNECTIONS_PER_LOAD_PROCESS)));
}

/**
 * One measurement: the server started fresh (on a shared engine, as one process per port, each with
 * its share of the subscribers and publishing connections), subscribers connected, events
 * published, deliveries counted; CPU read from /proc for the server's processes and, when it keeps
 * its messages in an engine server on this machine, for that server too.
 */
async function measure(scenario: Scenario, kind: ServerKind, options: StartOptions, ports: number[], label: string, allLoad: SubscriberFleet): Promise<Row> {
  const servers: RunningServer[] = [];
  const fleet = await allLoad.subset(Math.max(1, Math.ceil(scenario.subscribers / CONNECTIONS_PER_LOAD_PROCESS)));
  const publisher = new Publisher(ports, scenario.publish?.mode === 'flood' ? scenario.publish.concurrency : 64);
  try {
    for (const port of ports) servers.push(await kind.start({ ...options, port }));
    const engineUrl = kind.engineOf(options);
    const engines = engineUrl === undefined ? [] : engineServers(engineUrl);
    const serversCost = () => sumCosts(servers.map((server) => processCost(server.pid)));
    // Each engine server's CPU seconds so far (a Redis Cluster has one per master; NaN without any).
    const engineCpu = () => (engines.length === 0 ? [NaN] : engines.map((engine) => processCost(engine.pid).cpuSeconds));
    const idle = serversCost();
    const paths = Array.from({ length: scenario.subscribers }, (_, i) => `/topics/${scenario.topicOf(i)}`);
    const opened = await fleet.open(ports, paths);
    await sleep(scenario.idleMs); // let connection setup garbage settle before memory is read
    const connectedCost = serversCost();
    const rssBytesPerSubscriber = opened.connected > 0 ? (connectedCost.rssBytes - idle.rssBytes) / opened.connected : NaN;

    await fleet.reset();
    const before = serversCost();
    const engineBefore = engineCpu();
    const loadBefore = sumCost(fleet.pids);
    const started = performance.now();
    let published: PublishResult | undefined;
    if (scenario.publish?.mode === 'paced') published = await publisher.paced(scenario.publishTopics(), scenario.publish.rate, scenario.durationMs);
    else if (scenario.publish?.mode === 'flood') published = await publisher.flood(scenario.publishTopics(), scenario.publish.concurrency, scenario.durationMs);
    else if (scenario.publish?.mode === 'stream') published = await publisher.stream(scenario.publishTopics(), scenario.durationMs);

    // Expected deliveries: every accepted publish, once per subscriber of its topic.
    let expected = 0;
    if (published) for (const [topic, count] of published.perTopic) expected += count * scenario.subscribersOf(topic, opened.connected);
    const report = await settle(fleet, expected, scenario.settleMs, scenario.quietMs);
    const elapsedSeconds = (report.lastChangeAt - started) / 1000;
    const after = serversCost();
    const engineSpent = engineCpu().map((seconds, i) => seconds - engineBefore[i]!);
    const engineSeconds = engineSpent.reduce((sum, seconds) => sum + seconds, 0);
    const loadAfter = sumCost(fleet.pids);
    const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
    const accepted = published?.accepted ?? 0;
    return {
      server: label,
      subscribers: opened.connected,
      failedConnections: opened.failed,
      dropped: report.fleet.dropped,
      publishesAccepted: accepted,
      publishesFailed: published?.failed ?? 0,
      publishesNotSent: published?.notSent ?? 0,
      publishesPerSecond: published ? accepted / (published.elapsedMs / 1000) : 0,
      expected,
      received: report.fleet.events,
      duplicates: report.fleet.duplicates,
      deliveriesPerSecond: published ? report.fleet.events / elapsedSeconds : 0,
      deliveredShare: expected > 0 ? report.fleet.events / expected : NaN,
      p50Ms: report.fleet.histogram.quantile(0.5) / 1000,
      p99Ms: report.fleet.histogram.quantile(0.99) / 1000,
      cpuMicrosPerDelivery: report.fleet.events > 0 ? (cpuSeconds * 1e6) / report.fleet.events : NaN,
      systemMicrosPerDelivery: report.fleet.events > 0 ? ((after.systemSeconds - before.systemSeconds) * 1e6) / report.fleet.events : NaN,
      serverCpuShare: cpuSeconds / elapsedSeconds,
      loadCpuShare: (loadAfter - loadBefore) / elapsedSeconds,
      rssBytesPerSubscriber,
      rssBytes: connectedCost.rssBytes,
      hubs: ports.length,
      subscribersPerHub: ports.map((port) => opened.connectedByPort[port] ?? 0),
      hubCpuMicrosPerEvent: accepted > 0 ? (cpuSeconds * 1e6) / accepted : NaN,
      engineCpuMicrosPerEvent: accepted > 0 ? (engineSeconds * 1e6) / accepted : NaN,
      engineCpuShare: Math.max(...engineSpent) / elapsedSeconds,
      errors: [...(engineUrl !== undefined && engines.length === 0 ? [`no local engine server found for ${engineUrl}: its CPU is not measured`] : []), ...opened.errors, ...(published?.errors ?? [])].slice(0, 5),
    };
  } finally {
    publisher.close();
    await fleet.drop();
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/** Waits until every expected event arrived, or none arrived for a while, or the limit passed. */
async function settle(fleet: SubscriberFleet, expected: number, limitMs: number, quietMs: number) {
  const deadline = performance.now() + limitMs;
  let fleetReport = await fleet.report();
  let lastChangeAt = performance.now();
  while (fleetReport.events - fleetReport.duplicates < expected && performance.now() < deadline && performance.now() - lastChangeAt < quietMs) {
    await sleep(100);
    const next = await fleet.report();
    if (next.events !== fleetReport.events) lastChangeAt = performance.now();
    fleetReport = next;
  }
  return { fleet: fleetReport, lastChangeAt };
}

/** Each numeric figure's median over the rounds (the errors of all of them). */
function medianRow(rows: Row[]): Row {
  const median = (values: number[]): number => {
    const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
    if (sorted.length === 0) return NaN;
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const result = { ...rows[0]! } as Record<string, unknown>;
  for (const [key, value] of Object.entries(rows[0]!)) {
    if (typeof value === 'number') result[key] = median(rows.map((row) => row[key as keyof Row] as number));
  }
  result.errors = [...new Set(rows.flatMap((row) => row.errors))].slice(0, 5);
  return result as unknown as Row;
}

function sumCost(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processCost(pid).cpuSeconds, 0);
}

/** The processes of several hubs as one server: their CPU and memory summed. */
function sumCosts(costs: ProcessCost[]): ProcessCost {
  return costs.reduce(
    (sum, cost) => ({ cpuSeconds: sum.cpuSeconds + cost.cpuSeconds, systemSeconds: sum.systemSeconds + cost.systemSeconds, rssBytes: sum.rssBytes + cost.rssBytes, processes: sum.processes + cost.processes }),
    { cpuSeconds: 0, systemSeconds: 0, rssBytes: 0, processes: 0 },
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const thousands = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');

function summary(row: Row): string {
  const parts = [`${row.subscribers} subscribers`];
  if (row.failedConnections) parts.push(`${row.failedConnections} failed (${row.errors.join('; ')})`);
  if (row.expected > 0) parts.push(`${thousands(row.deliveriesPerSecond)} deliveries/s`, `${fixed(row.deliveredShare * 100, 1)}% delivered`, `p99 ${fixed(row.p99Ms, 1)} ms`);
  if (row.duplicates > 0) parts.push(`${row.duplicates} delivered twice`);
  if (row.expected > 0) parts.push(`p50 ${fixed(row.p50Ms, 2)} ms`, `${fixed(row.cpuMicrosPerDelivery, 2)} µs CPU/delivery (${fixed(row.systemMicrosPerDelivery, 2)} kernel)`, `server CPU ${fixed(row.serverCpuShare * 100, 0)}%`, `load CPU ${fixed(row.loadCpuShare * 100, 0)}%`);
  parts.push(`${fixed(row.rssBytesPerSubscriber / 1024, 2)} KiB/subscriber`);
  if ((row.hubs ?? 1) > 1) parts.push(`subscribers per hub ${row.subscribersPerHub?.join('/')}`);
  if (Number.isFinite(row.engineCpuShare)) parts.push(`engine CPU ${fixed(row.engineCpuShare! * 100, 0)}%, ${fixed(row.engineCpuMicrosPerEvent!, 2)} µs/event`);
  return parts.join(', ');
}

function table(scenario: Scenario, rows: Row[]): string {
  const lines = [`### (${scenario.key}) ${scenario.title}`, '', scenario.describe(), ''];
  if (scenario.publish) {
    // Rows on a shared engine add the hubs and the engine server's CPU, per published event.
    const engine = rows.some((row) => Number.isFinite(row.engineCpuShare) || (row.hubs ?? 1) > 1);
    lines.push(
      `| server | subscribers | publishes/s | deliveries/s | delivered | p50 ms | p99 ms | server CPU µs/delivery (kernel) | server CPU | RSS KiB/subscriber |${engine ? ' hubs | hubs\' CPU µs/event | engine CPU µs/event | engine CPU |' : ''}`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|${engine ? '---:|---:|---:|---:|' : ''}`,
    );
    for (const row of rows) {
      lines.push(
        `| ${row.server} | ${thousands(row.subscribers)} | ${thousands(row.publishesPerSecond)} | ${thousands(row.deliveriesPerSecond)} | ${fixed(row.deliveredShare * 100, 2)}% | ${fixed(row.p50Ms, 2)} | ${fixed(row.p99Ms, 2)} | ${fixed(row.cpuMicrosPerDelivery, 2)} (${fixed(row.systemMicrosPerDelivery, 2)}) | ${fixed(row.serverCpuShare * 100, 0)}% | ${fixed(row.rssBytesPerSubscriber / 1024, 2)} |` +
          (engine ? ` ${row.hubs ?? 1} | ${fixed(row.hubCpuMicrosPerEvent ?? NaN, 2)} | ${fixed(row.engineCpuMicrosPerEvent ?? NaN, 2)} | ${fixed((row.engineCpuShare ?? NaN) * 100, 0)}% |` : ''),
      );
    }
  } else {
    lines.push('| server | subscribers | failed | RSS MiB | RSS KiB/subscriber |', '|---|---:|---:|---:|---:|');
    for (const row of rows) {
      lines.push(`| ${row.server} | ${thousands(row.subscribers)} | ${row.failedConnections} | ${fixed(row.rssBytes / 2 ** 20, 1)} | ${fixed(row.rssBytesPerSubscriber / 1024, 2)} |`);
    }
  }
  // One line per ssehub row (the plain process, then any variant: --workers, --tcp-nodelay false),
  // each also against the baseline build when there is one, and a variant against the plain process;
  // with --hubs, against the baseline and the other servers at the same number of hubs.
  const baseline = rows.filter((row) => row.server.startsWith(BASELINE_LABEL));
  const plain = rows.filter((row) => row.server === 'ssehub');
  const others = rows.filter((row) => !row.server.startsWith('ssehub'));
  const hubsOf = (row: Row): number => row.hubs ?? 1;
  for (const hub of rows.filter((row) => row.server.startsWith('ssehub') && !row.server.startsWith(BASELINE_LABEL))) {
    const peers = [...baseline, ...others].filter((row) => hubsOf(row) === hubsOf(hub));
    const ratios = [...(hub.server === 'ssehub' ? [] : plain), ...peers].map((row) => comparisonText(scenario.ratio, hub, row));
    if (ratios.length) lines.push('', `${hub.server}: ${ratios.join('; ')}.`);
  }
  return lines.join('\n');
}

await main();
