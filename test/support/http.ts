/** Real HTTP clients for tests: requests with node:http, and event streams read by our parser. */
import { request, type IncomingHttpHeaders } from 'node:http';
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any;
}

export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: options.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    // `timeout`: no byte for that long (a hung answer) fails the request rather than waiting forever.
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.end(options.body);
  });
}

/** POSTs one event to /topics/{topic}; returns the reply. */
export function publish(base: string, topic: string, data: string, options: { event?: string; type?: string } = {}): Promise<Reply> {
  const query = options.event === undefined ? '' : `?event=${encodeURIComponent(options.event)}`;
  return httpRequest(`${base}/topics/${topic}${query}`, {
    method: 'POST',
    headers: { 'Content-Type': options.type ?? 'text/plain' },
    body: data,
  });
}

export interface OpenStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Events as an application sees them: everything but the hub's position markers. */
  events: ParsedEvent[];
  /** Ids carried by ssehub.position markers. */
  positions: string[];
  comments: string[];
  retries: number[];
  /** The raw bytes received so far, as text. */
  raw(): string;
  /** Resolves when at least n events were received (rejects after timeoutMs). */
  waitForEvents(n: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  /** Resolves when the predicate holds over what was received. */
  waitUntil(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  lastEventId(): string;
  close(): void;
}

/** Opens an event stream and parses it as it arrives. Rejects if the answer is not 200. */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const events: ParsedEvent[] = [];
    const positions: string[] = [];
    const comments: string[] = [];
    const retries: number[] = [];
    let raw = '';
    const parser = new EventStreamParser({
      onEvent: (event) => (event.type === 'ssehub.position' ? positions.push(event.lastEventId) : events.push(event)),
      onComment: (text) => comments.push(text),
      onRetry: (ms) => retries.push(ms),
    });
    const req = request(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(Object.assign(new Error(`stream answered ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
        return;
      }
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
      });
      res.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
        parser.feed(chunk);
      });
      const waitUntil = (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> =>
        new Promise((done, fail) => {
          if (predicate()) return done();
          const timer = setTimeout(() => {
            res.off('data', check);
            fail(new Error(`timed out waiting for ${what}; got ${events.length} events:\n${raw.slice(-2000)}`));
          }, timeoutMs);
          const check = (): void => {
            if (!predicate()) return;
            clearTimeout(timer);
            res.off('data', check);
            done();
          };
          res.on('data', check);
          void ended.then(() => {
            if (predicate()) check();
          });
        });
      resolve({
        status: res.statusCode,
        headers: res.headers,
        events,
        positions,
        comments,
        retries,
        raw: () => raw,
        waitForEvents: async (n, timeoutMs) => {
          await waitUntil(() => events.length >= n, timeoutMs, `${n} events`);
          return events;
        },
        waitUntil,
        ended,
        lastEventId: () => parser.lastEventId,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
