/**
 * Real HTTP/2 and HTTPS clients for tests: node:http2 sessions (over TLS, or cleartext h2c),
 * requests and event streams read by the hub's own parser; and HTTPS requests over HTTP/1.1 that
 * report what ALPN chose.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders as Http1Headers } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';

/** Chromium's flow-control windows: 6 MiB per stream, 15 MiB for the connection (node's default is 64 KiB for both). */
export const BROWSER_WINDOWS = { stream: 6 * 1024 * 1024, connection: 15 * 1024 * 1024 } as const;

/**
 * Opens a session (https:// over TLS with `ca` trusted, http:// as h2c) and waits for it to be up.
 * `windows` sets the flow-control windows this client grants the hub.
 */
export function connectH2(
  url: string,
  options: { ca?: string | Buffer; windows?: { stream: number; connection: number } } = {},
): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url, {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.windows === undefined ? {} : { settings: { initialWindowSize: options.windows.stream } }),
    });
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => {}); // a session cut by the hub (shutdown, tests) is expected
      if (options.windows !== undefined) session.setLocalWindowSize(options.windows.connection);
      resolve(session);
    });
    session.once('error', reject);
  });
}

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any;
}

export function h2Request(
  session: ClientHttp2Session,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': options.method ?? 'GET', ':path': path, ...options.headers });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => (headers = received));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: Number(headers[':status']), headers, text, json: () => JSON.parse(text) });
    });
    stream.on('error', reject);
    stream.end(options.body);
  });
}

