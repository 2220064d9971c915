/**
 * useSubscription(): the client's subscribe() as a React hook. The component renders the
 * connection's state, the last event, the last few events (when asked to keep some) and the hub's
 * reset signal; the hook does the rest.
 *
 * The invariant: a mounted component holds at most one subscription, and an unmounted one holds
 * none. The subscription is closed in the effect's cleanup, on unmount and whenever an input that
 * names the stream changes (url, topics, a token string, headers, ...), before the next one opens.
 * A single-page app that navigates away from a page otherwise keeps its streams open until the
 * tab closes, each holding a connection (and a browser allows six per host over HTTP/1.1).
 */
import { useEffect, useRef, useState } from 'react';
import { subscribe, type Decoder, type EventMap, type HubEvent, type ResetSignal, type SubscribeOptions, type TextEventMap } from '../client/index.js';

/** The client's connection states, and 'error': closed for good by a fatal error (401, 403, 404, not an event stream). */
export type SubscriptionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'error';

export interface SubscriptionState<M extends EventMap = TextEventMap> {
  status: SubscriptionStatus;
  /** The last event received, since the inputs last changed. */
  lastEvent: HubEvent<M> | undefined;
  /** The last `keep` events, oldest first (always empty without `keep`). */
  events: ReadonlyArray<HubEvent<M>>;
  /**
   * The last reset signal: the hub could not prove nothing was missed (history no longer reaches
   * back far enough). Refetch the state you derive from the stream; `onReset` is called as well.
   */
  reset: ResetSignal | undefined;
  /** status 'error': the fatal error; 'reconnecting': what went wrong with the last connection. */
  error: unknown;
}

export interface UseSubscriptionOptions<M extends EventMap = TextEventMap> extends Omit<SubscribeOptions<M>, 'signal' | 'onStateChange' | 'bufferSize'> {
  /** How many of the last events `events` holds (default 0: none, only `lastEvent`). */
  keep?: number;
  /** false: no subscription (e.g. until a token is known); status is 'closed'. Default true. */
  enabled?: boolean;
}

/** Without decoding (`decode` absent or 'text'), `data` is the text that arrived; see subscribe(). */
export function useSubscription<M extends TextEventMap = TextEventMap>(options: UseSubscriptionOptions<M> & { decode?: 'text' }): SubscriptionState<M>;
/** Decoded (`decode: 'json'` or a function), `data` has the type the type argument gives its event; see subscribe(). */
export function useSubscription<M extends EventMap = EventMap>(options: UseSubscriptionOptions<M> & { decode: 'json' | Decoder }): SubscriptionState<M>;
export function useSubscription(options: UseSubscriptionOptions<EventMap>): SubscriptionState<EventMap>;
export function useSubscription(options: UseSubscriptionOptions<EventMap>): SubscriptionState<EventMap> {
  const key = subscriptionKey(options);
  const [held, setHeld] = useState<{ key: string; state: SubscriptionState<EventMap> }>(() => ({ key, state: initialState(options) }));
  // Callbacks and function-valued inputs are read from here when used: a new function on every
  // render (an inline arrow) neither resubscribes nor calls a stale one.
  const latest = useRef(options);
  useEffect(() => {
    latest.current = options;
  });

  useEffect(() => {
    const given = latest.current;
    if (given.enabled === false) return undefined;
    const keep = Math.max(0, Math.floor(given.keep ?? 0));
    // An old subscription's callbacks may still be queued when its cleanup has run: they are dropped.
    let active = true;
    const update = (change: (state: SubscriptionState<EventMap>) => SubscriptionState<EventMap>): void => {
      if (!active) return;
      setHeld((current) => ({ key, state: change(current.key === key ? current.state : initialState(given)) }));
    };
    const { keep: _keep, enabled: _enabled, onEvent: _onEvent, onReset: _onReset, ...settings } = given;
    const subscription = subscribe({
      ...settings,
      ...(typeof given.token === 'function' ? { token: () => callToken(latest.current.token) } : {}),
      ...(typeof given.decode === 'function' ? { decode: (data: string, type: string) => (latest.current.decode as Decoder)(data, type) } : {}),
      onEvent: (event) => {
        if (!active) return;
        latest.current.onEvent?.(event);
        update((state) => ({ ...state, lastEvent: event, events: keepLast(state.events, event, keep) }));
      },
      onReset: (signal) => {
        if (!active) return;
        latest.current.onReset?.(signal);
        update((state) => ({ ...state, reset: signal }));
      },
      onStateChange: (change) => {
        if (change.state === 'closed') {
          update((state) => (change.reason === 'error' ? { ...state, status: 'error', error: change.error } : { ...state, status: 'closed' }));
        } else if (change.state === 'reconnecting') {
          update((state) => ({ ...state, status: 'reconnecting', error: change.error }));
        } else {
          update((state) => ({ ...state, status: change.state, error: undefined }));
        }
      },
    });
    return () => {
      active = false;
      subscription.close();
    };
  }, [key]);

  return held.key === key ? held.state : initialState(options);
}

/** The last `keep` events with `event` added, oldest first. */
function keepLast<T>(events: readonly T[], event: T, keep: number): readonly T[] {
  if (keep === 0) return events;
  return [...events.slice(Math.max(0, events.length - keep + 1)), event];
}

function initialState(options: UseSubscriptionOptions<EventMap>): SubscriptionState<EventMap> {
  return { status: options.enabled === false ? 'closed' : 'connecting', lastEvent: undefined, events: [], reset: undefined, error: undefined };
}

async function callToken(token: UseSubscriptionOptions<EventMap>['token']): Promise<string | undefined> {
  return typeof token === 'function' ? token() : token;
}

/**
 * What names the stream: a change resubscribes. Functions count by kind only (the latest one is
 * called); `fetch` and `clock` are taken when the subscription starts.
 */
function subscriptionKey(options: UseSubscriptionOptions<EventMap>): string {
  const kind = (value: unknown) => (typeof value === 'function' ? 'function' : (value ?? null));
  return JSON.stringify([
    options.url,
    typeof options.topics === 'string' ? [options.topics] : options.topics,
    kind(options.token),
    options.headers ?? null,
    options.lastEventId ?? null,
    kind(options.decode),
    options.credentials ?? null,
    options.idleTimeoutMs ?? null,
    options.backoff ?? null,
    options.keep ?? 0,
    options.enabled !== false,
  ]);
}
