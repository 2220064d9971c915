/**
 * How the instances of a cluster tell each other things: messages on system topics
 * (`$ssehub/<channel>/<instance>`), stored and delivered by the engine like any event. So it works
 * the same on every engine (and between the workers of --workers), needs no second connection, and
 * every instance sees every message in the same order, the engine's id order. Each instance sends
 * on a topic of its own: instances never contend for one topic (the NATS engine orders a topic's
 * publishers optimistically, and contention there costs retries).
 *
 * Invariant: the messages one instance sends reach every instance, itself included, in the order
 * it sent them (send() appends one batch at a time, each in send order). State an instance builds
 * from them is therefore the same everywhere once the same messages have been delivered.
 *
 * Invariant: a message waits for at most the one append in flight, never for a queue of them. What
 * was sent meanwhile goes in the next append, together: a message queued behind N others, one
 * append each, would reach the order N round trips late, and a later message of another instance
 * would overtake it (a stream opened here, reported after the others' closes that came after it).
 */
import type { HistoryResult, StoredEvent } from '../engines/engine.js';
import { HubError } from '../errors.js';
import { parseSubscribeSelector, SYSTEM_TOPIC_PREFIX } from '../topics/index.js';
import type { Hub, HubLogger } from './hub.js';

/** presence: who is subscribed where; control: commands for every instance (disconnects); webhooks: the queue of webhook messages. */
export type SystemChannel = 'presence' | 'control' | 'webhooks';

export interface SystemMessage<T = unknown> {
  /** The engine's id for the message: its place in the order every instance sees. */
  id: string;
  channel: SystemChannel;
  /** What the message says (the event name on the system topic). */
  type: string;
  /** The instance that sent it. */
  instance: string;
  /** When the engine accepted it, ms since the epoch. */
  time: number;
  data: T;
}

export type SystemListener = (message: SystemMessage) => void;

const CHANNELS: readonly SystemChannel[] = ['presence', 'control', 'webhooks'];
/** Most messages, and most bytes of them (the first always goes), in one append. */
const BATCH_MAX_MESSAGES = 100;
const BATCH_MAX_BYTES = 64 * 1024;

/** A message waiting for its append. */
interface Outgoing {
  event: { topic: string; event: string; data: string };
  resolve(stored: StoredEvent): void;
  reject(error: unknown): void;
}

/** The topic an instance sends a channel's messages on. */
export function systemTopic(channel: SystemChannel, instance: string): string {
  return `${SYSTEM_TOPIC_PREFIX}${channel}/${instance}`;
}

/** The pattern of a channel's topics, all instances' (for reading its history). */
export function systemChannelPattern(channel: SystemChannel): string {
  return `${SYSTEM_TOPIC_PREFIX}${channel}/*`;
}

/** The channel of a system topic `$ssehub/<channel>/<instance>`, or undefined for any other topic. */
function channelOf(topic: string): SystemChannel | undefined {
  const rest = topic.slice(SYSTEM_TOPIC_PREFIX.length);
  const slash = rest.indexOf('/');
  if (!topic.startsWith(SYSTEM_TOPIC_PREFIX) || slash === -1) return undefined;
  const channel = rest.slice(0, slash) as SystemChannel;
  return CHANNELS.includes(channel) ? channel : undefined;
}

export class SystemBus {
  private readonly listeners = new Map<SystemChannel, SystemListener[]>();
  private readonly gapListeners: Array<(detail: string) => void> = [];
  /** Messages sent while an append is in flight, in send order: the next append takes them. */
  private queue: Outgoing[] = [];
  private sending = false;

  constructor(
    private readonly hub: Hub,
    readonly instance: string,
    private readonly logger: HubLogger,
  ) {
    hub.engine.onDeliver((event) => {
      // One character compared per event: user topics never start with "$".
      if (event.topic.charCodeAt(0) === 36 && this.listeners.size > 0) this.receive(event);
    });
    hub.engine.onDeliveryGap((detail) => {
      for (const listener of this.gapListeners) listener(detail);
    });
  }

