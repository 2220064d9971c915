/**
 * What a subscriber writes to: one open event stream. The HTTP layer adapts a node:http response
 * (and later an HTTP/2 stream) to this, so the hub never depends on a transport.
 */
import type { WireFormat } from './wire-format.js';

export interface StreamSink {
  /** What the stream speaks: text/event-stream (absent: every HTTP sink) or JSON lines (the WebSocket sink). */
  readonly format?: WireFormat;
  /** Queues bytes on the connection; false means its buffer is full and 'drain' will follow. */
  write(chunk: Uint8Array): boolean;
  /** Bytes accepted by write() that the connection has not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /**
   * Tells `owner` of the connection's drains and of its close, for as long as it is open. One
   * owner per sink, called as methods of an object rather than through callbacks: open streams
   * are many, and a closure per event per stream is memory the hub holds for each of them.
   */
  attach(owner: SinkOwner): void;
  /** Resolves at the next 'drain' or when the connection closes, whichever comes first. */
  drained(): Promise<void>;
  /** Ends the stream cleanly after what is buffered (the client will reconnect). */
  end(): void;
  /** Cuts the connection at once, dropping what is buffered. */
  destroy(): void;
}

/** The one object a sink reports to (the subscriber writing to it). */
export interface SinkOwner {
  /** The connection has room again after write() returned false. */
  sinkDrained(): void;
  /** The connection went away, whoever closed it. Called once. */
  sinkClosed(): void;
  /** Why the stream ended, once it has (read by a sink that tells its client, such as a WebSocket's close code). */
  readonly endReason?: string | undefined;
}
