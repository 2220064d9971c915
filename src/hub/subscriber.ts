/**
 * One open event stream: its selectors, its outbound queue and its place in the resume protocol.
 *
 * A subscriber starts "catching up": live events are held in `pendingLive` while the hub replays
 * history, then released minus the ones the replay already covered. Once "live", frames are
 * queued and leave in one write per turn of the event loop (the hub flushes all dirty
 * subscribers together; an event for only a few streams is written to them at once, see
 * Hub.dispatch). Memory is bounded: queued bytes plus what the connection itself still
 * buffers may not exceed maxBufferBytes, or the subscriber is cut off as a slow consumer; it can
 * reconnect with Last-Event-ID and lose nothing that history still holds.
 */
import type { StoredEvent } from '../engines/engine.js';
import type { Selector } from '../topics/index.js';
import type { SinkOwner, StreamSink } from './sink.js';
import type { StreamView } from './hub.js';
import type { WireFormat } from './wire-format.js';

/** The empty queue every idle subscriber shares: an array of its own per stream would be memory held by each. */
const NO_FRAMES: readonly Uint8Array[] = Object.freeze([]);

export type SubscriberState = 'catching-up' | 'live' | 'closed';

/** Why a stream ended: its client went, the hub shut down, the credential expired or was revoked, the client fell behind, the engine lost events, or every topic of the stream ended. */
export type StreamEndReason = 'client-closed' | 'shutdown' | 'token-expired' | 'revoked' | 'slow-consumer' | 'history-gap' | 'history-unavailable' | 'topics-ended';

export interface SubscriberHooks {
  /** Asks the hub to flush this subscriber at the end of the current turn. */
  markDirty(subscriber: Subscriber): void;
  /** The subscriber exceeded its buffer and is being cut off. */
  overflowed(subscriber: Subscriber): void;
  /** The subscriber is gone, for any reason: remove it from every index. */
  closed(subscriber: Subscriber): void;
}

/**
 * Told once when a subscriber's connection has closed, whoever closed it (the HTTP layer's
 * per-client slots: a connection still open, even one the hub is ending, still holds its slot).
 */
export interface SubscriberClosedListener {
  subscriberClosed(subscriber: Subscriber): void;
}

/**
 * Who holds a stream, as a disconnect matches it (by subject, by token id): the principal the
 * stream was opened with, referenced rather than copied, so a stream costs one field for it.
 */
export interface StreamHolder {
  readonly subject: string | undefined;
  readonly token?: { readonly id: string | undefined } | undefined;
}

/** The holder of a stream opened without one (the hub's own, tests): matched by no subject or token id. */
export const NO_HOLDER: StreamHolder = Object.freeze({ subject: undefined });

export class Subscriber implements SinkOwner {
  state: SubscriberState = 'catching-up';
  /** Frames waiting for the next flush; the shared empty NO_FRAMES while there are none (most of the time, for most streams). */
  queue: readonly Uint8Array[] = NO_FRAMES;
  queuedBytes = 0;
  /** Live events that arrived during catch-up, released once history has been sent (then dropped). */
  pendingLive: Array<{ event: StoredEvent; frame: Uint8Array }> | undefined = [];
  /** Set while the connection's own buffer is full; the 'drain' event flushes. */
  waitingForDrain = false;
  /** Whether anything was written since the last heartbeat tick (then no heartbeat is needed). */
  active = false;
  /** The hub's dispatch counter when this subscriber last received an event (de-duplication). */
  lastDispatch = 0;
  /** Whether the hub already has this subscriber in its dirty list. */
  dirty = false;
  /** Why the stream ended: the first reason given wins; a connection that just closed is the client's doing. */
  endReason: StreamEndReason | undefined;
  /** The exact topics of this stream whose end it had; made at the first one (most streams never get one). */
  private ends: Set<string> | undefined;
  /** The sink's wire format: which encoding of each event this subscriber is given. */
  readonly format: WireFormat;

  constructor(
    readonly selectors: readonly Selector[],
    readonly sink: StreamSink,
    private readonly maxBufferBytes: number,
    private readonly hooks: SubscriberHooks,
    private readonly closedListener?: SubscriberClosedListener,
    readonly holder: StreamHolder = NO_HOLDER,
    /** Which events the stream gets and how they are written; undefined (most streams): every matching event, as is. */
    readonly view: StreamView<any> | undefined = undefined,
  ) {
    this.format = sink.format ?? 'sse';
    sink.attach(this);
  }

