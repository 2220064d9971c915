/**
 * One subscription of a WebSocket connection, as the hub's Subscriber sees it: a StreamSink in the
 * `json` wire format. The hub hands it a turn's messages joined, one per line; each line leaves as
 * its own text frame, tagged with the subscription's name. Many sinks share one socket: its
 * buffered bytes are what every Subscriber on it counts against --max-buffer, and its drain wakes
 * them all.
 */
import { WS_EVENT_ID_PREFIX } from '../protocol/index.js';
import type { SinkOwner, StreamSink } from '../hub/sink.js';

const LF = 0x0a;
const QUOTE = 0x22;
const ID_PREFIX = Buffer.from(WS_EVENT_ID_PREFIX);

/** What a sink needs of its connection. */
export interface SinkSocket {
  /** Sends one message as a text frame. */
  sendFrame(message: Uint8Array): void;
  readonly bufferedAmount: number;
  drained(): Promise<void>;
  /** A subscription ended on the hub's side, for `reason` (the Subscriber's endReason). */
  subscriptionEnded(sink: WebSocketSink, reason: string | undefined): void;
}

export class WebSocketSink implements StreamSink {
  readonly format = 'json' as const;
  private owner: SinkOwner | undefined;
  private closed = false;
  /** The id of the last event or position sent on this subscription: where it resumes if reopened. */
  lastId: string | undefined;
  /** `{"sub":"<name>",`: what each of this subscription's messages begins with, replacing the plain `{`. */
  private readonly tag: Buffer;

  constructor(
    private readonly socket: SinkSocket,
    /** The subscription's name, as its events carry it. */
    readonly name: string,
    /** The topics and patterns it was opened with. */
    readonly topics: readonly string[],
  ) {
    this.tag = Buffer.from(`{"sub":${JSON.stringify(name)},`);
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return true;
    let start = 0;
    for (let end = chunk.indexOf(LF); end !== -1; start = end + 1, end = chunk.indexOf(LF, start)) {
      const line = chunk.subarray(start, end);
      this.noteId(line);
      this.socket.sendFrame(Buffer.concat([this.tag, line.subarray(1)]));
    }
    // Room is judged by the subscriber against its bound (bufferedBytes); 'drain' is never awaited here.
    return true;
  }

  attach(owner: SinkOwner): void {
    this.owner = owner;
  }

  drained(): Promise<void> {
    return this.closed ? Promise.resolve() : this.socket.drained();
  }

  /** The hub ended the subscription (expiry, revocation, shutdown, lost history): the connection decides how to tell the client. */
  end(): void {
    if (this.closed) return;
    this.socket.subscriptionEnded(this, this.owner?.endReason);
  }

  /** The hub cut the subscription (a slow consumer). */
  destroy(): void {
    if (this.closed) return;
    this.socket.subscriptionEnded(this, this.owner?.endReason ?? 'slow-consumer');
  }

  /** The client unsubscribed or the socket closed: the subscriber gives back its slots. Once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner?.sinkClosed();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Remembers the id a message carries (ids are the hub's own: digits and dashes, no escapes). */
  private noteId(line: Uint8Array): void {
    if (line.length <= ID_PREFIX.length || Buffer.compare(line.subarray(0, ID_PREFIX.length), ID_PREFIX) !== 0) return;
    const end = line.indexOf(QUOTE, ID_PREFIX.length);
    if (end !== -1) this.lastId = Buffer.from(line.buffer, line.byteOffset + ID_PREFIX.length, end - ID_PREFIX.length).toString();
  }
}
