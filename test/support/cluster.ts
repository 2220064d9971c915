/** Helpers for tests that run several hubs on one shared engine. */
import assert from 'node:assert/strict';
import { RESET_EVENT, type ParsedEvent } from '../../src/protocol/index.js';
import { httpRequest, openStream, type OpenStream, type Reply } from './http.js';
import { until } from './wait.js';

/**
 * A subscriber that behaves like a browser behind a load balancer: when its stream ends or breaks
 * it reconnects, to the next hub in the list, sending the Last-Event-ID it holds.
 */
export class FailoverSubscriber {
  readonly events: ParsedEvent[] = [];
  /** Reserved control events received (ssehub.reset and the like), other than position markers. */
  readonly controls: ParsedEvent[] = [];
  /** For each ssehub.reset received, how many events had arrived before it. */
  readonly resetsAt: number[] = [];
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
            if (event.type === RESET_EVENT) this.resetsAt.push(this.events.length);
            if (event.type.startsWith('ssehub.')) this.controls.push(event);
            else this.events.push(event);
          }
          // Kept across reconnects, as EventSource does: a stream that ended before its first event must not drop it.
          this.lastEventId = stream.lastEventId() || this.lastEventId;
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

const RETRY_FOR_MS = 60_000;

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
  let last = '';
  // Retries for a minute, as a patient client would: a failover (seconds) can be followed by a
  // claim of the key that the dead server's last attempt left pending (409 for up to 10 s).
  const deadline = Date.now() + RETRY_FOR_MS;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
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
      last = `${reply.status} ${reply.text.trim()}`;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('publish answered')) throw error;
      onAttempt(error as Error);
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`could not publish ${data} to ${topic} in ${RETRY_FOR_MS / 1000} s; the last answer: ${last}`);
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

/**
 * Load across hubs while a server is killed, for the kill tests of replicated engines: subscribers
 * that fail over between the hubs, warmed up until each has an event, then publishers that retry
 * with their Idempotency-Key; checkLoad() tells whether every acknowledged event reached every
 * subscriber exactly once, in one order, with no reset.
 */
export class LoadAcrossHubs {
  readonly subscribers: FailoverSubscriber[];
  /** The status of every publish attempt (-1: no answer). */
  readonly statuses: number[] = [];
  readonly failures: string[] = [];
  published = 0;
  /** Per publisher, how many of its events were acknowledged so far. */
  readonly acknowledged: number[] = [];
  private publishing: Promise<void[]> | undefined;

  constructor(
    private readonly hubUrls: () => string[],
    subscribers: number,
    /** Makes this run's Idempotency-Keys its own (a namespace). */
    private readonly keySuffix: string,
  ) {
    this.subscribers = Array.from({ length: subscribers }, (_, i) => new FailoverSubscriber(() => (i % 2 === 0 ? hubUrls() : [...hubUrls()].reverse()), '/topics/load'));
  }

  /** Publishes warm-up events until every subscriber has one (its Last-Event-ID then covers the rest). */
  async warmUp(): Promise<void> {
    let warmUps = 0;
    await until(async () => {
      await publishWithRetry(this.hubUrls, 'load', `w:${warmUps}`, `w${warmUps}-${this.keySuffix}`);
      warmUps += 1;
      return this.subscribers.every((subscriber) => subscriber.events.length > 0);
    }, 'every subscriber connected', 30_000, 100);
  }

  /** A subscriber's events without the warm-ups (those it missed before connecting are not counted). */
  loadOf(subscriber: FailoverSubscriber): ParsedEvent[] {
    return subscriber.events.filter((event) => !event.data.startsWith('w:'));
  }

