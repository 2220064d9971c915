/**
 * What subscribe() promises about `data`, checked by the compiler (`npm run typecheck`), never run:
 * without decoding, data is the text that arrived; decoded ('json' or a function), it has the type
 * the caller names per event, and `unknown` when the caller names none. Each `@ts-expect-error`
 * marks a use the types must refuse: if it compiled, the directive itself would be an error.
 * What the values are at run time is checked in subscribe.test.ts.
 */
import { subscribe, type EventMap, type HubEvent, type SubscribeOptions, type Subscription } from '../../src/client/index.js';

/** True when A and B are the same type (not merely assignable to each other, as `any` would be). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): void {}

/** The event type a subscription yields. */
type EventOf<S> = S extends Subscription<infer M> ? HubEvent<M> : never;

type Orders = { created: { id: number }; shipped: { id: number; carrier: string } };
const url = 'http://127.0.0.1:1';

export function withoutDecoding(): void {
  const text = subscribe({ url, topics: 'a' });
  expectType<Equal<EventOf<typeof text>['data'], string>>();

  const explicit = subscribe({ url, topics: 'a', decode: 'text' });
  expectType<Equal<EventOf<typeof explicit>['data'], string>>();

  // Naming the events is fine, as long as their data is text.
  const named = subscribe<{ note: string; alert: string }>({ url, topics: 'a' });
  expectType<Equal<EventOf<typeof named>['type'], 'note' | 'alert'>>();
  expectType<Equal<EventOf<typeof named>['data'], string>>();

  subscribe({
    url,
    topics: 'a',
    onEvent: (event) => {
      const data: string = event.data;
      void data;
      // @ts-expect-error undecoded data is text, not an object
      void event.data.id;
    },
  });

  // @ts-expect-error without decoding there is no Order, only the text of one
  subscribe<Orders>({ url, topics: 'orders/*' });
  // @ts-expect-error nor with decode: 'text' said out loud
  subscribe<Orders>({ url, topics: 'orders/*', decode: 'text' });
}

export async function decodedAsJson(): Promise<void> {
  const orders = subscribe<Orders>({ url, topics: 'orders/*', decode: 'json' });
  expectType<Equal<EventOf<typeof orders>['data'], { id: number } | { id: number; carrier: string }>>();
  for await (const item of orders) {
    if (item.kind === 'reset') continue;
    if (item.type === 'shipped') {
      const carrier: string = item.data.carrier;
      void carrier;
    }
    const raw: string = item.raw; // the text as it arrived is still there
    void raw;
  }

  // Without a map, JSON could be anything: the caller has to look before using it.
  const anything = subscribe({ url, topics: 'a', decode: 'json' });
  expectType<Equal<EventOf<typeof anything>['data'], unknown>>();
  subscribe({
    url,
    topics: 'a',
    decode: 'json',
    onEvent: (event) => {
      // @ts-expect-error decoded JSON is not known to be a string
      const data: string = event.data;
      void data;
    },
  });
}

export function decodedByAFunction(): void {
  const numbers = subscribe<{ tick: number }>({ url, topics: 'a', decode: (data) => Number(data) });
  expectType<Equal<EventOf<typeof numbers>['data'], number>>();
  const unnamed = subscribe({ url, topics: 'a', decode: (data) => Number(data) });
  expectType<Equal<EventOf<typeof unnamed>['data'], unknown>>();
}

export function decodingChosenAtRunTime(options: SubscribeOptions<EventMap>): void {
  // Text or decoded, nobody knows until it runs.
  const either = subscribe(options);
  expectType<Equal<EventOf<typeof either>['data'], unknown>>();
}
