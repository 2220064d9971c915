/**
 * Prometheus metrics with prom-client. The hub keeps plain counters on its hot path; they are read
 * into the registry only when /metrics is scraped, so fan-out never pays for instrumentation. The
 * one exception is the delivery latency histogram, observed once per event (not per stream).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Hub } from '../hub/hub.js';
import type { Presence } from '../presence/presence.js';

export interface Metrics {
  registry: Registry;
}

export function createMetrics(hub: Hub, presence?: Presence): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ssehub_' });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  // A counter's collect() adds what happened since the previous scrape.
  const counter = (name: string, help: string, read: () => number): void => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        this.inc(now - reported);
        reported = now;
      },
    });
  };
  gauge('ssehub_connections', 'Open event streams.', () => hub.stats().connections);
  gauge('ssehub_topics', 'Topics with retained history.', () => hub.stats().topics);
  gauge('ssehub_retained_events', 'Events held in history.', () => hub.stats().retainedEvents);
  if (hub.stats().retainedBytes !== undefined) {
    // Engines that keep history in this process (the memory engine) count it against a byte budget.
    gauge('ssehub_retained_bytes', 'What retained events count against --history-max-bytes.', () => hub.stats().retainedBytes ?? 0);
    counter('ssehub_evicted_for_budget_total', 'Events evicted, oldest first, because history went past --history-max-bytes.', () => hub.stats().evictedForBudget ?? 0);
  }
  counter('ssehub_events_published_total', 'Events accepted by this hub.', () => hub.stats().eventsPublished);
  counter('ssehub_events_delivered_total', 'Events queued to streams (one per stream per event).', () => hub.stats().eventsDelivered);
  counter('ssehub_slow_consumers_dropped_total', 'Streams cut off for falling behind their buffer limit.', () => hub.stats().slowConsumersDropped);
  // Observed by the hub itself, once per event (see hub/latency.ts).
  registry.registerMetric(hub.deliveryLatency);
  counter('ssehub_streams_ended_by_gap_total', 'Streams ended so that clients resume from history, after the engine lost events before delivering them here.', () => hub.stats().streamsEndedByGap);
  if (presence !== undefined) {
    gauge('ssehub_presence_members', 'Members of presence topics (a subject on a topic), across the cluster.', () => presence.stats().members);
    gauge('ssehub_presence_topics', 'Topics with at least one member, across the cluster.', () => presence.stats().topics);
    gauge('ssehub_presence_instances', 'Hub instances whose streams this one knows of (itself included).', () => presence.stats().instances);
  }
  return { registry };
}