  sinkDrained(): void {
    this.waitingForDrain = false;
    if (this.queue.length > 0) this.hooks.markDirty(this);
  }

  sinkClosed(): void {
    this.close('client-closed');
    this.closedListener?.subscriberClosed(this);
  }

  /** A live event for this subscriber; held back while catching up. */
  deliver(event: StoredEvent, frame: Uint8Array): void {
    if (this.state === 'catching-up') {
      this.pendingLive!.push({ event, frame });
      this.queuedBytes += frame.byteLength;
      this.checkBudget();
      return;
    }
    this.enqueue(frame);
  }

  /**
   * Queues bytes for the next flush (state permitting). A queue that reaches half the bound while
   * the connection is keeping up is written at once: a busy turn is not a backlog, and only bytes
   * the connection could not take count toward cutting the subscriber off.
   */
  enqueue(frame: Uint8Array): void {
    if (this.state === 'closed') return;
    if (this.queue === NO_FRAMES) this.queue = [frame];
    else (this.queue as Uint8Array[]).push(frame);
    this.queuedBytes += frame.byteLength;
    if (!this.waitingForDrain && this.queuedBytes >= this.maxBufferBytes / 2) this.flush();
    if (!this.checkBudget()) return;
    if (!this.dirty && !this.waitingForDrain && this.queue.length > 0) this.hooks.markDirty(this);
  }

  /** Writes the queue as one chunk (the hub passes it pre-joined when it can share the work). */
  flush(joined?: Uint8Array): void {
    if (this.state === 'closed' || this.waitingForDrain || this.queue.length === 0) return;
    const chunk = joined ?? (this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue));
    this.queue = NO_FRAMES;
    this.queuedBytes = 0;
    this.active = true;
    if (!this.sink.write(chunk)) this.waitingForDrain = true;
  }

  /** Catch-up is over: release held live events that come after `position`; returns how many. */
  goLive(isAfterPosition: (event: StoredEvent) => boolean): number {
    if (this.state !== 'catching-up') return 0;
    const held = this.pendingLive ?? [];
    this.pendingLive = undefined;
    this.queuedBytes = this.queue.reduce((sum, frame) => sum + frame.byteLength, 0);
    this.state = 'live';
    let released = 0;
    for (const { event, frame } of held) {
      if (isAfterPosition(event)) {
        released += 1;
        this.enqueue(frame);
      }
    }
    return released;
  }

  /**
   * The stream got `topic`'s end (END_EVENT). True when nothing more can come: every topic it
   * names is exact and has ended. A stream with a pattern is never done (the pattern may match
   * topics yet to come).
   */
  topicEnded(topic: string): boolean {
    let named = false;
    for (const selector of this.selectors) if (selector.kind === 'exact' && selector.topic === topic) named = true;
    if (named) (this.ends ??= new Set()).add(topic);
    const ends = this.ends;
    return ends !== undefined && this.selectors.every((selector) => selector.kind === 'exact' && ends.has(selector.topic));
  }

  /** Whether the stream already had the end of `topic`, one of the exact topics it names. */
  hadEndOf(topic: string): boolean {
    return this.ends?.has(topic) === true;
  }

  /** Resolves once the connection has room again (used while replaying history). */
  async roomAvailable(): Promise<void> {
    while (this.state !== 'closed' && this.sink.bufferedBytes > this.maxBufferBytes / 2) {
      await this.sink.drained();
    }
  }

  /** Writes directly during catch-up (replay is paced by roomAvailable, not by the queue bound). */
  writeNow(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.active = true;
    this.sink.write(chunk);
  }

  /** Ends the stream cleanly, after flushing what is queued. */
  end(reason?: StreamEndReason): void {
    if (this.state === 'closed') return;
    this.waitingForDrain = false;
    this.flush();
    this.close(reason);
    this.sink.end();
  }

  close(reason?: StreamEndReason): void {
    this.endReason ??= reason;
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queue = NO_FRAMES;
    this.pendingLive = undefined;
    this.queuedBytes = 0;
    this.hooks.closed(this);
  }

  /** Enforces the memory bound; false when the subscriber was cut off. */
  private checkBudget(): boolean {
    if (this.queuedBytes + this.sink.bufferedBytes <= this.maxBufferBytes) return true;
    this.hooks.overflowed(this);
    this.close('slow-consumer');
    this.sink.destroy();
    return false;
  }
}
