/**
 * What one more hub costs to read the shared log, by itself: a reader process (an engine instance
 * with no subscriber, as a hub whose subscribers follow other topics) delivers every event another
 * process appends, and its CPU is read per event; beside it the engine server's CPU (engine-server.ts).
 * Appends go in batches (`--batch`), so the reader takes many entries per read, as it does under a
 * steady flow; `--batch 1` with `--concurrency 1` gives a read per event, its worst case.
 *
 *   node --import tsx bench/read-cost.ts --engine redis://127.0.0.1:6379 [--events 20000] [--batch 100] [--concurrency 4] [--readers 1]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openEngine } from '../src/engines/index.js';
import { engineServer } from './engine-server.js';
import { processCost } from './proc.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'redis://127.0.0.1:6379' },
    events: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    readers: { type: 'string', default: '1' },
    namespace: { type: 'string' },
    reader: { type: 'boolean', default: false },
  },
});
const events = Number(values.events);
const settings = { historyMaxEvents: 10, historyMaxAgeMs: 3_600_000, namespace: values.namespace ?? `bench_read_${Date.now().toString(36)}` };

if (values.reader) {
  // A reader: counts deliveries, reports its CPU from the first to the last.
  const engine = await openEngine(values.engine, settings);
  let seen = 0;
  let started: NodeJS.CpuUsage | undefined;
  engine.onDeliver(() => {
    if (seen++ === 0) started = process.cpuUsage();
    if (seen === events) {
      const used = process.cpuUsage(started);
      process.send!({ micros: used.user + used.system, events: seen - 1 });
      void engine.close().then(() => process.exit(0));
    }
  });
  process.send!({ ready: true });
} else {
  const readers = Array.from({ length: Number(values.readers) }, () =>
    fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--reader', '--namespace', settings.namespace], { execArgv: ['--import', 'tsx'] }),
  );
  const results = readers.map((child) => new Promise<{ micros: number; events: number }>((resolve) => child.on('message', (m: { micros?: number; events: number }) => m.micros !== undefined && resolve(m as { micros: number; events: number }))));
  await Promise.all(readers.map((child) => new Promise((resolve) => child.on('message', (m: { ready?: boolean }) => m.ready && resolve(undefined)))));
  const engine = await openEngine(values.engine, settings);
  const server = engineServer(values.engine);
  const serverBefore = server ? processCost(server.pid).cpuSeconds : NaN;
  const batch = Number(values.batch);
  let next = 0;
  const appender = async (): Promise<void> => {
    while (next < events) {
      const size = Math.min(batch, events - next);
      next += size;
      await engine.append(Array.from({ length: size }, (_, i) => ({ topic: `user-${(next + i) % 2000}`, data: `{"p":"${'x'.repeat(90)}"}` })));
    }
  };
  const wall = performance.now();
  await Promise.all(Array.from({ length: Number(values.concurrency) }, appender));
  const done = await Promise.all(results);
  const serverMicros = server ? (processCost(server.pid).cpuSeconds - serverBefore) * 1e6 : NaN;
  const perEvent = done.map((r) => r.micros / r.events);
  console.log(
    `${values.engine}: ${events} events in batches of ${batch}, ${values.concurrency} appending at once, ${readers.length} reader(s), ${Math.round(performance.now() - wall)} ms: ` +
      `reader CPU ${perEvent.map((v) => v.toFixed(1)).join(', ')} µs/event; engine server ${(serverMicros / events).toFixed(1)} µs/event (appends and reads)`,
  );
  await engine.close();
}
