/**
 * Presence and occupancy, cluster-wide: who is subscribed to a topic, how many streams a topic
 * has, and the changes (join, leave, occupied, vacated), on every engine.
 *
 * Each instance counts its own streams and tells the others on the system bus's `presence`
 * channel: its full state when it starts and whenever another instance says hello, changes as
 * deltas (gathered for DELTA_DELAY_MS), and `alive` when it has said nothing for a third of the
 * TTL. Every instance builds the same ClusterView from those messages. An instance that falls
 * silent for the TTL (it was killed) is expired by a message too, so its streams leave at the same
 * point of the order everywhere; an instance that stops cleanly says `gone`.
 *
 * A subject's leave waits for the grace period: a reconnect within it (to any instance) is neither
 * a leave nor a join. Changes are told to this instance's listeners (hub.on, streams with
 * `?presence=1`) on every instance; `causedHere` marks the one instance whose message made the
 * change, for what must happen once per cluster (webhooks).
 */
import type { HubLogger } from '../hub/hub.js';
import type { SystemBus, SystemMessage } from '../hub/system-bus.js';
import { parseSubscribeSelector, selectorMatches, type Selector } from '../topics/index.js';
import { ClusterView, type Member, type MemberEntry, type ViewChanges } from './cluster-view.js';

export type { Member } from './cluster-view.js';

export interface PresenceSettings {
  /** Topics whose subscribers are members (--presence), besides those whose grant carries presence info. */
  topics: readonly Selector[];
  /** How long an instance may stay silent before its streams are taken to be gone. */
  ttlMs: number;
  /** How long a subject's last stream may be closed before it leaves (a reconnect within it is no leave). */
  graceMs: number;
}

/** A subject's presence on the topics of one stream, as subscribe.ts opens it. */
export interface StreamMembership {
  subject: string;
  info: unknown;
  topics: readonly string[];
}

/** A topic's first stream in the cluster (`occupied`) or its last (`vacated`). */
export interface TopicChange {
  topic: string;
  /** Whether this instance's message made the change: true on exactly one instance of the cluster. */
  causedHere: boolean;
}

/** A subject's first stream on a topic (`join`), or its last one gone for the grace period (`leave`). */
export interface MemberChange extends TopicChange {
  member: Member;
}

export type PresenceChange = TopicChange | MemberChange;
export type MemberEventName = 'join' | 'leave';
export type TopicEventName = 'occupied' | 'vacated';
export type PresenceEventName = MemberEventName | TopicEventName;
export type PresenceListener<C extends PresenceChange = PresenceChange> = (change: C) => void;

/** hub.on / hub.off: the change a listener gets follows from the event's name. */
export interface PresenceEvents {
  on(event: MemberEventName, listener: PresenceListener<MemberChange>): void;
  on(event: TopicEventName, listener: PresenceListener<TopicChange>): void;
  off(event: MemberEventName, listener: PresenceListener<MemberChange>): void;
  off(event: TopicEventName, listener: PresenceListener<TopicChange>): void;
}

/** How long changes are gathered into one delta message. */
const DELTA_DELAY_MS = 20;
/** Most entries in one message: a large state or delta goes in several. */
const ENTRIES_PER_MESSAGE = 2000;
/** How often silent instances are looked for. */
const SILENCE_CHECK_MS = 1000;

type WireMember = [topic: string, subject: string, connections: number, info?: unknown];
interface WireEntries {
  m?: WireMember[];
  s?: Array<[string, number]>;
}

