/**
 * Group commit, for the engines that store on a server (Redis, PostgreSQL): the appends made while
 * one group is being stored wait in a queue, then go together as the next group: one command or
 * one transaction for all of them instead of one each. The engine says how a group is taken from
 * the queue and how it is stored; this queue says when.
 *
 * Invariant: at most one group is in flight, and every way an append can be left waiting ends in
 * `next()`: add() calls it, and so does the end of every group, however its store ended. An append
 * made at any moment (even from code that a group's own answer resumed) is taken by a later group
 * or starts one.
 */

import type { NewEvent } from './engine.js';

/** Characters of data and event names in an append: what the engines bound a group by, beside its events. */
export function charsOf(events: readonly NewEvent[]): number {
  let chars = 0;
  for (const event of events) chars += event.data.length + (event.event?.length ?? 0);
  return chars;
}

/** What the queue holds: an append with its promise's reject, for a group whose storing threw. */
export interface Queued {
  reject(error: unknown): void;
}

export interface GroupStore<T extends Queued> {
  /**
   * Removes the next group from the queue, at least one append; what it leaves keeps its order.
   * Called with a queue of at least one; it must not throw.
   */
  take(queue: T[]): T[];
  /**
   * Stores a group and answers each of its appends. It may change the queue: put appends back to
   * be retried, or refuse those that waited behind a server that did not answer. Should it throw
   * or reject, the group's appends are refused with its error, and the next group still goes.
   */
  store(group: T[], queue: T[]): Promise<void>;
  /**
   * How long (ms) to wait for the appends the last group answered to come back, when fewer than
   * that group's size are waiting; absent: never wait. Publishers that wait for each answer come
   * back together, and starting the moment the first is back alternates groups of one and of all
   * the others. 0: do not wait (a closing engine, say). Asked when a wait would start: an engine
   * whose answer changes during a wait (closing) calls next() to have it asked again.
   */
  gatherMs?(): number;
}

export class GroupCommit<T extends Queued> {
  private readonly queue: T[] = [];
  private inFlight = false;
  private lastGroupSize = 0;
  private gatherTimer: NodeJS.Timeout | undefined;
  private gathered = false;

  constructor(private readonly groups: GroupStore<T>) {}

  add(append: T): void {
    this.queue.push(append);
    this.next();
  }

  /** Starts the next group unless one is in flight (its end starts it), or waits a moment for more to gather. */
  next(): void {
    if (this.inFlight || this.queue.length === 0) return;
    if (!this.gathered && this.queue.length < this.lastGroupSize) {
      const gatherMs = this.groups.gatherMs?.() ?? 0;
      if (gatherMs > 0) {
        this.gatherTimer ??= setTimeout(() => {
          this.gatherTimer = undefined;
          this.gathered = true;
          this.next();
        }, gatherMs);
        return;
      }
    }
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    this.gathered = false;
    const group = this.groups.take(this.queue);
    this.lastGroupSize = group.length;
    this.inFlight = true;
    let storing: Promise<void>;
    try {
      storing = this.groups.store(group, this.queue);
    } catch (error) {
      storing = Promise.reject(error); // a store that throws before its first await: same as a rejection
    }
    void storing
      .catch((error: unknown) => {
        for (const append of group) append.reject(error); // no-op for those already answered
      })
      .finally(() => {
        this.inFlight = false;
        this.next();
      });
  }
}
