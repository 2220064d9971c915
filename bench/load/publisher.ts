/**
 * The publishing side of a run: POST /topics/{topic} with a JSON body stamped with the send time
 * and a sequence number (`{"t":<µs>,"n":<n>,…}`, see stream-scanner.ts), over keep-alive HTTP/1.1 connections on raw sockets, so
 * that publishing costs little CPU next to the server it measures. Two modes: a fixed rate
 * (broadcast scenarios) and as fast as N concurrent publishers can (notifications); and one
 * streaming publish (NDJSON lines on one long-lived request) as fast as the hub answers it.
 */
import { connect, type Socket } from 'node:net';
import { monotonicMicros } from './clock.js';

/** Makes each event's data about 100 bytes, a typical small JSON notification. */
const PADDING = 'x'.repeat(62);
const HEADER_END = Buffer.from('\r\n\r\n');

export interface PublishResult {
  /** Publishes the server accepted (2xx). */
  accepted: number;
  /** Publishes refused or failed. */
  failed: number;
  /**
   * Paced mode: events not sent because every connection still waited for an answer. A server that
   * cannot take the offered rate sheds load here rather than in an unbounded backlog of requests.
   */
  notSent: number;
  /** The topic of each accepted publish, counted (for the expected deliveries). */
  perTopic: Map<string, number>;
  elapsedMs: number;
  errors: string[];
}

/**
 * Every publishing connection reads into this one buffer (net's `onread`: no Buffer and no stream
 * machinery per read). Each read is parsed synchronously; a partial response is copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** One keep-alive connection that sends a request and reads its whole response before the next. */
class Connection {
  private readonly socket: Socket;
  /** A response not yet complete (a copy, never a view of READ_BUFFER). */
  private partial: Buffer | undefined;
  private waiting: ((status: number | string) => void) | undefined;
  private ready: Promise<void>;

  constructor(private readonly port: number) {
    this.socket = connect({
      host: '127.0.0.1',
      port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (length, buffer) => this.onRead((buffer as Buffer).subarray(0, length)) },
    });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.waiting?.('connection closed'));
  }

  /** Sends one publish; resolves with the status code, or an error text. */
  async post(topic: string, body: string): Promise<number | string> {
    try {
      await this.ready;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'connect failed';
    }
    if (this.socket.destroyed) return 'connection closed';
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(
        `POST /topics/${topic} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onRead(chunk: Buffer): boolean {
    const bytes = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    const used = this.readResponse(bytes);
    this.partial = used < bytes.length ? Buffer.from(bytes.subarray(used)) : undefined;
    return true;
  }

  /**
   * Reads a response with Content-Length, chunked, or no body (204) from the start of `bytes`;
   * returns how many bytes it took (0 while the response is incomplete or none is awaited).
   */
  private readResponse(bytes: Buffer): number {
    const end = bytes.indexOf(HEADER_END);
    if (end === -1 || !this.waiting) return 0;
    const head = bytes.toString('latin1', 0, end).toLowerCase();
    const status = Number(head.slice(9, 12));
    let total: number;
    const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
    if (length) total = end + 4 + Number(length[1]);
    else if (head.includes('\r\ntransfer-encoding: chunked')) {
      const last = bytes.indexOf('\r\n0\r\n\r\n', end + 2);
      if (last === -1) return 0;
      total = last + 7;
    } else total = end + 4;
    if (bytes.length < total) return 0;
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve(status);
    return total;
  }
}

/** Lines sent in one chunk of a streaming publish's body. */
const STREAM_LINES_PER_CHUNK = 256;
/** Lines sent and not yet answered, at most: the stream is paced by the hub's answers, as a producer's would be. */
const STREAM_WINDOW = 16 * 1024;

/**
 * One streaming publish (POST /publish, application/x-ndjson): lines written in chunks as fast as
 * the hub answers them, its NDJSON answers read as they come (the k-th answer is the k-th line's).
 */
class PublishStreamConnection {
  private readonly socket: Socket;
  private headersDone = false;
  /** Answer text after the last complete line. */
  private carry = '';
  private answered = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    port: number,
    private readonly topics: string[],
    private readonly result: PublishResult,
  ) {
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (text: string) => this.onData(text));
    this.socket.on('error', (error) => this.fail((error as NodeJS.ErrnoException).code ?? 'connection failed'));
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    this.socket.write(`POST /publish HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`);
  }

  /** Sends lines until `durationMs` has passed, ends the body, and waits for every answer. */
  async run(durationMs: number, nextEvent: () => string): Promise<void> {
    const started = performance.now();
    let sent = 0;
    while (!this.closed && performance.now() - started < durationMs) {
      if (sent - this.answered >= STREAM_WINDOW) {
        await this.progress();
        continue;
      }
      let body = '';
      for (let i = 0; i < STREAM_LINES_PER_CHUNK; i++, sent++) body += `{"topic":"${this.topics[sent % this.topics.length]}","data":${nextEvent()}}\n`;
      if (!this.socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`)) await new Promise((resolve) => this.socket.once('drain', resolve));
    }
    this.socket.write('0\r\n\r\n');
    while (!this.closed && this.answered < sent) await this.progress();
    if (this.answered < sent) this.fail(`${sent - this.answered} lines got no answer`);
    this.socket.destroy();
  }

  private progress(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private onData(text: string): void {
    let data = this.carry + text;
    if (!this.headersDone) {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return void (this.carry = data);
      const status = Number(data.slice(9, 12));
      if (status !== 200) return this.fail(`status ${status}`);
      this.headersDone = true;
      data = data.slice(end + 4);
    }
    // Each chunk of the answer holds whole lines; a chunk's size line and its trailing CRLF are not answers.
    let start = 0;
    for (let end = data.indexOf('\n'); end !== -1; start = end + 1, end = data.indexOf('\n', start)) {
      if (data.startsWith('{"id"', start)) {
        const topic = this.topics[this.answered % this.topics.length]!;
        this.result.accepted += 1;
        this.result.perTopic.set(topic, (this.result.perTopic.get(topic) ?? 0) + 1);
        this.answered += 1;
      } else if (data.startsWith('{"error"', start)) {
        this.result.failed += 1;
        if (this.result.errors.length < 5) this.result.errors.push(data.slice(start, end));
        this.answered += 1;
      }
    }
    this.carry = data.slice(start);
    this.wake?.();
  }

  private fail(error: string): void {
    if (this.result.errors.length < 5) this.result.errors.push(error);
    this.socket.destroy();
  }
}