/** POSTs one event to /topics/{topic} over the session; returns the reply. */
export function h2Publish(session: ClientHttp2Session, topic: string, data: string, options: { event?: string } = {}): Promise<H2Reply> {
  const query = options.event === undefined ? '' : `?event=${encodeURIComponent(options.event)}`;
  return h2Request(session, `/topics/${topic}${query}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: data });
}

export interface H2Stream {
  stream: ClientHttp2Stream;
  status: number;
  headers: IncomingHttpHeaders;
  /** Events as an application sees them: everything but the hub's position markers. */
  events: ParsedEvent[];
  positions: string[];
  comments: string[];
  /** Bytes received so far. */
  bytes(): number;
  waitForEvents(n: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  waitUntil(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Resolves when the stream is closed, however (END_STREAM, RST_STREAM, the session's end). */
  closed: Promise<void>;
  /** Resets the stream (RST_STREAM with CANCEL by default). */
  close(code?: number): void;
}

/**
 * Opens an event stream on the session and parses it as it arrives. Rejects if the answer is not
 * 200. With `read: false` the stream is paused once its first bytes are in, and never read again.
 */
export function openH2Stream(session: ClientHttp2Session, path: string, options: { headers?: Record<string, string>; read?: boolean } = {}): Promise<H2Stream> {
  return new Promise((resolve, reject) => {
    const events: ParsedEvent[] = [];
    const positions: string[] = [];
    const comments: string[] = [];
    let received = 0;
    const parser = new EventStreamParser({
      onEvent: (event) => (event.type === 'ssehub.position' ? positions.push(event.lastEventId) : events.push(event)),
      onComment: (text) => comments.push(text),
    });
    const stream = session.request({ ':method': 'GET', ':path': path, accept: 'text/event-stream', ...options.headers });
    stream.on('error', () => {}); // resets are what some tests are about; `closed` reports them
    const closed = new Promise<void>((done) => stream.once('close', () => done()));
    stream.once('response', (headers) => {
      const status = Number(headers[':status']);
      if (status !== 200) {
        let body = '';
        stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
        stream.on('end', () => reject(Object.assign(new Error(`stream answered ${status}: ${body}`), { status, body })));
        return;
      }
      const waiters = new Set<() => void>();
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        parser.feed(chunk);
        for (const check of [...waiters]) check();
      };
      stream.on('data', onData);
      const waitUntil = (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> =>
        new Promise((done, fail) => {
          if (predicate()) return done();
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`timed out waiting for ${what}; got ${events.length} events, ${comments.length} comments`));
          }, timeoutMs);
          const check = (): void => {
            if (!predicate()) return;
            clearTimeout(timer);
            waiters.delete(check);
            done();
          };
          waiters.add(check);
        });
      const result: H2Stream = {
        stream,
        status,
        headers,
        events,
        positions,
        comments,
        bytes: () => received,
        waitForEvents: async (n, timeoutMs) => {
          await waitUntil(() => events.length >= n, timeoutMs, `${n} events`);
          return events;
        },
        waitUntil,
        closed,
        close: (code = constants.NGHTTP2_CANCEL) => stream.close(code),
      };
      if (options.read === false) {
        // Reads until the first comment, then never again: the client's window fills and stays full.
        void waitUntil(() => comments.length > 0, 10_000, 'the first comment').then(() => {
          stream.off('data', onData);
          stream.pause();
          resolve(result);
        }, reject);
        return;
      }
      resolve(result);
    });
    stream.end();
  });
}

/** ALPN offering HTTP/1.1 only (node:https passes TLS connection options on to tls.connect). */
const OFFER_HTTP1_ONLY: Pick<ConnectionOptions, 'ALPNProtocols'> = { ALPNProtocols: ['http/1.1'] };

export interface HttpsReply {
  status: number;
  headers: Http1Headers;
  text: string;
  /** The protocol ALPN settled on for the connection. */
  alpn: string | false;
  json(): any;
}

/** A request over HTTPS offering only HTTP/1.1 in ALPN, as an HTTP/1.1-only client does. */
export function https1Request(
  url: string,
  options: { ca: string | Buffer; method?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, ...OFFER_HTTP1_ONLY, agent: false },
      (res) => {
        const alpn = (res.socket as TLSSocket).alpnProtocol ?? false;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, text, alpn, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface Https1Stream {
  status: number;
  headers: Http1Headers;
  alpn: string | false;
  events: ParsedEvent[];
  waitForEvents(n: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  close(): void;
}

/** An event stream over HTTPS and HTTP/1.1 (ALPN offers only http/1.1). Rejects if the answer is not 200. */
export function openHttps1Stream(url: string, options: { ca: string | Buffer }): Promise<Https1Stream> {
  return new Promise((resolve, reject) => {
    const events: ParsedEvent[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => event.type !== 'ssehub.position' && events.push(event) });
    const req = httpsRequest(url, { headers: { Accept: 'text/event-stream' }, ca: options.ca, ...OFFER_HTTP1_ONLY, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.on('data', (chunk: Buffer) => parser.feed(chunk));
      res.on('error', () => {});
      resolve({
        status: res.statusCode,
        headers: res.headers,
        alpn: (res.socket as TLSSocket).alpnProtocol ?? false,
        events,
        waitForEvents: async (n, timeoutMs = 5000) => {
          const deadline = Date.now() + timeoutMs;
          while (events.length < n) {
            if (Date.now() > deadline) throw new Error(`timed out with ${events.length} of ${n} events`);
            await new Promise((done) => setTimeout(done, 10));
          }
          return events;
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RawTlsResult {
  data: Buffer;
  closedBy: 'server' | 'client';
  alpn: string | false;
  elapsedMs: number;
}

/**
 * A raw TLS connection to 127.0.0.1:port offering `alpn`: writes the pieces (`gapMs` apart) and
 * resolves with every byte the server sent once the connection is gone (cut by the client after
 * timeoutMs, or as soon as `until` holds over the bytes received).
 */
export function rawTls(
  port: number,
  ca: string | Buffer,
  pieces: ReadonlyArray<string | Buffer>,
  options: { alpn?: string[]; timeoutMs?: number; until?: (data: Buffer) => boolean } = {},
): Promise<RawTlsResult> {
  const { timeoutMs = 5000, alpn = ['http/1.1'] } = options;
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let closedBy: 'server' | 'client' = 'server';
    const socket = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: alpn }, () => {
      for (const piece of pieces) socket.write(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
    });
    const timer = setTimeout(() => {
      closedBy = 'client';
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.until?.(Buffer.concat(chunks))) {
        closedBy = 'client';
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closedBy, alpn: socket.alpnProtocol ?? false, elapsedMs: Date.now() - started });
    });
  });
}

// Raw HTTP/2 frames, for a client that does what node:http2's own client never would (such as
// opening more streams than the server allows, or leaving a header block unfinished).

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const H2_FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

export interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/**
 * A HEADERS frame opening a request, in HPACK without Huffman or indexing. By default it ends both
 * the stream (no body) and the header block; `endStream: false` leaves a body to come in DATA
 * frames, `endHeaders: false` leaves the header block unfinished (CONTINUATION frames would follow).
 */
export function h2HeadersFrame(
  streamId: number,
  request: { method?: 'GET' | 'POST'; path: string; headers?: Record<string, string>; endStream?: boolean; endHeaders?: boolean },
): Buffer {
  const { method = 'GET', path, headers = {}, endStream = true, endHeaders = true } = request;
  const bytes = (text: string): Buffer => Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'latin1')]);
  // 0x0N: a literal field not added to the table, its name the static table's entry N; 0x00: its name spelt out.
  const literal = (nameIndex: number, value: string): Buffer => Buffer.concat([Buffer.from([nameIndex]), bytes(value)]);
  const named = ([name, value]: [string, string]): Buffer => Buffer.concat([Buffer.from([0x00]), bytes(name), bytes(value)]);
  const block = Buffer.concat([
    Buffer.from([method === 'GET' ? 0x82 : 0x83, 0x87]) /* :method GET or POST, :scheme https */,
    literal(4, path) /* :path */,
    literal(1, 'localhost') /* :authority */,
    ...Object.entries(headers).map(named),
  ]);
  return h2Frame(H2_FRAME.HEADERS, (endStream ? END_STREAM : 0) | (endHeaders ? END_HEADERS : 0), streamId, block);
}

/** A HEADERS frame for `GET path` that also ends the stream. */
export function h2GetFrame(streamId: number, path: string): Buffer {
  return h2HeadersFrame(streamId, { path });
}

/** The complete frames in what a server sent (after the TLS handshake; a server sends no preface). */
export function parseH2Frames(data: Buffer): H2Frame[] {
  const frames: H2Frame[] = [];
  let offset = 0;
  while (offset + 9 <= data.length) {
    const length = data.readUIntBE(offset, 3);
    if (offset + 9 + length > data.length) break;
    frames.push({
      type: data[offset + 3]!,
      flags: data[offset + 4]!,
      streamId: data.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: data.subarray(offset + 9, offset + 9 + length),
    });
    offset += 9 + length;
  }
  return frames;
}

export interface RawH2Connection {
  /** Writes bytes (frames) as they are. */
  write(...pieces: Buffer[]): void;
  /** The complete frames the server has sent so far. */
  frames(): H2Frame[];
  /** Resolves with the first frame from the server that satisfies `predicate`; rejects after timeoutMs, or if the connection closes first. */
  waitForFrame(predicate: (frame: H2Frame) => boolean, what: string, timeoutMs?: number): Promise<H2Frame>;
  /** Resolves once the connection is gone: "server" unless destroy() cut it. */
  closed: Promise<'server' | 'client'>;
  destroy(): void;
}

/**
 * A raw HTTP/2 connection to 127.0.0.1:port, over TLS with ALPN h2 when `ca` is given, else
 * cleartext (h2c). It sends the preface and an empty SETTINGS frame, and nothing more on its own
 * (not even the SETTINGS acknowledgement): the rest is the test's to write.
 */
export function rawH2(port: number, options: { ca?: string | Buffer } = {}): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const waiters = new Set<() => void>();
    let cutByClient = false;
    const socket =
      options.ca === undefined
        ? netConnect(port, '127.0.0.1', () => opened())
        : tlsConnect({ port, host: '127.0.0.1', ca: options.ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => opened());
    const closed = new Promise<'server' | 'client'>((done) => socket.once('close', () => done(cutByClient ? 'client' : 'server')));
    const frames = (): H2Frame[] => parseH2Frames(Buffer.concat(chunks));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      for (const check of [...waiters]) check();
    });
    socket.once('close', () => {
      for (const check of [...waiters]) check();
    });
    const opened = (): void => {
      socket.off('error', reject);
      socket.on('error', () => {}); // a connection cut by the hub is what some tests are about
      socket.write(Buffer.concat([H2_PREFACE, h2Frame(H2_FRAME.SETTINGS, 0, 0)]));
      resolve({
        write: (...pieces) => {
          if (!socket.destroyed) socket.write(Buffer.concat(pieces));
        },
        frames,
        waitForFrame: (predicate, what, timeoutMs = 10_000) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), timeoutMs);
            const finish = (outcome: H2Frame | Error): void => {
              clearTimeout(timer);
              waiters.delete(check);
              if (outcome instanceof Error) fail(outcome);
              else done(outcome);
            };
            const check = (): void => {
              const found = frames().find(predicate);
              if (found) finish(found);
              else if (socket.destroyed) finish(new Error(`the connection closed before ${what}`));
            };
            waiters.add(check);
            check();
          }),
        closed,
        destroy: () => {
          cutByClient = true;
          socket.destroy();
        },
      });
    };
  });
}
