/**
 * The benchmark's scenarios. Each one is a number of subscribers, how they spread over topics, and
 * how events are published; `sized` scales it down for --quick.
 */
import type { Comparison } from './compare.js';

export interface Scenario {
  key: string;
  title: string;
  subscribers: number;
  topicOf(subscriber: number): string;
  /** The topics to publish to, in turn. */
  publishTopics(): string[];
  /** How many of `connected` subscribers follow `topic`. */
  subscribersOf(topic: string, connected: number): number;
  publish?: { mode: 'paced'; rate: number } | { mode: 'flood'; concurrency: number } | { mode: 'stream' };
  durationMs: number;
  /** Quiet time after connecting, before memory is read. */
  idleMs: number;
  /** Longest wait for late deliveries after publishing stops (it ends as soon as all arrived). */
  settleMs: number;
  /** The wait also ends when nothing arrived for this long. */
  quietMs: number;
  /** The run's subscriber counts for a server (the idle scenario also tries ssehub at 19,000). */
  subscriberCounts(server: string): number[];
  /** The figure ssehub is compared on (stated as ssehub's over the other server's, see compare.ts). */
  ratio: Comparison;
  /** Run only when named in --scenarios, not by default. */
  onRequest?: boolean;
  describe(): string;
  /** Scaled down for --quick, or to another duration or subscriber count (--duration, --subscribers). */
  sized(quick: boolean, durationMs?: number, subscribers?: number): Scenario;
}

function scenario(
  spec: Omit<Scenario, 'sized' | 'subscriberCounts'> & { quickSubscribers: number; quickRate?: number; extraHubCount?: number; ssehubOnly?: boolean },
): Scenario {
  const { quickSubscribers, quickRate, extraHubCount, ssehubOnly, ...rest } = spec;
  const make = (overrides: Partial<Scenario>): Scenario => {
    const built: Scenario = {
      ...rest,
      subscriberCounts: (server) => {
        // A scenario only ssehub's API can run (the streaming publish) has no row for the others.
        if (ssehubOnly === true && server !== 'ssehub') return [];
        return server === 'ssehub' && extraHubCount !== undefined && built.subscribers < extraHubCount ? [built.subscribers, extraHubCount] : [built.subscribers];
      },
      sized: (quick, durationMs, subscribers) => {
        const sized: Partial<Scenario> = quick
          ? {
              subscribers: quickSubscribers,
              durationMs: durationMs ?? 1500,
              idleMs: 300,
              // A smoke check on a busy machine: wait for every delivery rather than cut it short.
              settleMs: 20_000,
              quietMs: 10_000,
              ...(rest.publish?.mode === 'paced' ? { publish: { mode: 'paced' as const, rate: quickRate ?? rest.publish.rate } } : {}),
            }
          : durationMs === undefined
            ? {}
            : { durationMs };
        const next = make(subscribers === undefined ? sized : { ...sized, subscribers });
        // --quick never tries the 19,000-subscriber line.
        if (quick) next.subscriberCounts = (server) => (ssehubOnly === true && server !== 'ssehub' ? [] : [next.subscribers]);
        return next;
      },
      ...overrides,
    };
    return built;
  };
  return make({});
}

const BROADCAST_TOPIC = 'broadcast';

