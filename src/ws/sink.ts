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

/** A chunk's lines as one subscription name's frames, and the last id they carry. */
interface TaggedChunk {
  frames: Buffer[];
  lastId: string | undefined;
}

/**
 * The hub writes one chunk (an event's frame, encoded once per dispatch) to every subscriber of the
 * event, and most subscriptions share a name (the hub numbers them from 1 on each connection): the
 * last chunk's frames are kept per name, so each is tagged once per dispatch, not once per socket.
 * Chunks are never changed once written, so the chunk itself is the key.
 */
let lastChunk: Uint8Array | undefined;
let taggedByName = new Map<string, TaggedChunk>();

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
    if (chunk !== lastChunk) {
      lastChunk = chunk;
      taggedByName = new Map();
    }
    let tagged = taggedByName.get(this.name);
    if (tagged === undefined) taggedByName.set(this.name, (tagged = this.tagChunk(chunk)));
    for (const frame of tagged.frames) this.socket.sendFrame(frame);
    if (tagged.lastId !== undefined) this.lastId = tagged.lastId;
    // Room is judged by the subscriber against its bound (bufferedBytes); 'drain' is never awaited here.
    return true;
  }

  /** The chunk's lines, each a frame tagged with this subscription's name. */
  private tagChunk(chunk: Uint8Array): TaggedChunk {
    const frames: Buffer[] = [];
    let lastId: string | undefined;
    let start = 0;
    for (let end = chunk.indexOf(LF); end !== -1; start = end + 1, end = chunk.indexOf(LF, start)) {
      const line = chunk.subarray(start, end);
      lastId = idOf(line) ?? lastId;
      frames.push(Buffer.concat([this.tag, line.subarray(1)]));
    }
    return { frames, lastId };
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

}

/** The id a message carries, if any (ids are the hub's own: digits and dashes, no escapes). */
function idOf(line: Uint8Array): string | undefined {
  if (line.length <= ID_PREFIX.length || Buffer.compare(line.subarray(0, ID_PREFIX.length), ID_PREFIX) !== 0) return undefined;
  const end = line.indexOf(QUOTE, ID_PREFIX.length);
  return end === -1 ? undefined : Buffer.from(line.buffer, line.byteOffset + ID_PREFIX.length, end - ID_PREFIX.length).toString();
}
