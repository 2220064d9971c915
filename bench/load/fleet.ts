/**
 * The subscriber side of a run: several load processes (bench/load/subscribers.ts), each holding at
 * most `perProcess` connections so none reaches the open-file limit, driven together.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LatencyHistogram } from './histogram.js';
import type { LoadCommand, LoadReport } from './subscribers.js';

const WORKER = fileURLToPath(new URL('./subscribers.ts', import.meta.url));
/** Source addresses: all of 127.0.0.0/8 is loopback on Linux, and each has its own ephemeral ports. */
export const SOURCE_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export interface FleetReport {
  connected: number;
  /** Connections open to each port: with several hubs, each one's share. */
  connectedByPort: Record<number, number>;
  failed: number;
  dropped: number;
  events: number;
  /** Events a connection received again (see delivery-count.ts). */
  duplicates: number;
  histogram: LatencyHistogram;
  errors: string[];
}

export class SubscriberFleet {
  private constructor(private readonly children: ChildProcess[]) {}

  /** A fleet of `processes` from this one's processes (which must be enough), cleared for reuse. */
  async subset(processes: number): Promise<SubscriberFleet> {
    if (processes > this.children.length) throw new Error(`the fleet has ${this.children.length} load processes, not ${processes}`);
    const part = new SubscriberFleet(this.children.slice(0, processes));
    await part.drop();
    return part;
  }

  /** Closes every connection and zeroes every counter. */
  async drop(): Promise<void> {
    await Promise.all(this.children.map((child) => this.ask(child, { type: 'drop' }, 'dropped')));
  }

  static async start(processes: number): Promise<SubscriberFleet> {
    const children = Array.from({ length: processes }, () =>
      fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    await Promise.all(children.map((child) => new Promise((resolve, reject) => (child.once('spawn', resolve), child.once('error', reject)))));
    return new SubscriberFleet(children);
  }

  get pids(): number[] {
    return this.children.map((child) => child.pid!);
  }

  /**
   * Opens one stream per path, spread evenly over the processes, path j on ports[j % ports.length]
   * (several hubs: each gets every n-th subscriber); resolves when all are in.
   */
  async open(ports: number[], paths: string[], concurrency = 128): Promise<FleetReport> {
    const share = <T>(items: T[], i: number): T[] => items.filter((_, j) => j % this.children.length === i);
    const portOf = paths.map((_, j) => ports[j % ports.length]!);
    return merge(
      await Promise.all(
        this.children.map((child, i) =>
          this.ask(child, {
            type: 'open',
            host: '127.0.0.1',
            ports: share(portOf, i),
            paths: share(paths, i),
            sources: SOURCE_ADDRESSES,
            concurrency: Math.ceil(concurrency / this.children.length),
          }),
        ),
      ),
    );
  }

  /** Zeroes the event counters and histograms (connections stay open). */
  async reset(): Promise<void> {
    await Promise.all(this.children.map((child) => this.ask(child, { type: 'reset' }, 'reset')));
  }

  async report(): Promise<FleetReport> {
    return merge(await Promise.all(this.children.map((child) => this.ask(child, { type: 'report' }))));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.send({ type: 'close' } satisfies LoadCommand);
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }

  private ask(child: ChildProcess, command: LoadCommand, answer = 'report'): Promise<LoadReport> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: LoadReport | { type: string }): void => {
        if (message.type !== answer) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as LoadReport);
      };
      const onExit = (): void => reject(new Error('a load process exited'));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(command);
    });
  }
}

function merge(reports: LoadReport[]): FleetReport {
  const histogram = new LatencyHistogram();
  for (const report of reports) if (report.histogram) histogram.merge(new LatencyHistogram(report.histogram));
  const sum = (key: 'connected' | 'failed' | 'dropped' | 'events' | 'duplicates'): number => reports.reduce((total, report) => total + (report[key] ?? 0), 0);
  const connectedByPort: Record<number, number> = {};
  for (const report of reports) for (const [port, count] of Object.entries(report.connectedByPort ?? {})) connectedByPort[Number(port)] = (connectedByPort[Number(port)] ?? 0) + count;
  return {
    connected: sum('connected'),
    connectedByPort,
    failed: sum('failed'),
    dropped: sum('dropped'),
    events: sum('events'),
    duplicates: sum('duplicates'),
    histogram,
    errors: [...new Set(reports.flatMap((report) => report.errors ?? []))],
  };
}
