/** The memory engine's key-value store: a Map with expiry, swept as keys are touched. */
import type { KeyValueStore } from './engine.js';

export class MemoryKeyValueStore implements KeyValueStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private writesSinceSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async setOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.sweepSometimes();
    const existing = this.entries.get(key);
    if (existing && existing.expiresAt > this.now()) return false;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async take(key: string): Promise<string | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    this.entries.delete(key); // deleted before anything else can run: one taker only
    return entry.expiresAt > this.now() ? entry.value : null;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops expired keys now and then, so unused keys cannot pile up. */
  private sweepSometimes(): void {
    if (++this.writesSinceSweep < 1000) return;
    this.writesSinceSweep = 0;
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
