/**
 * The NATS engine's key-value store: one JetStream KV bucket per namespace, shared by every hub
 * instance on it.
 *
 * Server 2.9 has no per-key TTL, so each value is stored with its expiry ({ v, x }) and an expired
 * key reads exactly like an absent one; the bucket's max_age (KV_MAX_AGE_MS) removes old entries
 * eventually. Expiry is judged by each instance's clock, so instances' clocks must roughly agree.
 * Every conditional write is a compare-and-set on the key's revision (expected last subject
 * sequence), which is what makes setOnce, take and increment safe across instances.
 */
import { Buffer } from 'node:buffer';
import type { KV, KvEntry } from 'nats';
import type { KeyValueStore } from './engine.js';
import { orUnavailable } from './unavailable.js';

/** How long the bucket keeps any entry: a bound for cleanup, above every TTL the hub uses. */
export const KV_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Compare-and-set attempts before giving up (only reached under extreme contention on one key). */
const MAX_CAS_ATTEMPTS = 100;

interface Stored {
  /** The value. */
  v: string;
  /** Expiry, in milliseconds since the epoch. */
  x: number;
}

interface Current {
  revision: number;
  /** The value if the key exists and has not expired. */
  live: Stored | null;
}

/** True for the error of a compare-and-set that lost: the key changed since it was read. */
export function isWrongSequence(error: unknown): boolean {
  const apiError = (error as { api_error?: { err_code?: number } }).api_error;
  return apiError?.err_code === 10071 || (error instanceof Error && /wrong last sequence/i.test(error.message));
}

export class NatsKeyValueStore implements KeyValueStore {
  constructor(private readonly bucket: KV) {}

  setOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.withRetries(key, async (k, current) => {
      if (current?.live) return false;
      await this.write(k, current, { v: value, x: Date.now() + ttlMs });
      return true;
    });
  }

  take(key: string): Promise<string | null> {
    return this.withRetries(key, async (k, current) => {
      if (!current?.live) return null;
      // Deleting with the revision read: of racing takers, only one delete succeeds.
      await this.bucket.delete(k, { previousSeq: current.revision });
      return current.live.v;
    });
  }

  get(key: string): Promise<string | null> {
    return orUnavailable('nats', async () => (await this.read(keyOf(key)))?.live?.v ?? null);
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return orUnavailable('nats', async () => void (await this.bucket.put(keyOf(key), encode({ v: value, x: Date.now() + ttlMs }))));
  }

  delete(key: string): Promise<void> {
    return orUnavailable('nats', async () => void (await this.bucket.delete(keyOf(key))));
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return this.withRetries(key, async (k, current) => {
      // The window starts with the first increment; later ones keep its expiry.
      const next = current?.live ? { v: String(Number(current.live.v) + 1), x: current.live.x } : { v: '1', x: Date.now() + ttlMs };
      await this.write(k, current, next);
      return Number(next.v);
    });
  }

  /** Reads the key and runs the step, again from a fresh read whenever its compare-and-set loses. */
  private withRetries<T>(key: string, step: (k: string, current: Current | null) => Promise<T>): Promise<T> {
    const k = keyOf(key);
    return orUnavailable('nats', async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.read(k);
        try {
          return await step(k, current);
        } catch (error) {
          if (!isWrongSequence(error) || attempt >= MAX_CAS_ATTEMPTS) throw error;
        }
      }
    });
  }

  /** Writes only if the key is still as read: absent (create) or at the revision read (update). */
  private async write(k: string, current: Current | null, value: Stored): Promise<void> {
    if (current === null) await this.bucket.create(k, encode(value));
    else await this.bucket.update(k, encode(value), current.revision);
  }

  private async read(k: string): Promise<Current | null> {
    const entry: KvEntry | null = await this.bucket.get(k);
    if (entry === null) return null;
    return { revision: entry.revision, live: entry.operation === 'PUT' ? liveValue(entry) : null };
  }
}

function liveValue(entry: KvEntry): Stored | null {
  try {
    const stored = entry.json<Stored>();
    return typeof stored.v === 'string' && typeof stored.x === 'number' && stored.x > Date.now() ? stored : null;
  } catch {
    return null; // not written by this store: treat as absent
  }
}

/** KV keys allow only [-/_=.a-zA-Z0-9]: base64url fits, and the prefix keeps the empty key valid. */
function keyOf(key: string): string {
  return `k${Buffer.from(key, 'utf8').toString('base64url')}`;
}

function encode(value: Stored): string {
  return JSON.stringify(value);
}