export const SCENARIOS: Scenario[] = [
  scenario({
    key: 'a',
    title: 'broadcast: 2,000 subscribers on one topic, 50 events/s',
    subscribers: 2000,
    quickSubscribers: 200,
    topicOf: () => BROADCAST_TOPIC,
    publishTopics: () => [BROADCAST_TOPIC],
    subscribersOf: (_topic, connected) => connected,
    publish: { mode: 'paced', rate: 50 },
    durationMs: 10_000,
    idleMs: 2000,
    settleMs: 15_000,
    quietMs: 2000,
    ratio: { name: 'server CPU per delivery', unit: 'µs', better: 'lower', figure: (row) => row.cpuMicrosPerDelivery },
    describe() {
      return `${this.subscribers} subscribers on one topic; ${this.publish!.mode === 'paced' ? this.publish!.rate : 0} events/s for ${this.durationMs / 1000} s.`;
    },
  }),
  scenario({
    key: 'b',
    title: 'big broadcast: 10,000 subscribers on one topic, 100 events/s offered',
    subscribers: 10_000,
    quickSubscribers: 500,
    topicOf: () => BROADCAST_TOPIC,
    publishTopics: () => [BROADCAST_TOPIC],
    subscribersOf: (_topic, connected) => connected,
    publish: { mode: 'paced', rate: 100 },
    durationMs: 10_000,
    idleMs: 2000,
    settleMs: 30_000,
    quietMs: 2000,
    ratio: { name: 'deliveries per second', unit: '/s', better: 'higher', figure: (row) => row.deliveriesPerSecond },
    describe() {
      return `${this.subscribers} subscribers on one topic; ${this.publish!.mode === 'paced' ? this.publish!.rate : 0} events/s offered for ${this.durationMs / 1000} s; late deliveries are waited for up to ${this.settleMs / 1000} s, and deliveries/s counts until the last one.`;
    },
  }),
  scenario({
    key: 'c',
    title: 'notifications: 10,000 subscribers, each on its own topic, 16 publishers',
    subscribers: 10_000,
    quickSubscribers: 200,
    topicOf: (i) => `user-${i}`,
    publishTopics() {
      return Array.from({ length: this.subscribers }, (_, i) => `user-${i}`);
    },
    subscribersOf: () => 1,
    publish: { mode: 'flood', concurrency: 16 },
    durationMs: 10_000,
    idleMs: 2000,
    settleMs: 10_000,
    quietMs: 2000,
    ratio: { name: 'publishes per second', unit: '/s', better: 'higher', figure: (row) => row.publishesPerSecond },
    describe() {
      return `${this.subscribers} subscribers, one topic each; 16 publishers send one event each to topics in turn, each as soon as its last was answered, for ${this.durationMs / 1000} s.`;
    },
  }),
  scenario({
    key: 'd',
    title: 'idle: 10,000 subscribers, memory per subscriber',
    subscribers: 10_000,
    quickSubscribers: 500,
    extraHubCount: 19_000,
    topicOf: (i) => `user-${i % 100}`,
    publishTopics: () => [],
    subscribersOf: () => 0,
    durationMs: 0,
    idleMs: 5000,
    settleMs: 0,
    quietMs: 0,
    ratio: { name: 'RSS per subscriber', unit: 'KiB', better: 'lower', figure: (row) => row.rssBytesPerSubscriber / 1024 },
    describe() {
      return `${this.subscribers} subscribers over 100 topics, nothing published; resident memory (RSS) growth from before the first connection, divided by the subscribers, after ${this.idleMs / 1000} s idle.`;
    },
  }),
  scenario({
    key: 'g',
    title: 'streaming publish: 1 producer on one NDJSON request, 1,000 subscribers on 1,000 topics',
    subscribers: 1000,
    quickSubscribers: 100,
    ssehubOnly: true,
    // Only when named: ssehub alone runs it, and the default run's checks expect a row from every server.
    onRequest: true,
    topicOf: (i) => `user-${i}`,
    publishTopics() {
      return Array.from({ length: this.subscribers }, (_, i) => `user-${i}`);
    },
    subscribersOf: () => 1,
    publish: { mode: 'stream' },
    durationMs: 10_000,
    idleMs: 2000,
    settleMs: 10_000,
    quietMs: 2000,
    ratio: { name: 'publishes per second', unit: '/s', better: 'higher', figure: (row) => row.publishesPerSecond },
    describe() {
      return `${this.subscribers} subscribers, one topic each; one producer streams events (POST /publish, application/x-ndjson, 256 lines a chunk, at most 16,384 unanswered) to the topics in turn for ${this.durationMs / 1000} s: each event is delivered once, so publishes/s is the hub's intake, not its fan-out. ssehub only (no peer has a streaming publish).`;
    },
  }),
];
