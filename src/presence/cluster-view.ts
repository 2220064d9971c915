/**
 * Who is subscribed where, across the cluster, as every instance builds it from the presence
 * messages of the system bus. The view is a function of those messages alone, applied in the
 * engine's order, so every instance that has seen the same messages has the same view, and a
 * change of the cluster's figures (a subject's first or last connection to a topic, a topic's first
 * or last subscription) happens at one message, the same one everywhere.
 *
 * Per instance it keeps what that instance last said: members (topic -> subject -> connections
 * and info) and subscriptions (topic or pattern -> streams). The cluster's figures are the sums,
 * kept as the instances' entries change.
 */

/** What an instance reports of one subject on one topic. */
export interface MemberEntry {
  topic: string;
  subject: string;
  /** The client info from the subject's grant (at most 1 KiB of JSON), if any. */
  info?: unknown;
  /** Open streams of the subject on the topic, on that instance (a change, in a delta). */
  connections: number;
}

/** A member as the cluster sees it. */
export interface Member {
  subject: string;
  info?: unknown;
  /** Open streams of the subject on the topic, across the cluster. */
  connections: number;
}

/** What a change of the view did to the cluster's figures. */
export interface ViewChanges {
  /** A subject's first connection to a topic, anywhere in the cluster. */
  joined: Array<{ topic: string; member: Member }>;
  /** A subject's last connection to a topic closed. */
  left: Array<{ topic: string; member: Member }>;
  /** A topic (by its name, as subscribed) got its first stream in the cluster. */
  occupied: string[];
  /** A topic lost its last stream in the cluster. */
  vacated: string[];
}

interface InstanceEntries {
  members: Map<string, Map<string, { info?: unknown; connections: number }>>;
  subscriptions: Map<string, number>;
}

export class ClusterView {
  private readonly instances = new Map<string, InstanceEntries>();
  /** topic -> subject -> the sum over instances. */
  private readonly members = new Map<string, Map<string, Member>>();
  /** topic or pattern -> streams, summed over instances. */
  private readonly subscriptions = new Map<string, number>();

  /** Instances with entries (or that said anything since they were last removed). */
  instanceIds(): string[] {
    return [...this.instances.keys()];
  }

  /** Members (a subject on a topic) across the cluster, and the topics that have any. */
  counts(): { members: number; topics: number } {
    let members = 0;
    for (const bySubject of this.members.values()) members += bySubject.size;
    return { members, topics: this.members.size };
  }

  has(instance: string): boolean {
    return this.instances.has(instance);
  }

  /** The members of a topic across the cluster, by subject. */
  membersOf(topic: string): Member[] {
    const bySubject = this.members.get(topic);
    return bySubject === undefined ? [] : [...bySubject.values()].map((member) => ({ ...member }));
  }

  /** Whether the subject has at least one stream on the topic, anywhere. */
  isMember(topic: string, subject: string): boolean {
    return this.members.get(topic)?.has(subject) ?? false;
  }

  /** Streams subscribed to the topic or to a pattern that matches it, across the cluster. */
  subscriptionsMatching(matches: (selector: string) => boolean): number {
    let total = 0;
    for (const [selector, count] of this.subscriptions) if (matches(selector)) total += count;
    return total;
  }

  /** Replaces everything an instance had said with its full state. */
  replace(instance: string, members: readonly MemberEntry[], subscriptions: ReadonlyArray<[string, number]>): ViewChanges {
    const changes = emptyChanges();
    this.removeEntries(instance, changes);
    this.instances.set(instance, { members: new Map(), subscriptions: new Map() });
    this.applyEntries(instance, members, subscriptions, changes);
    return netted(changes);
  }

  /** Applies an instance's changes (connections and streams as +n / -n). */
  apply(instance: string, members: readonly MemberEntry[], subscriptions: ReadonlyArray<[string, number]>): ViewChanges {
    const changes = emptyChanges();
    if (!this.instances.has(instance)) this.instances.set(instance, { members: new Map(), subscriptions: new Map() });
    this.applyEntries(instance, members, subscriptions, changes);
    return changes;
  }

  /** Forgets an instance (it stopped, or fell silent): its streams leave. */
  remove(instance: string): ViewChanges {
    const changes = emptyChanges();
    this.removeEntries(instance, changes);
    this.instances.delete(instance);
    return changes;
  }

