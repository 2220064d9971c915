/**
 * The WebSocket part of `npm run bench`: ssehub's `GET /ws` beside the peers a team would otherwise
 * run next to an SSE hub (a `ws` broadcast server, socket.io), each started fresh on a free port.
 * - (e) WebSocket fan-out: scenario (a)'s shape (subscribers on one topic, events paced) over
 *   WebSockets, published over the same transport: delivery latency p50/p99, server CPU per delivery;
 * - (f) round trip: one client publishes and waits for its own event, again and again, while others
 *   follow the topic: p50/p99 of publish-to-own-delivery.
 * Load runs in this process; the server's CPU and memory are read from /proc (proc.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatencyHistogram } from '../load/histogram.js';
import { processCost } from '../proc.js';
import { SSEHUB_NODE_FLAGS } from '../servers.js';
import { connectClient, type BenchClient, type ClientProtocol } from './clients.js';
import { comparisonText, type Comparison } from '../compare.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WsServerKind {
  name: string;
  description: string;
  protocol: ClientProtocol;
  command(fromSource: boolean): string[];
}

export const WS_SERVERS: WsServerKind[] = [
  {
    name: 'ssehub',
    description: 'this project: `GET /ws` of `ssehub serve`, memory engine (history, ids, grants)',
    protocol: 'ssehub.v1',
    command: (fromSource) => [
      ...SSEHUB_NODE_FLAGS,
      ...(fromSource ? ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')] : [join(ROOT, 'dist/cli/main.js')]),
      'serve', '--port', '0', '--host', '127.0.0.1', '--no-dashboard', '--max-streams-per-ip', '0', '--publish-rate', '0', '--publish-bytes-rate', '0', '--log-level', 'warn', '--stats-interval', '0',
    ],
  },
  { name: 'ws-broadcast', description: 'the `ws` package alone: a broadcast server, no history or auth', protocol: 'ssehub.v1', command: () => [join(ROOT, 'bench/servers/ws-broadcast.mjs'), '0'] },
  { name: 'socket.io', description: 'socket.io 4, websocket transport, a room per topic', protocol: 'socket.io', command: () => [join(ROOT, 'bench/servers/socketio.mjs'), '0'] },
];

export interface WsBenchOptions {
  quick: boolean;
  fromSource: boolean;
  servers?: readonly string[];
}

export interface WsRow {
  server: string;
  scenario: 'e' | 'f';
  subscribers: number;
  published: number;
  expected: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU (user + system) per delivery, in microseconds; (f) counts the round trips' own deliveries. */
  cpuMicrosPerDelivery: number;
}

export async function runWebSocketBench(options: WsBenchOptions): Promise<WsRow[]> {
  const rows: WsRow[] = [];
  for (const kind of WS_SERVERS.filter((server) => options.servers === undefined || options.servers.includes(server.name))) {
    rows.push(await measure(kind, options, fanOut(options.quick)));
    rows.push(await measure(kind, options, roundTrip(options.quick)));
  }
  return rows;
}

interface Shape {
  scenario: 'e' | 'f';
  subscribers: number;
  /** (e): events per second for durationMs; (f): round trips, one after another. */
  rate: number;
  durationMs: number;
  roundTrips: number;
}

const fanOut = (quick: boolean): Shape => ({ scenario: 'e', subscribers: quick ? 100 : 2000, rate: 50, durationMs: quick ? 1000 : 10_000, roundTrips: 0 });
const roundTrip = (quick: boolean): Shape => ({ scenario: 'f', subscribers: quick ? 10 : 100, rate: 0, durationMs: 0, roundTrips: quick ? 50 : 2000 });

