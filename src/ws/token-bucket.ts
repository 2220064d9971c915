/**
 * A token bucket: `perSecond` takes a second, refilled continuously, at most `perSecond` saved up.
 * One per WebSocket connection for its ephemeral publishes, which no shared rate counts (they are
 * many, small and worthless a second later: the limit is the connection's, kept in its process).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
