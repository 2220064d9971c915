/**
 * Reading history without a stream: GET /topics/{topic}/history, GET /history and the library's
 * hub.history() all answer through readHistory; a stream's ?rewind=N takes the newest N retained
 * events through the same engine read (Hub.catchUp). Everything here is a view over
 * Engine.history(): no engine keeps anything of its own for it.
 */
import { HubError } from '../errors.js';
import type { Engine, StoredEvent } from '../engines/engine.js';
import type { GapReason } from '../protocol/index.js';
import type { Selector } from '../topics/index.js';

/** Events in a history page when the caller names no limit. */
export const DEFAULT_HISTORY_LIMIT = 100;
/** Most events in one history page. */
export const MAX_HISTORY_LIMIT = 1000;
/** Most events a stream's ?rewind=N replays. */
export const MAX_REWIND = 1000;

/**
 * An id no engine hands out (every engine's ids are "<epoch>-<n>"): history() after it answers
 * everything retained, flagged unknown-id, which a read from the oldest retained event is not.
 */
export const BEFORE_EVERY_ID = '';

export interface HistoryQuery {
  /** Only events after this id (exclusive), oldest first; absent: the newest `limit` events. */
  after?: string;
  /** Only events before this id (exclusive). */
  before?: string;
  /** At most this many events (default 100, at most 1000). */
  limit?: number;
}

export interface HistoryPage {
  /** In id order, oldest first. `event` is absent for the default "message". */
  events: StoredEvent[];
  /** The id to pass as `after` for the following page; null when there is nothing more. */
  next: string | null;
  /** False when events after `after` may be missing (evicted, or `after` is unknown): see reason. */
  complete: boolean;
  /** Why complete is false: the reasons of ssehub.reset. */
  reason?: GapReason;
  /**
   * When the page reaches the present (no `before`, `next` null): the id to open a stream with
   * (Last-Event-ID, ?lastEventId=) to get exactly the events after this answer, none twice.
   */
  lastEventId?: string;
}

/**
 * A count parameter (limit, rewind) as a number, or a 400 with `code` that names the bound. HTTP
 * passes the query's text, the library a number; absent stays absent.
 */
export function checkedCount(value: string | number | undefined | null, name: string, code: string, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const count = typeof value === 'number' ? value : /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > max) {
    throw new HubError(400, code, `${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(String(value).slice(0, 40))}.`);
  }
  return count;
}

/**
 * One page of the selectors' retained events. With `after`: the oldest `limit` events after it
 * (page forward with `next`). Without: the newest `limit` events (before `before` if given), so
 * that "the last 50" is one read; page back by passing the first event's id as `before`.
 */
export async function readHistory(engine: Engine, selectors: readonly Selector[], query: HistoryQuery): Promise<HistoryPage> {
  const limit = checkedCount(query.limit, 'limit', 'invalid_limit', MAX_HISTORY_LIMIT) ?? DEFAULT_HISTORY_LIMIT;
  const { after, before } = query;
  // An unknown id sorts before every id of the engine, as BEFORE_EVERY_ID does.
  if (before !== undefined && engine.compareIds(before, BEFORE_EVERY_ID) <= 0) {
    throw new HubError(400, 'invalid_before', `before must be an event id of this hub, not ${JSON.stringify(before.slice(0, 80))}.`);
  }
  const result = await engine.history(selectors, after ?? BEFORE_EVERY_ID);
  const inRange = before === undefined ? result.events : result.events.filter((event) => engine.compareIds(event.id, before) < 0);
  const forward = after !== undefined;
  const events = forward ? inRange.slice(0, limit) : inRange.slice(-limit);
  const more = forward && inRange.length > limit;
  const page: HistoryPage = { events, next: more ? events[events.length - 1]!.id : null, complete: !forward || result.complete };
  // Never a silent gap: an `after` the engine cannot place, or one whose successors were evicted, is said.
  if (!page.complete) page.reason = result.reason;
  if (!more && before === undefined) page.lastEventId = result.position;
  return page;
}

/**
 * The newest `count` retained events of the selectors and the position they end at: a stream's
 * ?rewind replays them, then goes live after the position (the seam of a resume from the id just
 * before them).
 */
export async function newestEvents(engine: Engine, selectors: readonly Selector[], count: number): Promise<{ events: StoredEvent[]; position: string }> {
  const result = await engine.history(selectors, BEFORE_EVERY_ID);
  return { events: result.events.slice(-count), position: result.position };
}
