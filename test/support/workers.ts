/**
 * Helpers for tests of `ssehub serve --workers N`:
 * - InstanceWatcher tells the workers apart from the outside: every instance publishes its own
 *   `stats` event to `$ssehub/stats` (with --stats-interval), with its instance id, its streams per
 *   topic and its publish count; the watcher follows that topic and keeps each instance's reports.
 * - ResumingSubscriber and publishUntilStored are clients that, like real ones, give up on a
 *   connection that gets no answer and try again. node:cluster's round-robin can leave a
 *   connection unanswered when it was being handed to a worker at the moment that worker died
 *   (the primary never hears back about it): a client without a timeout would wait forever.
 */
import { request } from 'node:http';
import type { InstanceStats } from '../../src/hub/system-stats.js';
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a client waits for response headers before it tries a new connection. */
const ANSWER_TIMEOUT_MS = 3000;

/**
 * A subscriber that reconnects whenever its stream ends, breaks or goes unanswered, sending the
 * Last-Event-ID it holds, like EventSource behind a load balancer.
 */
export class ResumingSubscriber {
  readonly events: ParsedEvent[] = [];
  /** Reserved control events received (ssehub.reset and the like), other than position markers. */
  readonly controls: ParsedEvent[] = [];
  reconnects = 0;
  private lastEventId = '';
  private stopped = false;
  private abort: (() => void) | undefined;
  private readonly running: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly path: string,
  ) {
    this.running = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.connectOnce();
      if (this.stopped) break;
      this.reconnects += 1;
      await pause(50);
    }
  }

  private connectOnce(): Promise<void> {
    return new Promise<void>((done) => {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      const parser = new EventStreamParser({
        onEvent: (event) => {
          this.lastEventId = event.lastEventId;
          if (event.type === 'ssehub.position') return;
          if (event.type.startsWith('ssehub.')) this.controls.push(event);
          else this.events.push(event);
        },
      });
      const req = request(`${this.url}${this.path}`, { headers, agent: false }, (res) => {
        clearTimeout(unanswered);
        if (res.statusCode !== 200) {
          res.resume();
          res.once('end', () => done());
          return;
        }
        res.on('data', (chunk: Buffer) => parser.feed(chunk));
        res.once('close', () => done());
      });
      const unanswered = setTimeout(() => req.destroy(), ANSWER_TIMEOUT_MS);
      req.once('error', () => {
        clearTimeout(unanswered);
        done();
      });
      req.once('close', () => done());
      req.end();
      this.abort = () => req.destroy();
    });
  }

  /** Resolves once the predicate holds over the events received. */
  async waitFor(predicate: (events: ParsedEvent[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.events.length} events, ${this.reconnects} reconnects`);
      await pause(20);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.();
    await this.running;
  }
}

/**
 * Publishes one event with an Idempotency-Key, trying again (same key) after a network error, a
 * 503, a 409 (the first attempt still in flight) or an attempt that got no answer in time.
 */
export async function publishUntilStored(url: string, topic: string, data: string, key: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const outcome = await new Promise<{ status: number; body: string } | undefined>((resolve) => {
      const req = request(
        `${url}/topics/${topic}`,
        { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': key }, agent: false, timeout: ANSWER_TIMEOUT_MS },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.once('end', () => resolve({ status: res.statusCode!, body }));
          res.once('error', () => resolve(undefined));
        },
      );
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(undefined));
      req.end(data);
    });
    if (outcome?.status === 201) return (JSON.parse(outcome.body) as { id: string }).id;
    if (outcome !== undefined && outcome.status !== 503 && outcome.status !== 409) throw new Error(`publish answered ${outcome.status}: ${outcome.body}`);
    await pause(50);
  }
  throw new Error(`could not publish ${data} to ${topic}`);
}

export class InstanceWatcher {
  private readonly subscriber: ResumingSubscriber;

  /** A hub's output, when it has one, ends the message of a wait that timed out. */
  constructor(private readonly hub: { url: string; output?(): string }) {
    this.subscriber = new ResumingSubscriber(hub.url, `/topics/${encodeURIComponent('$ssehub/stats')}`);
  }

  /** Every report received, oldest first. */
  reports(): InstanceStats[] {
    return this.subscriber.events.filter((event) => event.type === 'stats').map((event) => JSON.parse(event.data) as InstanceStats);
  }

  /** Each instance's newest report among those taken at or after `since` (ms since the epoch). */
  latest(since = 0): Map<string, InstanceStats> {
    const latest = new Map<string, InstanceStats>();
    for (const report of this.reports()) if (report.time >= since) latest.set(report.instance, report);
    return latest;
  }

  /** Resolves with the newest reports once the predicate holds over them. */
  async waitFor(predicate: (latest: Map<string, InstanceStats>) => boolean, what: string, options: { since?: number; timeoutMs?: number } = {}): Promise<Map<string, InstanceStats>> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const latest = this.latest(options.since);
      if (predicate(latest)) return latest;
      if (Date.now() > deadline) {
        const output = this.hub.output?.().split('\n').slice(-40).join('\n');
        throw new Error(
          `timed out waiting for ${what}; newest reports: ${JSON.stringify([...latest.values()])}; the watcher reconnected ${this.subscriber.reconnects} times${output === undefined ? '' : `; the hub's output, last 40 lines:\n${output}`}`,
        );
      }
      await pause(50);
    }
  }

  stop(): Promise<void> {
    return this.subscriber.stop();
  }
}

/** How many streams of this instance subscribe to `topic`, from its report (0 if it has none or no report). */
export function subscribersOf(report: InstanceStats | undefined, topic: string): number {
  return report?.topics.top.find((entry) => entry.topic === topic)?.subscribers ?? 0;
}
