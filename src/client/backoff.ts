/**
 * Exponential backoff with full jitter: the n-th consecutive retry waits a uniformly random time in
 * [0, min(max, base * 2^n)). Random spreading keeps a crowd of clients that lost the same server
 * from coming back in lockstep; a server's `Retry-After` is a floor on top.
 */
export interface BackoffOptions {
  /** Upper bound of the first wait, in ms (default 1000). A stream's `retry:` field replaces it. */
  initialDelayMs?: number;
  /** Cap of the wait, in ms (default 30000). */
  maxDelayMs?: number;
  /** Source of randomness in [0, 1): injectable for tests (default Math.random). */
  random?: () => number;
}

/** The smallest base a server's `retry:` can set. */
const MIN_BASE_MS = 100;

export class Backoff {
  #base: number;
  readonly #max: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#base = options.initialDelayMs ?? 1000;
    this.#max = options.maxDelayMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Consecutive failures so far. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The server's reconnection time (`retry:`) becomes the base of the curve. */
  setBase(ms: number): void {
    this.#base = Math.max(MIN_BASE_MS, ms); // "retry: 0" must not turn into a tight reconnect loop
  }

  /** The next wait in ms; `floorMs` (from Retry-After) is honoured when larger. */
  next(floorMs = 0): number {
    const ceiling = Math.min(this.#max, this.#base * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    // A Retry-After beyond the cap is held to the cap: the caller's limit wins over a server's whim.
    return Math.max(Math.floor(this.#random() * ceiling), Math.min(floorMs, this.#max));
  }

  /** After a healthy stream or a success: the next failure starts the curve again. */
  reset(): void {
    this.#attempt = 0;
  }
}