export class Presence {
  private readonly view = new ClusterView();
  /** This instance's own streams: topic -> subject -> connections and info. */
  private readonly ownMembers = new Map<string, Map<string, { info: unknown; connections: number }>>();
  private readonly ownSubscriptions = new Map<string, number>();
  private pendingMembers = new Map<string, MemberEntry>();
  private pendingSubscriptions = new Map<string, number>();
  private deltaTimer: NodeJS.Timeout | undefined;
  /** When each other instance was last heard from (this process's clock). */
  private readonly lastHeard = new Map<string, number>();
  /** Instances this one has asked to expire and not yet seen expire, with when it asked (asked again after a TTL: the message may have been lost). */
  private readonly expiring = new Map<string, number>();
  /** Leaves waiting out the grace period, by topic and subject. */
  private readonly pendingLeaves = new Map<string, NodeJS.Timeout>();
  private readonly listeners = new Map<PresenceEventName, PresenceListener[]>();
  private sentSinceTick = false;
  /** A send failed: the others' picture of this instance may be wrong until the full state goes out again. */
  private stateOwed = false;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly bus: SystemBus,
    private readonly settings: PresenceSettings,
    private readonly logger: HubLogger,
  ) {
    bus.on('presence', (message) => this.receive(message));
    // Messages were lost on the way here: ask every instance for its state again.
    bus.onGap(() => this.send('hello', {}));
  }

  /** Says hello (the others answer with their state), sends this instance's state, starts the timers. */
  start(): void {
    this.send('hello', {});
    this.sendState();
    const tick = setInterval(() => this.tick(), Math.max(50, Math.floor(this.settings.ttlMs / 3)));
    const check = setInterval(() => this.expireSilent(), Math.min(SILENCE_CHECK_MS, Math.max(50, Math.floor(this.settings.ttlMs / 3))));
    tick.unref();
    check.unref();
    this.timers = [tick, check];
  }

  /** Tells the others this instance is gone (its streams leave at once, not after the TTL). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.deltaTimer !== undefined) clearTimeout(this.deltaTimer);
    for (const timer of this.pendingLeaves.values()) clearTimeout(timer);
    this.pendingLeaves.clear();
    await this.bus.send('presence', 'gone', {}).catch(() => {});
  }

  on(event: MemberEventName, listener: PresenceListener<MemberChange>): void;
  on(event: TopicEventName, listener: PresenceListener<TopicChange>): void;
  on(event: PresenceEventName, listener: PresenceListener<never>): void {
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [listener as PresenceListener]);
    else list.push(listener as PresenceListener);
  }

  off(event: MemberEventName, listener: PresenceListener<MemberChange>): void;
  off(event: TopicEventName, listener: PresenceListener<TopicChange>): void;
  off(event: PresenceEventName, listener: PresenceListener<never>): void {
    const list = this.listeners.get(event);
    if (list !== undefined) this.listeners.set(event, list.filter((l) => l !== listener));
  }

  /** Whether a stream of this principal on this topic makes its subject a member. */
  tracks(topic: string, hasInfo: boolean): boolean {
    return hasInfo || this.settings.topics.some((selector) => selectorMatches(selector, topic));
  }

  /** For /metrics: the cluster's members (a subject on a topic), the topics with members, and the instances this one hears. */
  stats(): { members: number; topics: number; instances: number } {
    return { ...this.view.counts(), instances: this.view.instanceIds().length };
  }

  /** The members of a topic, across the cluster. */
  members(topic: string): Member[] {
    return this.view.membersOf(topic);
  }

  /** Streams subscribed to the topic, or to a pattern that matches it, across the cluster. */
  subscribers(topic: string): number {
    return this.view.subscriptionsMatching((source) => {
      if (source === topic) return true;
      if (!source.includes('*')) return false;
      try {
        return selectorMatches(parseSubscribeSelector(source), topic);
      } catch {
        return false;
      }
    });
  }

  /** A stream opened: its subscriptions, and its subject's membership of its presence topics. */
  streamOpened(selectors: readonly Selector[], membership: StreamMembership | undefined): void {
    for (const selector of selectors) this.changeSubscriptions(selector.source, 1);
    if (membership !== undefined) for (const topic of membership.topics) this.changeMember(topic, membership.subject, membership.info, 1);
    this.scheduleDelta();
  }

  streamClosed(selectors: readonly Selector[], membership: StreamMembership | undefined): void {
    if (this.closed) return;
    for (const selector of selectors) this.changeSubscriptions(selector.source, -1);
    if (membership !== undefined) for (const topic of membership.topics) this.changeMember(topic, membership.subject, membership.info, -1);
    this.scheduleDelta();
  }

  private changeSubscriptions(source: string, delta: number): void {
    const count = (this.ownSubscriptions.get(source) ?? 0) + delta;
    if (count <= 0) this.ownSubscriptions.delete(source);
    else this.ownSubscriptions.set(source, count);
    this.pendingSubscriptions.set(source, (this.pendingSubscriptions.get(source) ?? 0) + delta);
  }

  private changeMember(topic: string, subject: string, info: unknown, delta: number): void {
    let bySubject = this.ownMembers.get(topic);
    const count = (bySubject?.get(subject)?.connections ?? 0) + delta;
    if (count <= 0) {
      bySubject?.delete(subject);
      if (bySubject?.size === 0) this.ownMembers.delete(topic);
    } else {
      if (bySubject === undefined) this.ownMembers.set(topic, (bySubject = new Map()));
      bySubject.set(subject, { info, connections: count });
    }
    const key = `${topic}\n${subject}`;
    const pending = this.pendingMembers.get(key);
    if (pending === undefined) this.pendingMembers.set(key, { topic, subject, info, connections: delta });
    else pending.connections += delta;
  }

  private scheduleDelta(): void {
    if (this.deltaTimer !== undefined || this.closed) return;
    this.deltaTimer = setTimeout(() => this.sendDelta(), DELTA_DELAY_MS);
    this.deltaTimer.unref();
  }

  private sendDelta(): void {
    this.deltaTimer = undefined;
    const members: WireMember[] = [];
    for (const entry of this.pendingMembers.values()) {
      if (entry.connections !== 0) members.push(wireMember(entry));
    }
    const subscriptions = [...this.pendingSubscriptions].filter(([, delta]) => delta !== 0);
    this.pendingMembers = new Map();
    this.pendingSubscriptions = new Map();
    for (const part of chunks(members, subscriptions)) this.send('delta', part);
  }

  /** Everything this instance has: a `state` (which replaces what it said before), more in deltas if large. */
  private sendState(): void {
    // What is pending is part of the state: sending it again as a delta would count it twice.
    if (this.deltaTimer !== undefined) clearTimeout(this.deltaTimer);
    this.deltaTimer = undefined;
    this.pendingMembers = new Map();
    this.pendingSubscriptions = new Map();
    const members: WireMember[] = [];
    for (const [topic, bySubject] of this.ownMembers) {
      for (const [subject, { info, connections }] of bySubject) members.push(wireMember({ topic, subject, info, connections }));
    }
    const parts = chunks(members, [...this.ownSubscriptions]);
    this.send('state', parts[0] ?? {});
    for (const part of parts.slice(1)) this.send('delta', part);
  }

  private send(type: string, data: WireEntries | Record<string, unknown>): void {
    if (this.closed && type !== 'gone') return;
    this.sentSinceTick = true;
    this.bus.send('presence', type, data).catch((error: unknown) => {
      if (!this.stateOwed) this.logger.warn({ err: error }, 'could not send presence to the cluster; sending the full state again once the engine answers');
      this.stateOwed = true;
    });
  }

  /** Every third of the TTL: the full state if a send failed, else `alive` if nothing was said. */
  private tick(): void {
    if (this.stateOwed) {
      this.stateOwed = false;
      this.sendState();
    } else if (!this.sentSinceTick) {
      this.send('alive', {});
    }
    this.sentSinceTick = false;
  }

  /** Asks the cluster to expire instances silent for the TTL (every instance that notices asks; the first message counts). */
  private expireSilent(): void {
    const now = Date.now();
    for (const [instance, heard] of this.lastHeard) {
      if (now - heard <= this.settings.ttlMs) continue;
      const asked = this.expiring.get(instance);
      if (asked !== undefined && now - asked <= this.settings.ttlMs) continue;
      if (asked === undefined) this.logger.warn({ instance, silentMs: now - heard }, 'a hub instance fell silent; its streams leave presence');
      this.expiring.set(instance, now);
      this.send('expire', { instance });
    }
  }

  private receive(message: SystemMessage): void {
    if (this.closed) return;
    const from = message.instance;
    const here = this.bus.instance;
    const causedHere = from === here;
    if (from !== here) {
      this.lastHeard.set(from, Date.now());
      this.expiring.delete(from); // it spoke: not dead after all
    }
    const data = (message.data ?? {}) as WireEntries & { instance?: unknown };
    switch (message.type) {
      case 'hello':
        if (from !== here) this.sendState();
        return;
      case 'state':
        this.report(this.view.replace(from, membersOf(data), subscriptionsOf(data)), causedHere);
        return;
      case 'delta':
        this.report(this.view.apply(from, membersOf(data), subscriptionsOf(data)), causedHere);
        return;
      case 'alive':
        if (!this.view.has(from)) this.report(this.view.apply(from, [], []), causedHere);
        return;
      case 'gone':
        this.forget(from, causedHere);
        return;
      case 'expire': {
        const instance = typeof data.instance === 'string' ? data.instance : undefined;
        if (instance === undefined) return;
        // Still here: the others took this instance for dead, so it says everything again.
        if (instance === here) this.sendState();
        else this.forget(instance, causedHere);
        return;
      }
      default:
        return;
    }
  }

  private forget(instance: string, causedHere: boolean): void {
    this.lastHeard.delete(instance);
    this.expiring.delete(instance);
    if (this.view.has(instance)) this.report(this.view.remove(instance), causedHere);
  }

  /** Tells the listeners what changed; leaves wait out the grace period. */
  private report(changes: ViewChanges, causedHere: boolean): void {
    for (const { topic, member } of changes.joined) {
      const key = `${topic}\n${member.subject}`;
      const leaving = this.pendingLeaves.get(key);
      if (leaving !== undefined) {
        // Back within the grace period: it never left.
        clearTimeout(leaving);
        this.pendingLeaves.delete(key);
        continue;
      }
      this.emit('join', { topic, member, causedHere });
    }
    for (const { topic, member } of changes.left) {
      const key = `${topic}\n${member.subject}`;
      if (this.pendingLeaves.has(key)) continue;
      const timer = setTimeout(() => {
        this.pendingLeaves.delete(key);
        if (!this.view.isMember(topic, member.subject)) this.emit('leave', { topic, member, causedHere });
      }, this.settings.graceMs);
      timer.unref();
      this.pendingLeaves.set(key, timer);
    }
    for (const topic of changes.occupied) if (isTopic(topic)) this.emit('occupied', { topic, causedHere });
    for (const topic of changes.vacated) if (isTopic(topic)) this.emit('vacated', { topic, causedHere });
  }

  private emit(event: PresenceEventName, change: PresenceChange): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(change);
      } catch (error) {
        this.logger.error({ err: error, event }, 'a presence listener failed');
      }
    }
  }
}

