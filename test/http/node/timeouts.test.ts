/**
 * Server timeouts against long-lived streams: the slow-loris guards (headers timeout, request
 * timeout) cut clients that are slow to send a request, never a stream whose request is in.
 * Also stream hygiene: headers and a first comment flushed at once, comment heartbeats on idle
 * streams, Nagle off, never compressed.
 *
 * The hub runs with small timeouts; assertions use generous bounds and never measure speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Server, Socket, connect } from 'node:net';
import type { RunningHub } from '../../../src/start.js';
import { httpRequest, openStream, publish } from '../../support/http.js';
import { startTestHub } from '../../support/hub.js';
import { errorFormatProblem, parseResponses, rawRequest, type RawResult } from '../../support/raw-http.js';

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;
const HEARTBEAT_MS = 300;
/** A client the hub should cut must be gone within this (20x the request timeout). */
const CUT_BOUND_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection the hub was expected to cut: it must have closed it, with no answer or a JSON 408. */
function assertCut(result: RawResult, what: string): void {
  assert.equal(result.closedBy, 'server', `${what}: still connected after ${result.elapsedMs} ms`);
  if (result.data.length === 0) return;
  const { responses } = parseResponses(result.data);
  assert.equal(responses.length, 1, `${what}: unexpected answer ${JSON.stringify(result.data.toString('latin1'))}`);
  const [response] = responses;
  assert.equal(response!.status, 408, `${what}: answered ${response!.status}`);
  assert.equal(errorFormatProblem(response!), null);
  assert.equal(JSON.parse(response!.body.toString()).error.code, 'request_timeout');
}

/** Stalls in the middle of its headers; resolves when the connection is gone. */
function slowLoris(port: number, timeoutMs = CUT_BOUND_MS): Promise<RawResult> {
  return rawRequest(port, ['GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: a'], { timeoutMs });
}

