/**
 * Streams opened with `?presence=1`: each gets who is on its presence topics when it opens
 * (ssehub.presence), then ssehub.join and ssehub.leave as subjects come and go anywhere in the
 * cluster. Control events carry no id: they are not part of history, and a reconnect gets a
 * fresh ssehub.presence instead of a replay.
 */
import type { Subscriber } from '../hub/subscriber.js';
import { ControlFrames, controlFrame } from '../hub/wire-format.js';
import { JOIN_EVENT, LEAVE_EVENT, PRESENCE_EVENT, type MemberDetail, type PresenceDetail } from '../protocol/index.js';
import type { MemberChange, Presence } from './presence.js';

export class PresenceWatchers {
  private readonly byTopic = new Map<string, Set<Subscriber>>();

  constructor(private readonly presence: Presence) {
    presence.on('join', (change) => this.tell(JOIN_EVENT, change));
    presence.on('leave', (change) => this.tell(LEAVE_EVENT, change));
  }

  /** Sends the stream the members of its topics now, and their changes from now on. */
  watch(subscriber: Subscriber, topics: readonly string[]): void {
    for (const topic of topics) {
      let watchers = this.byTopic.get(topic);
      if (watchers === undefined) this.byTopic.set(topic, (watchers = new Set()));
      watchers.add(subscriber);
      const detail: PresenceDetail = { topic, members: this.presence.members(topic) };
      subscriber.enqueue(controlFrame(subscriber.format, { event: PRESENCE_EVENT, data: JSON.stringify(detail) }));
    }
  }

  unwatch(subscriber: Subscriber, topics: readonly string[]): void {
    for (const topic of topics) {
      const watchers = this.byTopic.get(topic);
      watchers?.delete(subscriber);
      if (watchers?.size === 0) this.byTopic.delete(topic);
    }
  }

  private tell(event: string, { topic, member }: MemberChange): void {
    const watchers = this.byTopic.get(topic);
    if (watchers === undefined) return;
    const detail: MemberDetail = { topic, member };
    const frames = new ControlFrames({ event, data: JSON.stringify(detail) });
    for (const subscriber of watchers) subscriber.enqueue(frames.for(subscriber.format));
  }
}
