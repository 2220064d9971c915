/**
 * Idempotent publishing: a publisher that sends `Idempotency-Key: <key>` may retry the same request
 * (after a timeout, a dropped connection or a 503) without the events being stored twice. The
 * first request claims the key in the engine's shared key-value store, so the guarantee holds
 * across every hub instance; a repeat within the window gets the first answer back (with
 * `Idempotent-Replayed: true`), a repeat while the first is still running gets 409, and the same
 * key with different events gets 422.
 */
import { createHash } from 'node:crypto';
import { HubError } from '../errors.js';
import type { KeyValueStore } from '../engines/engine.js';
import type { EventToPublish, PublishedEvent } from '../hub/hub.js';
import type { RequestHead } from './context.js';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/**
 * A claim whose request never finished is released after this long, so that a key cannot stay
 * blocked for the whole window when the engine's server died between the claim and the release.
 * Longer than any publish can take (engine commands time out after 5 s). If the events were stored
 * but the record never said done (the reply was lost, or the instance died), a retry after the claim
 * lapsed still does not store them again: the engine's append remembers the key for the window
 * too (AppendOptions.dedupeKey; on NATS, for the stream's duplicate window) and answers the first ids.
 */
const PENDING_TTL_MS = 10_000;

interface Record {
  state: 'pending' | 'done';
  fingerprint: string;
  ids?: string[];
  topics?: string[];
  events?: Array<string | null>;
  /** The ids of the ends the events stored (null for an event that ended nothing); absent when none did. */
  ends?: Array<string | null>;
}

export interface IdempotentResult {
  stored: PublishedEvent[];
  replayed: boolean;
}

/** The key the request carries, validated, or undefined when it carries none. */
export function idempotencyKeyOf(req: RequestHead): string | undefined {
  return checkedIdempotencyKey(req.headers['idempotency-key']);
}

/** A key as given (header or in-process option), checked: 400 invalid_idempotency_key. */
export function checkedIdempotencyKey(key: unknown): string | undefined {
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new HubError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
  }
  return key;
}

/**
 * Runs `publish` once per (scope, key) within the window. `scope` keeps one publisher's keys apart
 * from another's. If publishing fails the claim is released, so a retry can try again; `publish` gets
 * the store key as the engine's dedupe key, so a retry of a publish that failed after the engine
 * stored it gets the first ids rather than a second copy.
 */
export async function publishOnce(
  kv: KeyValueStore,
  scope: string,
  key: string,
  windowMs: number,
  events: readonly EventToPublish[],
  publish: (dedupeKey: string) => Promise<PublishedEvent[]>,
): Promise<IdempotentResult> {
  const storeKey = `idem:${scope}:${key}`;
  const fingerprint = createHash('sha256').update(JSON.stringify(events.map((e) => (e.end === true ? [e.topic, e.event ?? null, e.data, 'end'] : [e.topic, e.event ?? null, e.data])))).digest('base64url');
  const pending: Record = { state: 'pending', fingerprint };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await kv.setOnce(storeKey, JSON.stringify(pending), Math.min(windowMs, PENDING_TTL_MS))) {
      let stored: PublishedEvent[];
      try {
        stored = await publish(storeKey);
      } catch (error) {
        await kv.delete(storeKey).catch(() => {});
        throw error;
      }
      const done: Record = {
        state: 'done',
        fingerprint,
        ids: stored.map((event) => event.id),
        topics: stored.map((event) => event.topic),
        events: stored.map((event) => event.event ?? null),
      };
      if (stored.some((event) => event.endId !== undefined)) done.ends = stored.map((event) => event.endId ?? null);
      await kv.set(storeKey, JSON.stringify(done), windowMs);
      return { stored, replayed: false };
    }
    const existing = await kv.get(storeKey);
    if (existing === null) continue; // expired between the two calls: claim it again
    const record = JSON.parse(existing) as Record;
    if (record.fingerprint !== fingerprint) {
      throw new HubError(422, 'idempotency_key_reused', 'This Idempotency-Key was already used with different events.');
    }
    if (record.state === 'pending') {
      throw new HubError(409, 'idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', {
        'Retry-After': '1',
      });
    }
    const stored = record.ids!.map((id, i) => {
      const event: PublishedEvent = { id, topic: record.topics![i]!, data: events[i]!.data, time: 0 };
      const name = record.events![i];
      if (name !== null && name !== undefined) event.event = name;
      const endId = record.ends?.[i];
      if (endId !== null && endId !== undefined) event.endId = endId;
      return event;
    });
    return { stored, replayed: true };
  }
  throw new HubError(503, 'idempotency_unavailable', 'Could not claim the Idempotency-Key; retry.', { 'Retry-After': '1' });
}