  private removeEntries(instance: string, changes: ViewChanges): void {
    const entries = this.instances.get(instance);
    if (entries === undefined) return;
    for (const [topic, bySubject] of entries.members) {
      for (const [subject, entry] of bySubject) this.changeMember(entries, topic, subject, entry.info, -entry.connections, changes);
    }
    for (const [selector, count] of entries.subscriptions) this.changeSubscriptions(entries, selector, -count, changes);
  }

  private applyEntries(instance: string, members: readonly MemberEntry[], subscriptions: ReadonlyArray<[string, number]>, changes: ViewChanges): void {
    const entries = this.instances.get(instance)!;
    for (const entry of members) this.changeMember(entries, entry.topic, entry.subject, entry.info, entry.connections, changes);
    for (const [selector, delta] of subscriptions) this.changeSubscriptions(entries, selector, delta, changes);
  }

  /** Moves one instance's count for a subject on a topic, and the cluster's sum; never below zero. */
  private changeMember(entries: InstanceEntries, topic: string, subject: string, info: unknown, delta: number, changes: ViewChanges): void {
    let own = entries.members.get(topic);
    const before = own?.get(subject)?.connections ?? 0;
    // A change that would go below zero refers to streams this view never heard of (it joined the
    // cluster late): only what it knows is taken away.
    const after = Math.max(0, before + delta);
    const applied = after - before;
    if (applied === 0) return;
    if (after === 0) {
      own!.delete(subject);
      if (own!.size === 0) entries.members.delete(topic);
    } else {
      if (own === undefined) entries.members.set(topic, (own = new Map()));
      own.set(subject, info === undefined ? { connections: after } : { info, connections: after });
    }
    let cluster = this.members.get(topic);
    const member = cluster?.get(subject);
    const total = (member?.connections ?? 0) + applied;
    if (total <= 0) {
      if (member !== undefined) {
        cluster!.delete(subject);
        if (cluster!.size === 0) this.members.delete(topic);
        changes.left.push({ topic, member: { ...member, connections: 0 } });
      }
      return;
    }
    if (member === undefined) {
      if (cluster === undefined) this.members.set(topic, (cluster = new Map()));
      const joined: Member = info === undefined ? { subject, connections: total } : { subject, info, connections: total };
      cluster.set(subject, joined);
      changes.joined.push({ topic, member: { ...joined } });
    } else {
      member.connections = total;
      if (info !== undefined && applied > 0) member.info = info;
    }
  }

  private changeSubscriptions(entries: InstanceEntries, selector: string, delta: number, changes: ViewChanges): void {
    const before = entries.subscriptions.get(selector) ?? 0;
    const after = Math.max(0, before + delta);
    const applied = after - before;
    if (applied === 0) return;
    if (after === 0) entries.subscriptions.delete(selector);
    else entries.subscriptions.set(selector, after);
    const clusterBefore = this.subscriptions.get(selector) ?? 0;
    const clusterAfter = clusterBefore + applied;
    if (clusterAfter <= 0) {
      this.subscriptions.delete(selector);
      if (clusterBefore > 0) changes.vacated.push(selector);
    } else {
      this.subscriptions.set(selector, clusterAfter);
      if (clusterBefore === 0) changes.occupied.push(selector);
    }
  }
}

/**
 * A replacement takes an instance's entries away and puts its new ones in: what it had before and
 * still has is no change (a subject that left and joined again in the same message never left).
 */
function netted(changes: ViewChanges): ViewChanges {
  const key = (topic: string, subject: string) => `${topic}\n${subject}`;
  const left = new Set(changes.left.map(({ topic, member }) => key(topic, member.subject)));
  const joined = new Set(changes.joined.map(({ topic, member }) => key(topic, member.subject)));
  const vacated = new Set(changes.vacated);
  const occupied = new Set(changes.occupied);
  return {
    joined: changes.joined.filter(({ topic, member }) => !left.has(key(topic, member.subject))),
    left: changes.left.filter(({ topic, member }) => !joined.has(key(topic, member.subject))),
    occupied: changes.occupied.filter((topic) => !vacated.has(topic)),
    vacated: changes.vacated.filter((topic) => !occupied.has(topic)),
  };
}

function emptyChanges(): ViewChanges {
  return { joined: [], left: [], occupied: [], vacated: [] };
}
