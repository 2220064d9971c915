/**
 * Deadlines checked by one timer, as node:http checks its own connections, rather than a timer per
 * socket or stream. (A socket once given setTimeout keeps the timer's object for life, even cleared:
 * on a connection that becomes an event stream, memory for nothing.) A deadline passes up to a
 * quarter of the shortest timeout late, at most a second. Used by the publish fast path
 * (fast-publish.ts) and by the HTTP/2 guards (http2-timeouts.ts).
 */

/** Something with a deadline: expire() is called once the deadline has passed. */
export interface Expiring {
  /** When expire() is due, in ms since the epoch (0: never). */
  deadline: number;
  expire(now: number): void;
}

export class TimeoutSweep {
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;

  /** `timeoutsMs`: the timeouts the deadlines are made of (0 for one that is off). */
  constructor(timeoutsMs: readonly number[]) {
    const quarters = timeoutsMs.filter((ms) => ms > 0).map((ms) => Math.floor(ms / 4));
    this.intervalMs = Math.max(25, Math.min(1000, ...quarters));
  }

  /** Checks the deadlines of `open` until none is left in it; entries leave it themselves. */
  keepChecking(open: Set<Expiring>): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const each of open) if (each.deadline !== 0 && each.deadline <= now) each.expire(now);
      if (open.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, this.intervalMs);
    this.timer.unref();
  }
}