  /** Starts `publishers` publishers of `perPublisher` events each, alternating the hubs they try first. */
  startPublishing(publishers: number, perPublisher: number): void {
    this.counts = Object.fromEntries(Array.from({ length: publishers }, (_, p) => [`p${p}`, perPublisher]));
    const record = (reply: Reply | Error) => {
      this.statuses.push(reply instanceof Error ? -1 : reply.status);
      if (reply instanceof Error) this.failures.push(reply.message);
    };
    this.acknowledged.splice(0, Infinity, ...Array.from({ length: publishers }, () => 0));
    this.publishing = Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let n = 0; n < perPublisher; n++) {
          const order = p % 2 === 0 ? this.hubUrls() : [...this.hubUrls()].reverse();
          // 30 s: the hub's request timeout; an answer always comes well before it, 503 at worst.
          await publishWithRetry(() => order, 'load', `p${p}:${n}`, `p${p}-${n}-${this.keySuffix}`, record, 30_000);
          this.published += 1;
          this.acknowledged[p] = n + 1;
        }
      }),
    );
  }

  private counts: Record<string, number> = {};

  async publishingDone(): Promise<void> {
    await this.publishing;
  }

  /** Attempts by status, for the test's diagnostics. */
  statusCounts(): Record<number, number> {
    return this.statuses.reduce<Record<number, number>>((count, status) => ({ ...count, [status]: (count[status] ?? 0) + 1 }), {});
  }

  /**
   * Every publish attempt was answered (201, 503, or 409 for a retry racing its first try), and
   * every subscriber got every event exactly once, in the same order as the others, with no reset.
   * `explain` adds what the hubs said to a subscriber that waited in vain.
   */
  async checkLoad(explain: () => string): Promise<void> {
    this.checkAnswers();
    const total = this.total();
    for (const [i, subscriber] of this.subscribers.entries()) {
      await subscriber.waitFor(() => this.loadOf(subscriber).length >= total, `subscriber ${i} to receive everything`, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${explain()}`);
      });
      // A reset first: its replay would otherwise show only as duplicates. The hubs' output says why.
      assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset\n${explain()}`);
      assert.equal(checkExactlyOnceInOrder(this.loadOf(subscriber), this.counts), undefined, `subscriber ${i}\n${explain()}`);
    }
    // One order: every subscriber saw the same ids in the same sequence.
    const order = this.loadOf(this.subscribers[0]!).map((event) => event.lastEventId);
    for (const [i, subscriber] of this.subscribers.entries()) {
      assert.deepEqual(this.loadOf(subscriber).map((event) => event.lastEventId), order, `subscriber ${i} saw the order of subscriber 0`);
    }
  }

  /**
   * For a failover that may lose acknowledged events: every publish attempt was answered, and each
   * subscriber either got every acknowledged event exactly once, in order, with no reset; or got
   * ssehub.reset, and after its last reset every event publisher p had acknowledged from
   * `keptFrom[p]` on (what the failover cannot have lost), exactly once and in order. Answers how
   * many subscribers were reset.
   */
  async checkLoadOrReset(keptFrom: readonly number[], explain: () => string): Promise<number> {
    this.checkAnswers();
    const last = Object.entries(this.counts).map(([publisher, count]) => `${publisher}:${count - 1}`);
    let reset = 0;
    for (const [i, subscriber] of this.subscribers.entries()) {
      const sinceReset = () => subscriber.events.slice(subscriber.resetsAt.at(-1) ?? 0).map((event) => event.data);
      await subscriber.waitFor(() => last.every((data) => sinceReset().includes(data)), `subscriber ${i} to receive every publisher's last event`, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${explain()}`);
      });
      if (subscriber.resetsAt.length === 0) {
        assert.equal(checkExactlyOnceInOrder(this.loadOf(subscriber), this.counts), undefined, `subscriber ${i}, never reset, has every acknowledged event: ${this.loadOf(subscriber).map((e) => `${e.data}@${e.lastEventId}`).join(' ')}\n${explain()}`);
        continue;
      }
      reset += 1;
      const kept = sinceReset().filter((data) => {
        const [publisher, n] = data.split(':');
        return publisher!.startsWith('p') && Number(n) >= keptFrom[Number(publisher!.slice(1))]!;
      });
      const expected = Object.entries(this.counts).flatMap(([publisher, count]) =>
        Array.from({ length: Math.max(0, count - keptFrom[Number(publisher.slice(1))]!) }, (_, k) => `${publisher}:${keptFrom[Number(publisher.slice(1))]! + k}`),
      );
      const byPublisher = (list: string[]) => [...list].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      assert.deepEqual(byPublisher(kept), byPublisher(expected), `subscriber ${i}, reset: every event acknowledged since the failover, once`);
      for (const publisher of Object.keys(this.counts)) {
        const mine = kept.filter((data) => data.startsWith(`${publisher}:`)).map((data) => Number(data.split(':')[1]));
        assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `subscriber ${i}: ${publisher}'s events in order`);
      }
    }
    return reset;
  }

  /** Every publish attempt was answered: 201, 503, or 409 for a retry racing its first try. */
  private checkAnswers(): void {
    assert.deepEqual(this.failures, [], 'every publish attempt got an answer');
    assert.ok(this.statuses.every((status) => [201, 503, 409].includes(status)), `only 201, 503 or 409: ${[...new Set(this.statuses)].join(', ')}`);
  }

  private total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.subscribers.map((subscriber) => subscriber.stop()));
  }
}
