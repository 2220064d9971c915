/**
 * A subscriber load process (forked by bench/run.ts, driven over IPC): opens many raw TCP
 * connections to an SSE endpoint, spread over several 127.0.0.x source addresses so the run is not
 * limited by one address's ephemeral ports, and counts what arrives with a StreamScanner. Each
 * process stays under the per-process open-file limit; run.ts starts as many as the scenario needs.
 */
import { connect, type Socket } from 'node:net';
import { DeliveryTally } from './delivery-count.js';
import { StreamScanner } from './stream-scanner.js';

export type LoadCommand =
  /** One stream per path, path i on port ports[i] (several hubs on one engine each get their share). */
  | { type: 'open'; host: string; ports: number[]; paths: string[]; sources: string[]; concurrency: number }
  | { type: 'reset' }
  | { type: 'report' }
  /** Closes every connection and zeroes everything: the process is ready for the next run. */
  | { type: 'drop' }
  | { type: 'close' };

export interface LoadReport {
  type: 'report';
  /** Connections whose response headers said 200. */
  connected: number;
  /** Of those, how many are open to each port (each hub of a run with several). */
  connectedByPort: Record<number, number>;
  /** Connections refused, answered with another status, or failed before their headers. */
  failed: number;
  /** Connections that were open and then closed by the server. */
  dropped: number;
  /** Benchmark events received since the last reset. */
  events: number;
  /** Of those, events a connection had already received (by sequence number). */
  duplicates: number;
  /** Latency histogram counts since the last reset (LatencyHistogram buckets). */
  histogram: number[];
  /** The first few distinct failure reasons. */
  errors: string[];
}

const sockets = new Set<Socket>();
const tally = new DeliveryTally();
let connected = 0;
const connectedByPort = new Map<number, number>();
let failed = 0;
let dropped = 0;
const errors = new Set<string>();

function fail(reason: string): void {
  failed += 1;
  if (errors.size < 5) errors.add(reason);
}

/**
 * Every connection of this process reads into this one buffer (net's `onread`): no Buffer and no
 * stream machinery per read, which is most of what a read costs a load process. Sharing it is safe
 * because each read is scanned synchronously before the next is taken, and the scanner copies what
 * it carries over.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Opens one connection; resolves once it is streaming or has failed. */
function openOne(host: string, port: number, path: string, localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    const scanner = new StreamScanner(tally.forConnection());
    let settled = false;
    const settle = (): void => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    const onRead = (length: number, buffer: Uint8Array): boolean => {
      const before = scanner.headersDone;
      try {
        scanner.push((buffer as Buffer).subarray(0, length));
      } catch (error) {
        fail((error as Error).message);
        socket.destroy();
        settle();
        return false;
      }
      if (!before && scanner.headersDone) {
        if (scanner.status === 200) {
          connected += 1;
          connectedByPort.set(port, (connectedByPort.get(port) ?? 0) + 1);
        } else {
          fail(`status ${scanner.status}`);
          socket.destroy();
        }
        settle();
      }
      return true;
    };
    const socket = connect({ host, port, localAddress, onread: { buffer: READ_BUFFER, callback: onRead } });
    sockets.add(socket);
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!settled) {
        fail(error.code ?? error.message);
        settle();
      }
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (!settled) {
        fail('closed before the headers');
        settle();
      } else if (scanner.status === 200 && !closing) {
        dropped += 1;
        connected -= 1;
        connectedByPort.set(port, connectedByPort.get(port)! - 1);
      }
    });
  });
}

let closing = false;

async function open(command: Extract<LoadCommand, { type: 'open' }>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < command.paths.length) {
      const i = next++;
      await openOne(command.host, command.ports[i]!, command.paths[i]!, command.sources[i % command.sources.length]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.paths.length) }, worker));
}

function report(): LoadReport {
  return { type: 'report', connected, connectedByPort: Object.fromEntries(connectedByPort), failed, dropped, events: tally.events, duplicates: tally.duplicates, histogram: Array.from(tally.histogram.counts), errors: [...errors] };
}

process.on('message', (command: LoadCommand) => {
  switch (command.type) {
    case 'open':
      void open(command).then(() => process.send!(report()));
      break;
    case 'reset':
      tally.reset();
      process.send!({ type: 'reset' });
      break;
    case 'report':
      process.send!(report());
      break;
    case 'drop':
      closing = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      closing = false;
      connected = failed = dropped = 0;
      connectedByPort.clear();
      errors.clear();
      tally.reset();
      process.send!({ type: 'dropped' });
      break;
    case 'close':
      closing = true;
      for (const socket of sockets) socket.destroy();
      process.disconnect();
      break;
  }
});