export class Publisher {
  /** The next event's sequence number: each event of a run has its own, so deliveries are counted by event. */
  private sequence = 0;
  private readonly idle: Connection[] = [];
  private readonly all: Connection[] = [];
  /** Connections opened so far: the next one goes to ports[opened % ports.length]. */
  private opened = 0;

  /**
   * Connections go to `ports` in turn (several hubs on one engine: each gets its share of the
   * publishing connections); a streaming publish goes to the first.
   */
  constructor(
    private readonly ports: number[],
    private readonly maxConnections: number,
  ) {}

  /** A new connection, to the next port in turn. */
  private connection(): Connection {
    const fresh = new Connection(this.ports[this.opened++ % this.ports.length]!);
    this.all.push(fresh);
    return fresh;
  }

  close(): void {
    for (const connection of this.all) connection.close();
  }

  /** `rate` events per second for `durationMs`, to topics taken in turn. */
  async paced(topics: string[], rate: number, durationMs: number): Promise<PublishResult> {
    const result = emptyResult();
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    const total = Math.floor((durationMs / 1000) * rate);
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      // Send every event that is due, so timer lateness does not lower the offered rate.
      for (; sent < due; sent++) {
        if (this.idle.length === 0 && this.all.length >= this.maxConnections) {
          result.notSent += 1;
          continue;
        }
        const promise = this.publishOne(topics[sent % topics.length]!, result).finally(() => inFlight.delete(promise));
        inFlight.add(promise);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(inFlight);
    result.elapsedMs = performance.now() - started;
    return result;
  }

  /** `concurrency` publishers, each sending its next event as soon as the last one is answered. */
  async flood(topics: string[], concurrency: number, durationMs: number): Promise<PublishResult> {
    const result = emptyResult();
    const started = performance.now();
    let next = 0;
    const publisher = async (): Promise<void> => {
      while (performance.now() - started < durationMs) await this.publishOne(topics[next++ % topics.length]!, result);
    };
    await Promise.all(Array.from({ length: concurrency }, publisher));
    result.elapsedMs = performance.now() - started;
    return result;
  }

  /** One streaming publish for `durationMs`, its lines to topics taken in turn. */
  async stream(topics: string[], durationMs: number): Promise<PublishResult> {
    const result = emptyResult();
    const started = performance.now();
    await new PublishStreamConnection(this.ports[0]!, topics, result).run(durationMs, () => `{"t":${monotonicMicros()},"n":${this.sequence++},"p":"${PADDING}"}`);
    result.elapsedMs = performance.now() - started;
    return result;
  }

  private waiters: Array<(connection: Connection) => void> = [];

  private async acquire(): Promise<Connection> {
    const connection = this.idle.pop();
    if (connection) return connection;
    if (this.all.length < this.maxConnections) return this.connection();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(connection: Connection): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(connection);
    else this.idle.push(connection);
  }

  private async publishOne(topic: string, result: PublishResult): Promise<void> {
    const connection = await this.acquire();
    const status = await connection.post(topic, `{"t":${monotonicMicros()},"n":${this.sequence++},"p":"${PADDING}"}`);
    if (typeof status === 'number' && status >= 200 && status < 300) {
      result.accepted += 1;
      result.perTopic.set(topic, (result.perTopic.get(topic) ?? 0) + 1);
      this.release(connection);
      return;
    }
    result.failed += 1;
    if (result.errors.length < 5) result.errors.push(typeof status === 'number' ? `status ${status}` : status);
    if (typeof status === 'number') this.release(connection);
    else {
      // The connection is gone: a waiting publisher gets a fresh one.
      this.all.splice(this.all.indexOf(connection), 1);
      connection.close();
      const waiter = this.waiters.shift();
      if (waiter) waiter(this.connection());
    }
  }
}

function emptyResult(): PublishResult {
  return { accepted: 0, failed: 0, notSent: 0, perTopic: new Map(), elapsedMs: 0, errors: [] };
}