/** Exact user topics (not patterns, not system topics) are occupied and vacated. */
function isTopic(source: string): boolean {
  return !source.includes('*') && source.charCodeAt(0) !== 36;
}

function wireMember(entry: MemberEntry): WireMember {
  return entry.info === undefined ? [entry.topic, entry.subject, entry.connections] : [entry.topic, entry.subject, entry.connections, entry.info];
}

/** The member entries of a message; malformed ones (from a forged message) are skipped. */
function membersOf(data: WireEntries): MemberEntry[] {
  if (!Array.isArray(data.m)) return [];
  const entries: MemberEntry[] = [];
  for (const item of data.m) {
    if (!Array.isArray(item)) continue;
    const [topic, subject, connections, info] = item;
    if (typeof topic !== 'string' || typeof subject !== 'string' || typeof connections !== 'number' || !Number.isFinite(connections)) continue;
    entries.push(info === undefined ? { topic, subject, connections } : { topic, subject, connections, info });
  }
  return entries;
}

function subscriptionsOf(data: WireEntries): Array<[string, number]> {
  if (!Array.isArray(data.s)) return [];
  return data.s.filter((item): item is [string, number] => Array.isArray(item) && typeof item[0] === 'string' && typeof item[1] === 'number' && Number.isFinite(item[1]));
}

/** Splits entries into messages of at most ENTRIES_PER_MESSAGE entries (none when there are none). */
function chunks(members: WireMember[], subscriptions: Array<[string, number]>): WireEntries[] {
  const parts: WireEntries[] = [];
  for (let i = 0; i < Math.max(members.length, subscriptions.length); i += ENTRIES_PER_MESSAGE) {
    const part: WireEntries = {};
    const m = members.slice(i, i + ENTRIES_PER_MESSAGE);
    const s = subscriptions.slice(i, i + ENTRIES_PER_MESSAGE);
    if (m.length > 0) part.m = m;
    if (s.length > 0) part.s = s;
    parts.push(part);
  }
  return parts;
}
