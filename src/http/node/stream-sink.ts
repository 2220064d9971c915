/**
 * Adapts a node:http response to the hub's StreamSink: the hub writes bytes, this module knows
 * about sockets, drain and close.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { SinkOwner, StreamSink } from '../../hub/sink.js';

/** What node:http keeps on a connection's socket (not in its public types). */
type HttpSocket = Socket & { parser?: object | null; _httpMessage?: ServerResponse | null; server?: object };

/**
 * node:http's own release of a connection's parser, as used for Upgrade requests. It lives in the
 * legacy `_http_common` module; if a Node version lacks it, streams stay on node:http responses.
 */
const { freeParser } = createRequire(import.meta.url)('_http_common') as {
  freeParser?: (parser: object, req: IncomingMessage, socket: Socket) => void;
};

/**
 * StreamSink.drained for every sink: resolves at the writer's next 'drain' or when any of the
 * sources closes, whichever comes first, and leaves no listener behind.
 */
export function drainedOrClosed(writer: EventEmitter, ...alsoClosing: EventEmitter[]): Promise<void> {
  return new Promise<void>((resolve) => {
    const sources = [writer, ...alsoClosing];
    const done = (): void => {
      writer.off('drain', done);
      for (const source of sources) source.off('close', done);
      resolve();
    };
    writer.once('drain', done);
    for (const source of sources) source.once('close', done);
  });
}

/** SinkOwner.sinkClosed, as a listener for sinks that learn of the close from several sources. */
export function closedOnce(owner: SinkOwner): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    owner.sinkClosed();
  };
}

export function responseSink(res: ServerResponse): StreamSink {
  return {
    write: (chunk) => res.write(chunk),
    // OutgoingMessage.writableLength includes what its socket still holds.
    get bufferedBytes() {
      return res.writableLength;
    },
    attach: (owner) => {
      res.on('drain', () => owner.sinkDrained());
      // A stream request pipelined behind another response has no socket of its own yet and never
      // sees 'close' on res; the connection's close must end the subscriber all the same.
      const closed = closedOnce(owner);
      res.once('close', closed);
      res.req.socket.once('close', closed);
    },
    drained: () => drainedOrClosed(res, res.req.socket),
    end: () => void res.end(),
    destroy: () => void res.destroy(),
  };
}

/**
 * Opens an HTTP/1.1 event stream on node:http's response, which keeps the connection: for a hub
 * embedded in an app's server (whose middleware may listen on the socket), and wherever the
 * takeover below cannot be made.
 */
export function respondAsStream(res: ServerResponse, headers: Readonly<Record<string, string>>): StreamSink {
  // The connection may carry other requests after this stream: Nagle stays off for their sake.
  res.req.socket.setNoDelay(true);
  res.writeHead(200, { ...headers, Connection: 'keep-alive' });
  return responseSink(res);
}

/**
 * Opens an HTTP/1.1 answer written while node:http still reads the request's body (a streaming
 * publish's acknowledgements): node:http keeps the connection, and closes it once the answer has
 * ended, whatever is left of the body. The head goes out at once: the client waits for it.
 */
export function respondWhileReading(res: ServerResponse, headers: Readonly<Record<string, string>>): StreamSink {
  res.req.socket.setNoDelay(true);
  res.writeHead(200, { ...headers, Connection: 'close' });
  res.flushHeaders();
  return responseSink(res);
}

/**
 * Opens an HTTP/1.1 event stream and, where node:http allows it, takes the connection over from
 * node:http (as it does itself for an Upgrade): the parser goes back to its pool and the request
 * and response objects are dropped, so an open stream costs a socket and little else. The body is
 * then delimited by the connection's close (`Connection: close`, no chunked framing), so an event
 * frame goes out exactly as encoded and one buffer serves every subscriber of a broadcast.
 *
 * The takeover needs the request fully read and this response to be the connection's current one
 * (not queued behind a pipelined response); otherwise the stream stays on node:http's response.
 */