  /**
   * Sends a message to every instance (this one included), after the ones this instance sent
   * before it. Rejects as the publish does when the engine cannot store it (engine_unavailable), as
   * do the messages in the same append; the messages after them are still sent.
   */
  send(channel: SystemChannel, type: string, data: unknown): Promise<StoredEvent> {
    const payload = JSON.stringify({ instance: this.instance, data });
    return new Promise((resolve, reject) => {
      this.queue.push({ event: { topic: systemTopic(channel, this.instance), event: type, data: payload }, resolve, reject });
      if (!this.sending) void this.sendQueued();
    });
  }

  /** Listens to a channel's messages, from every instance, in the engine's order. */
  on(channel: SystemChannel, listener: SystemListener): void {
    const list = this.listeners.get(channel);
    if (list === undefined) this.listeners.set(channel, [listener]);
    else list.push(listener);
  }

  /**
   * The channel's messages after `afterId` that the engine still holds (all of them for an id it
   * does not know, such as ""), from every instance, in order, with history()'s completeness and
   * position: messages after the position come to the listeners.
   */
  async history(channel: SystemChannel, afterId: string): Promise<Omit<HistoryResult, 'events'> & { messages: SystemMessage[] }> {
    const { events, ...rest } = await this.hub.engine.history([parseSubscribeSelector(systemChannelPattern(channel))], afterId);
    const messages: SystemMessage[] = [];
    for (const event of events) {
      const message = this.messageOf(event, channel);
      if (message !== undefined) messages.push(message);
    }
    return { ...rest, messages };
  }

  /** Told when the engine lost messages before this instance read them: state built from them may be stale. */
  onGap(listener: (detail: string) => void): void {
    this.gapListeners.push(listener);
  }

  /** Appends what is queued, a batch at a time, until nothing is left. */
  private async sendQueued(): Promise<void> {
    this.sending = true;
    while (this.queue.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && count < BATCH_MAX_MESSAGES) {
        bytes += this.queue[count]!.event.data.length;
        if (count > 0 && bytes > BATCH_MAX_BYTES) break;
        count += 1;
      }
      await this.publish(this.queue.splice(0, count));
    }
    this.sending = false;
  }

  private async publish(batch: Outgoing[]): Promise<void> {
    try {
      // Presence and disconnects are acted on as they arrive, never replayed: every engine keeps no
      // history of them (BUILT_IN_RETENTION). The webhook queue is kept: its history is what is delivered.
      const stored = await this.hub.publish(batch.map((message) => message.event), { allowReservedTopics: true });
      batch.forEach((message, i) => message.resolve(stored[i]!));
    } catch (error) {
      if (batch.length > 1 && error instanceof HubError && error.code === 'publish_too_large') {
        // Too large together for a stream's buffer (--max-buffer): each alone, in order.
        for (const message of batch) await this.publish([message]);
        return;
      }
      for (const message of batch) message.reject(error);
    }
  }

  private receive(event: StoredEvent): void {
    const channel = channelOf(event.topic);
    const listeners = channel === undefined ? undefined : this.listeners.get(channel);
    if (listeners === undefined) return;
    const message = this.messageOf(event, channel!);
    if (message === undefined) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.logger.error({ err: error, topic: event.topic, type: message.type }, 'a system message listener failed');
      }
    }
  }

  /** The message an event on a channel's topic carries; undefined (and a log line) when it is not {instance, data} JSON. */
  private messageOf(event: StoredEvent, channel: SystemChannel): SystemMessage | undefined {
    let body: { instance: string; data: unknown };
    try {
      body = JSON.parse(event.data) as { instance: string; data: unknown };
      if (typeof body !== 'object' || body === null || typeof body.instance !== 'string') throw new Error('no instance');
    } catch {
      this.logger.warn({ topic: event.topic, id: event.id }, 'ignored a system message that is not {instance, data} JSON');
      return undefined;
    }
    return {
      id: event.id,
      channel,
      type: event.event ?? 'message',
      instance: body.instance,
      time: event.time,
      data: body.data,
    };
  }
}