describe('timeouts and stream hygiene', { concurrency: true }, () => {
  let running: RunningHub;
  let base: string;
  before(async () => {
    running = await startTestHub({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, heartbeatMs: HEARTBEAT_MS });
    base = running.url;
  });
  after(() => running.close());

  it('flushes the headers and a first comment at once, before any event', async () => {
    const stream = await openStream(`${base}/topics/flush/first`);
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(stream.headers['cache-control'], 'no-cache, no-transform');
      assert.equal(stream.headers['x-accel-buffering'], 'no');
      assert.equal(stream.headers['content-length'], undefined);
      // Nothing is published on this topic: the first bytes come without any event to push them.
      await stream.waitUntil(() => stream.retries.length > 0, 5000, 'the comment and retry field');
      assert.match(stream.raw(), /^: ok\n: heartbeat=\d+\n\nretry: \d+\n\n/);
      assert.deepEqual(stream.comments.slice(0, 1), ['ok']);
      assert.deepEqual(stream.retries, [2000]);
      assert.equal(stream.events.length, 0);
    } finally {
      stream.close();
    }
  });

  it('never compresses a stream (nor anything else)', async () => {
    const headers = { 'Accept-Encoding': 'gzip, deflate, br' };
    const stream = await openStream(`${base}/topics/compression`, headers);
    try {
      assert.equal(stream.headers['content-encoding'], undefined);
      await stream.waitUntil(() => stream.retries.length > 0, 5000, 'the preamble');
      assert.match(stream.raw(), /^: ok\n/, 'the body is plain text');
      assert.equal((await publish(base, 'compression', 'x'.repeat(2000))).status, 201);
      const [event] = await stream.waitForEvents(1);
      assert.equal(event!.data, 'x'.repeat(2000));
    } finally {
      stream.close();
    }
    for (const path of ['/stats', '/metrics', '/healthz', '/nope']) {
      const reply = await httpRequest(`${base}${path}`, { headers });
      assert.equal(reply.headers['content-encoding'], undefined, path);
    }
  });

  it('keeps a stream open well past the headers and request timeouts', async () => {
    const stream = await openStream(`${base}/topics/long/lived`);
    let ended = false;
    void stream.ended.then(() => (ended = true));
    try {
      await stream.waitUntil(() => stream.retries.length > 0, 5000, 'the preamble');
      // A client stalled in its headers, opened alongside: once the hub has cut it, the timeout
      // checks have certainly run while the stream was open. Wait for that and for 3 s at least.
      const control = slowLoris(running.port, 40_000);
      await sleep(3000);
      const cut = await control;
      assert.equal(cut.closedBy, 'server', 'the stalled control client was never cut, so the timeouts never ran');
      assert.equal(ended, false, 'the stream was ended');
      const heartbeats = stream.comments.filter((text) => text !== 'ok' && !text.startsWith('heartbeat=')).length;
      assert.ok(heartbeats >= 3, `only ${heartbeats} heartbeats on a stream open for 3 s`);

      assert.equal((await publish(base, 'long/lived', 'still there')).status, 201);
      const [event] = await stream.waitForEvents(1, 5000);
      assert.equal(event!.data, 'still there');
      assert.equal(ended, false);
    } finally {
      stream.close();
    }
  });

  it('sends comment heartbeats on an idle stream at about the configured rate', async () => {
    const stream = await openStream(`${base}/topics/idle`);
    try {
      const window = 3000;
      await sleep(window);
      const heartbeats = stream.comments.filter((text) => text !== 'ok' && !text.startsWith('heartbeat=')).length;
      // One tick every 300 ms gives at most 11 in 3 s (the first one after the preamble is skipped);
      // a loaded machine gives fewer, so the lower bound is loose.
      assert.ok(heartbeats >= 3, `only ${heartbeats} heartbeats in ${window} ms at ${HEARTBEAT_MS} ms`);
      assert.ok(heartbeats <= Math.floor(window / HEARTBEAT_MS) + 1, `${heartbeats} heartbeats in ${window} ms at ${HEARTBEAT_MS} ms`);
      assert.equal(stream.events.length, 0, 'a heartbeat is a comment, not an event');
      assert.match(stream.raw(), /^: ok\n: heartbeat=\d+\n\nretry: \d+\n\nid: [^\n]*\nevent: ssehub\.position\ndata: \n\n(:\n\n)+$/, 'only comments after the preamble and the position');
    } finally {
      stream.close();
    }
  });

  it('delivers every event on a busy stream', async () => {
    const stream = await openStream(`${base}/topics/busy`);
    try {
      await stream.waitUntil(() => stream.retries.length > 0, 5000, 'the preamble');
      const count = 20;
      for (let i = 0; i < count; i++) {
        assert.equal((await publish(base, 'busy', `event ${i}`)).status, 201);
        await sleep(100);
      }
      const events = await stream.waitForEvents(count, 5000);
      assert.deepEqual(events.map((event) => event.data), Array.from({ length: count }, (_, i) => `event ${i}`));
    } finally {
      stream.close();
    }
  });

  describe('slow clients are cut off', { concurrency: true }, () => {
    it('a client that stalls in its request line', async () => {
      assertCut(await rawRequest(running.port, ['GET /heal'], { timeoutMs: CUT_BOUND_MS }), 'partial request line');
    });

    it('a client that stalls in its headers', async () => {
      assertCut(await slowLoris(running.port), 'partial headers');
    });

    it('a client that trickles its headers (slow loris)', async () => {
      const bytes = Array.from({ length: 200 }, () => 'a');
      const result = await rawRequest(running.port, ['GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ', ...bytes], {
        gapMs: 100,
        timeoutMs: CUT_BOUND_MS,
      });
      assertCut(result, 'trickled headers');
    });

    it('a stream request that stalls before its blank line never becomes a stream', async () => {
      const result = await rawRequest(running.port, ['GET /topics/never HTTP/1.1\r\nHost: hub\r\n'], { timeoutMs: CUT_BOUND_MS });
      assertCut(result, 'stream request without its final CRLF');
    });

    it('a POST whose body trickles in slower than the request timeout', async () => {
      const head = 'POST /topics/trickle HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n';
      const body = Array.from({ length: 200 }, () => 'x');
      const result = await rawRequest(running.port, [head, ...body], { gapMs: 100, timeoutMs: CUT_BOUND_MS });
      assertCut(result, 'trickled body');
    });

    it('a POST whose body stops half way', async () => {
      const head = 'POST /publish HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"topic":"half","da';
      assertCut(await rawRequest(running.port, [head], { timeoutMs: CUT_BOUND_MS }), 'half a body');
    });
  });

  it('turns Nagle off on the socket of a stream', async () => {
    // Whether TCP_NODELAY is set cannot be seen from the client (on loopback segments are not held
    // back anyway), so this looks at the hub's own socket, in this process.
    const accepted: Socket[] = [];
    const originalEmit = Server.prototype.emit;
    Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'connection') accepted.push(args[0] as Socket);
      return Reflect.apply(originalEmit, this, [event, ...args]) as boolean;
    } as typeof originalEmit;
    let client: Socket | undefined;
    try {
      client = connect(running.port, '127.0.0.1');
      await new Promise((resolve) => client!.once('connect', resolve));
      client.write('GET /topics/nagle HTTP/1.1\r\nHost: hub\r\n\r\n');
      let received = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no preamble: ${JSON.stringify(received)}`)), 5000);
        client!.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (received.includes(': ok')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const server = accepted.find((socket) => socket.remotePort === client!.localPort);
      assert.ok(server, 'the hub side of the connection was not seen');
      const noDelay = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'kSetNoDelay');
      assert.ok(noDelay, 'this Node.js does not record setNoDelay on the socket');
      assert.equal((server as unknown as Record<symbol, unknown>)[noDelay], true, 'Nagle is on for the stream socket');
    } finally {
      Server.prototype.emit = originalEmit;
      client?.destroy();
    }
  });

  it('writes an event as soon as it is published, without waiting for more', async () => {
    const chunks: string[] = [];
    const client = connect(running.port, '127.0.0.1');
    const waitFor = (text: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): boolean => chunks.join('').includes(text);
        if (check()) return resolve();
        const timer = setTimeout(() => reject(new Error(`never received ${JSON.stringify(text)}: ${JSON.stringify(chunks)}`)), 5000);
        const onData = (): void => {
          if (!check()) return;
          clearTimeout(timer);
          client.off('data', onData);
          resolve();
        };
        client.on('data', onData);
      });
    client.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    try {
      client.write('GET /topics/separate HTTP/1.1\r\nHost: hub\r\n\r\n');
      await waitFor(': ok');
      assert.equal((await publish(base, 'separate', 'first')).status, 201);
      // Nothing else is sent to this stream until "first" has arrived.
      await waitFor('data: first');
      await sleep(50);
      assert.equal((await publish(base, 'separate', 'second')).status, 201);
      await waitFor('data: second');
      const first = chunks.findIndex((chunk) => chunk.includes('data: first'));
      const second = chunks.findIndex((chunk) => chunk.includes('data: second'));
      assert.ok(first >= 0 && second > first, `events not in separate reads: ${JSON.stringify(chunks)}`);
    } finally {
      client.destroy();
    }
  });
});
