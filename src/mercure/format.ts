/**
 * Mercure streams as the hub writes them: an update is read from its envelope once per dispatch
 * and encoded once (`id` = the ssehub id, `event` = the update's type, `retry`, `data`), and each
 * Mercure stream's view decides whether it gets it, by Mercure 0.24's rule: the stream's selectors
 * match one of the update's topics, and, for a private update, the subscriber's `mercure.subscribe`
 * claim matches one of them too (not necessarily the same one).
 */
import type { StoredEvent } from '../engines/engine.js';
import type { StreamFormat, StreamView } from '../hub/hub.js';
import { encodeEvent, encodeRetry } from '../protocol/index.js';
import { anyTopicMatches, type MercureSelector } from './selectors.js';
import { readEnvelope, type MercureUpdate } from './update.js';

const NOTHING = new Uint8Array(0);

export const MERCURE_FORMAT: StreamFormat<MercureUpdate | undefined> = {
  read: (event: StoredEvent) => readEnvelope(event.data),
  encode(event: StoredEvent, update: MercureUpdate | undefined): Uint8Array {
    if (update === undefined) return NOTHING;
    // The retry field rides in the same block as the event, as Mercure writes it.
    const retry = update.retry === undefined ? '' : encodeRetry(update.retry).slice(0, -1);
    const fields = update.type === undefined ? { id: event.id, data: update.data } : { id: event.id, event: update.type, data: update.data };
    return Buffer.from(retry + encodeEvent(fields));
  },
};

/** A Mercure subscriber's view: what it subscribed to, and what its token lets it read privately. */
export class MercureView implements StreamView<MercureUpdate | undefined> {
  readonly format = MERCURE_FORMAT;

  constructor(
    readonly selectors: readonly MercureSelector[],
    /** The `mercure.subscribe` claim; empty without a token (public updates only). */
    readonly privateSelectors: readonly MercureSelector[],
  ) {}

  accepts(update: MercureUpdate | undefined): boolean {
    if (update === undefined) return false;
    if (!anyTopicMatches(this.selectors, update.topics)) return false;
    // Routing (topic=) never grants a private update: the claim must match one of its topics.
    return update.private !== true || anyTopicMatches(this.privateSelectors, update.topics);
  }
}