async function measure(kind: WsServerKind, options: WsBenchOptions, shape: Shape): Promise<WsRow> {
  const server = await startServer(kind, options.fromSource);
  const clients: BenchClient[] = [];
  try {
    const topic = 'broadcast';
    const latency = new LatencyHistogram();
    let received = 0;
    for (let i = 0; i < shape.subscribers; i++) {
      const client = await connectClient(kind.protocol, server.url);
      client.onEvent((data) => {
        received += 1;
        if (shape.scenario === 'e') latency.record((performance.now() - Number(data)) * 1000);
      });
      await client.subscribe(topic);
      clients.push(client);
    }
    const publisher = await connectClient(kind.protocol, server.url);
    clients.push(publisher);
    const before = processCost(server.pid);
    let published = 0;
    let expected = 0;
    if (shape.scenario === 'e') {
      const started = performance.now();
      for (let n = 0; performance.now() - started < shape.durationMs; n++) {
        await publisher.publish(topic, String(performance.now()));
        published += 1;
        const due = started + ((n + 1) * 1000) / shape.rate;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      }
      expected = published * shape.subscribers;
    } else {
      // The publisher follows the topic too, and waits for its own event each time.
      let own: (() => void) | undefined;
      publisher.onEvent(() => own?.());
      await publisher.subscribe(topic);
      for (let i = 0; i < shape.roundTrips; i++) {
        const arrived = new Promise<void>((resolve) => (own = resolve));
        const sent = performance.now();
        await Promise.all([publisher.publish(topic, String(sent)), arrived]);
        latency.record((performance.now() - sent) * 1000);
        published += 1;
      }
      expected = published * shape.subscribers;
    }
    // The last publish is answered (e), or the publisher's own copy is back (f): the other
    // subscribers' copies of the last events may still be on their way.
    const deadline = performance.now() + 15_000;
    while (received < expected && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const after = processCost(server.pid);
    const deliveries = shape.scenario === 'e' ? received : received + published;
    return {
      server: kind.name,
      scenario: shape.scenario,
      subscribers: shape.subscribers,
      published,
      expected,
      received,
      p50Ms: latency.quantile(0.5) / 1000,
      p99Ms: latency.quantile(0.99) / 1000,
      cpuMicrosPerDelivery: deliveries > 0 ? ((after.cpuSeconds - before.cpuSeconds) * 1e6) / deliveries : NaN,
    };
  } finally {
    for (const client of clients) client.close();
    await server.stop();
  }
}

/** What (e) and (f) compare servers on: ssehub's figure over the other's, and which way is better. */
export const WS_COMPARISONS: Record<WsRow['scenario'], ReadonlyArray<Comparison<WsRow>>> = {
  e: [
    { name: '(e) server CPU per delivery', unit: 'µs', better: 'lower', figure: (row) => row.cpuMicrosPerDelivery },
    { name: '(e) p99 latency', unit: 'ms', better: 'lower', figure: (row) => row.p99Ms },
  ],
  f: [
    { name: '(f) round trip p50', unit: 'ms', better: 'lower', figure: (row) => row.p50Ms },
    { name: '(f) round trip p99', unit: 'ms', better: 'lower', figure: (row) => row.p99Ms },
  ],
};

/** One line per other server and scenario: "ssehub: (e) server CPU per delivery 3.10 / 4.20 µs = 0.74× socket.io's (lower is better); …". */
export function wsSummary(rows: readonly WsRow[]): string[] {
  const lines: string[] = [];
  for (const scenario of ['e', 'f'] as const) {
    const hub = rows.find((row) => row.scenario === scenario && row.server === 'ssehub');
    if (hub === undefined) continue;
    for (const other of rows.filter((row) => row.scenario === scenario && row.server !== 'ssehub')) {
      lines.push(`ssehub: ${WS_COMPARISONS[scenario].map((comparison) => comparisonText(comparison, hub, other)).join('; ')}.`);
    }
  }
  return lines;
}

/** Each WebSocket scenario's name, in its table and its chart. */
export const WS_TITLES: Record<WsRow['scenario'], string> = { e: 'WebSocket fan-out', f: 'round trip' };

/** The WebSocket rows as a table for the bench's output and RESULTS.md. */
export function wsTable(rows: readonly WsRow[]): string {
  const lines = ['| scenario | server | subscribers | published | delivered / expected | p50 ms | p99 ms | server CPU µs / delivery |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const row of rows) {
    lines.push(`| (${row.scenario}) ${WS_TITLES[row.scenario]} | ${row.server} | ${row.subscribers} | ${row.published} | ${row.received} / ${row.expected} | ${row.p50Ms.toFixed(2)} | ${row.p99Ms.toFixed(2)} | ${row.cpuMicrosPerDelivery.toFixed(1)} |`);
  }
  return lines.join('\n');
}

async function startServer(kind: WsServerKind, fromSource: boolean): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, kind.command(fromSource), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind.name} did not start:\n${output}`)), 20_000);
    const look = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', () => reject(new Error(`${kind.name} exited:\n${output}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
