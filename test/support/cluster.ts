/** Helpers for tests that run several hubs on one shared engine. */
import type { ParsedEvent } from '../../src/protocol/index.js';
import { httpRequest, openStream, type OpenStream, type Reply } from './http.js';

/**
 * A subscriber that behaves like a browser behind a load balancer: when its stream ends or breaks
 * it reconnects, to the next hub in the list, sending the Last-Event-ID it holds.
 */
export class FailoverSubscriber {
  readonly events: ParsedEvent[] = [];
  /** Reserved control events received (ssehub.reset and the like), other than position markers. */
  readonly controls: ParsedEvent[] = [];
  reconnects = 0;
  private current: OpenStream | undefined;
  private lastEventId = '';
  private stopped = false;
  private hubIndex = 0;
  private readonly running: Promise<void>;

  constructor(
    private readonly hubs: () => string[],
    private readonly path: string,
  ) {
    this.running = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const urls = this.hubs();
      const url = urls[this.hubIndex % urls.length]!;
      try {
        const headers: Record<string, string> = this.lastEventId ? { 'Last-Event-ID': this.lastEventId } : {};
        const stream = await openStream(`${url}${this.path}`, headers);
        this.current = stream;
        let seen = 0;
        const take = (): void => {
          for (; seen < stream.events.length; seen++) {
            const event = stream.events[seen]!;
            if (event.type.startsWith('ssehub.')) this.controls.push(event);
            else this.events.push(event);
          }
          this.lastEventId = stream.lastEventId();
        };
        const poll = setInterval(take, 5);
        await stream.ended;
        clearInterval(poll);
        take();
      } catch {
        // refused or reset: try the next hub
      }
      if (this.stopped) break;
      this.reconnects += 1;
      this.hubIndex += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Resolves once the predicate holds over the events received. */
  async waitFor(predicate: (events: ParsedEvent[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.events.length} events, ${this.reconnects} reconnects`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.close();
    await this.running;
  }
}

/**
 * Publishes one event, retrying on 503 and network errors with the same Idempotency-Key. With
 * `timeoutMs`, an attempt that gets no answer for that long counts as a network error.
 */
export async function publishWithRetry(
  hubs: () => string[],
  topic: string,
  data: string,
  key: string,
  onAttempt: (reply: Reply | Error) => void = () => {},
  timeoutMs?: number,
): Promise<string> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const urls = hubs();
    const url = urls[attempt % urls.length]!;
    try {
      const reply = await httpRequest(`${url}/topics/${topic}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': key },
        body: data,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      onAttempt(reply);
      if (reply.status === 201) return reply.json().id as string;
      if (reply.status !== 503 && reply.status !== 409) throw new Error(`publish answered ${reply.status}: ${reply.text}`);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('publish answered')) throw error;
      onAttempt(error as Error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`could not publish ${data} to ${topic}`);
}

/**
 * Checks that a subscriber got each publisher's events exactly once and in order: data is
 * "<publisher>:<n>", and publisher p sent 0..counts[p]-1.
 */
export function checkExactlyOnceInOrder(events: readonly ParsedEvent[], counts: Record<string, number>): string | undefined {
  const next: Record<string, number> = {};
  const ids = new Set<string>();
  for (const event of events) {
    if (ids.has(event.lastEventId)) return `duplicate id ${event.lastEventId}`;
    ids.add(event.lastEventId);
    const [publisher, n] = event.data.split(':');
    const expected = next[publisher!] ?? 0;
    if (Number(n) !== expected) return `publisher ${publisher}: got ${n}, expected ${expected}`;
    next[publisher!] = expected + 1;
  }
  for (const [publisher, count] of Object.entries(counts)) {
    if ((next[publisher] ?? 0) !== count) return `publisher ${publisher}: got ${next[publisher] ?? 0} of ${count}`;
  }
  return undefined;
}
