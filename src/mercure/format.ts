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

/**
 * An update as the Mercure streams of one dispatch share it: parsed once, and each selector's
 * answer (does it match one of the update's topics?) kept by its kind and source, since streams mostly
 * share selectors (the same `topic=` template, the same claim): the matching costs one test per
 * distinct selector per update, not one per stream.
 */
export interface ReadUpdate {
  update: MercureUpdate;
  matched: Map<string, boolean>;
}

export const MERCURE_FORMAT: StreamFormat<ReadUpdate | undefined> = {
  read(event: StoredEvent): ReadUpdate | undefined {
    const update = readEnvelope(event.data);
    return update === undefined ? undefined : { update, matched: new Map() };
  },
  encode(event: StoredEvent, read: ReadUpdate | undefined): Uint8Array {
    if (read === undefined) return NOTHING;
    const { update } = read;
    // The retry field rides in the same block as the event, as Mercure writes it.
    const retry = update.retry === undefined ? '' : encodeRetry(update.retry).slice(0, -1);
    const fields = update.type === undefined ? { id: event.id, data: update.data } : { id: event.id, event: update.type, data: update.data };
    return Buffer.from(retry + encodeEvent(fields));
  },
};

/** Whether one of the selectors matches one of the update's topics, each selector tested once per update. */
function anyMatches(read: ReadUpdate, selectors: readonly MercureSelector[]): boolean {
  for (const selector of selectors) {
    // By kind too: `match=` makes an exact selector of a source that `topic=` reads as a template.
    const key = `${selector.kind}\n${selector.source}`;
    let matches = read.matched.get(key);
    if (matches === undefined) read.matched.set(key, (matches = anyTopicMatches([selector], read.update.topics)));
    if (matches) return true;
  }
  return false;
}

/** A Mercure subscriber's view: what it subscribed to, and what its token lets it read privately. */
export class MercureView implements StreamView<ReadUpdate | undefined> {
  readonly format = MERCURE_FORMAT;

  constructor(
    readonly selectors: readonly MercureSelector[],
    /** The `mercure.subscribe` claim; empty without a token (public updates only). */
    readonly privateSelectors: readonly MercureSelector[],
  ) {}

  accepts(read: ReadUpdate | undefined): boolean {
    if (read === undefined) return false;
    if (!anyMatches(read, this.selectors)) return false;
    // Routing (topic=) never grants a private update: the claim must match one of its topics.
    return read.update.private !== true || anyMatches(read, this.privateSelectors);
  }
}