export function openHttp1Stream(
  req: IncomingMessage,
  res: ServerResponse,
  headers: Readonly<Record<string, string>>,
  { noDelay }: { noDelay: boolean },
): StreamSink {
  const socket = req.socket as HttpSocket;
  const parser = socket.parser;
  // TLS sockets keep listeners of their own on the socket: their streams stay on node:http.
  const encrypted = (socket as Socket & { encrypted?: boolean }).encrypted === true;
  // parser.incoming is this request until another one's headers complete: then a request is
  // pipelined behind the stream, and node:http must keep the connection to answer it.
  const current = (parser as { incoming?: IncomingMessage | null } | null | undefined)?.incoming === req;
  if (!freeParser || encrypted || !current || !req.complete || socket._httpMessage !== res || !parser || socket.destroyed || !socket.writable) {
    return respondAsStream(res, headers);
  }
  // The connection is the stream's alone from here on (its head says Connection: close).
  socket.setNoDelay(noDelay);
  // The response's headers so far (CORS, set by the server for every answer) plus the stream's;
  // node:http validated the former when they were set, the latter are constants.
  let text = `HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\n`;
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (value !== undefined) for (const each of Array.isArray(value) ? value : [value]) text += `${name}: ${each}\r\n`;
  }
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  text += 'Connection: close\r\n\r\n';

  // What node:http listens for on the connection, taken before the stream adds its own listeners.
  const httpListeners = HTTP_SOCKET_EVENTS.map((event) => [event, socket.rawListeners(event)] as const);
  socket.write(text, 'latin1');
  const sink = new SocketSink(socket);
  // The parser may still be working through this very read (a request pipelined after this one);
  // like node:http for an Upgrade, release it only once its stack has unwound.
  setImmediate(() => {
    if (socket.destroyed) return;
    // Meanwhile another request may have been pipelined in, or something answered through res:
    // the connection is no longer the stream's alone. Its head said Connection: close; end it.
    const incoming = (parser as { incoming?: IncomingMessage | null }).incoming;
    if (socket._httpMessage !== res || socket.parser !== parser || incoming !== req) {
      socket.destroy();
      return;
    }
    for (const [event, listeners] of httpListeners) for (const listener of listeners) socket.off(event, listener as (...args: unknown[]) => void);
    res.detachSocket(socket);
    freeParser(parser, req, socket);
    // node:http no longer counts this connection: closeAllConnections() must still reach it.
    // (The sink's 'close' listener takes it out of that registry again.)
    takenOverSockets(socket.server as object).add(socket);
    // Whatever the client sends from now on is read and dropped, so its close is still noticed.
    socket.on('data', ignore);
    socket.resume();
  });
  return sink;
}

const ignore = (): void => {};

/** Per server, the stream sockets taken over from node:http (see destroyTakenOverSockets). */
const takenOver = new WeakMap<object, Set<Socket>>();

function takenOverSockets(server: object): Set<Socket> {
  let sockets = takenOver.get(server);
  if (!sockets) takenOver.set(server, (sockets = new Set()));
  return sockets;
}

/** Cuts every stream taken over from this server's node:http (part of its closeAllConnections). */
export function destroyTakenOverSockets(server: object): void {
  for (const socket of takenOver.get(server) ?? []) socket.destroy();
}
const HTTP_SOCKET_EVENTS = ['data', 'end', 'close', 'drain', 'error', 'timeout', 'resume', 'pause'] as const;

/** Where a stream socket keeps its sink's owner, for the listeners every such socket shares. */
const OWNER = Symbol('ssehub.sinkOwner');
type StreamSocket = Socket & { server?: object; [OWNER]?: SinkOwner };

/**
 * A StreamSink straight on a taken-over socket: bytes are written as they are. A class, and
 * listeners shared by every stream socket (each finds its owner on the socket), rather than
 * closures: this is one small object per open stream, and streams are many.
 */
class SocketSink implements StreamSink {
  constructor(private readonly socket: StreamSocket) {
    // An error (a reset by the peer) closes the socket; without a listener it would crash the process.
    socket.on('error', destroySocket);
    // A client that half-closes its side has gone (EventSource never does): the stream ends ours
    // too, after what is buffered, and then closes (node:http's sockets allow half-open connections;
    // this one no longer does). The stream's own machinery does it, not a listener per stream.
    socket.allowHalfOpen = false;
    // 'close' fires once: a plain listener, without once()'s wrapper (about 300 bytes per stream).
    socket.on('close', socketClosed);
  }

  write(chunk: Uint8Array): boolean {
    return this.socket.write(chunk);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  attach(owner: SinkOwner): void {
    this.socket[OWNER] = owner;
    this.socket.on('drain', socketDrained);
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.socket);
  }

  /**
   * A clean end waits for the buffered bytes to leave, then closes whether or not the client closes
   * its side: the callback is made here, at the end, rather than a 'finish' listener held all along.
   */
  end(): void {
    const { socket } = this;
    socket.end(() => socket.destroy());
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Shared by every taken-over socket (called with the socket as `this`). */
function destroySocket(this: Socket): void {
  this.destroy();
}

function socketDrained(this: StreamSocket): void {
  this[OWNER]?.sinkDrained();
}

function socketClosed(this: StreamSocket): void {
  if (this.server) takenOver.get(this.server)?.delete(this);
  this[OWNER]?.sinkClosed();
}
