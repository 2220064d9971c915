/**
 * Adapts a web ReadableStream (the body of a Fetch Response) to the hub's StreamSink, for the
 * Fetch door (fetch.ts). What the hub writes is queued in the stream until the runtime reads it;
 * the queue's size in bytes is what the sink reports as buffered, so a client that stops reading
 * fills it and is cut off as a slow consumer (the stream errors, as a socket is destroyed). The
 * stream ends when the runtime cancels it or the request's signal aborts (the client went away).
 */
import type { SinkOwner, StreamSink } from '../../hub/sink.js';

/** Bytes queued before write() reports the stream full (a socket's buffer is of this order). */
const HIGH_WATER_BYTES = 64 * 1024;

export interface ReadableSink {
  readable: ReadableStream<Uint8Array>;
  sink: StreamSink;
}

export function readableSink(signal?: AbortSignal): ReadableSink {
  const sink = new QueueSink();
  const readable = new ReadableStream<Uint8Array>(
    {
      start: (controller) => sink.started(controller),
      pull: () => sink.pulled(),
      cancel: () => sink.closed(),
    },
    new ByteLengthQueuingStrategy({ highWaterMark: HIGH_WATER_BYTES }),
  );
  // The client went away: nobody is left to read, so the stream just ends. Erroring it would make
  // the runtime report a failed response (@hono/node-server prints each one) for every disconnect.
  if (signal !== undefined) {
    if (signal.aborted) sink.end();
    else signal.addEventListener('abort', () => sink.end(), { once: true });
  }
  return { readable, sink };
}

class QueueSink implements StreamSink {
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private owner: SinkOwner | undefined;
  private waiters: Array<() => void> = [];
  private full = false;
  private done = false;

  started(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  write(chunk: Uint8Array): boolean {
    if (this.done) return false;
    this.controller!.enqueue(chunk);
    this.full = (this.controller!.desiredSize ?? 0) <= 0;
    return !this.full;
  }

  get bufferedBytes(): number {
    if (this.done || this.controller === undefined) return 0;
    return Math.max(0, HIGH_WATER_BYTES - (this.controller.desiredSize ?? HIGH_WATER_BYTES));
  }

  attach(owner: SinkOwner): void {
    this.owner = owner;
    if (this.done) queueMicrotask(() => owner.sinkClosed());
  }

  drained(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The reader wants more: the queue is below its high-water mark. */
  pulled(): void {
    this.wake();
    if (this.full) {
      this.full = false;
      this.owner?.sinkDrained();
    }
  }

  end(): void {
    if (this.done) return;
    this.controller!.close();
    this.closed();
  }

  destroy(): void {
    if (this.done) return;
    this.controller!.error(new Error('the event stream was cut off'));
    this.closed();
  }

  /** Told once, however the stream ended: its end, its cut, or the reader's cancel. */
  closed(): void {
    if (this.done) return;
    this.done = true;
    this.wake();
    this.owner?.sinkClosed();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
