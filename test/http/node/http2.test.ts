/**
 * HTTP/2 against real hubs and real clients: over TLS (with a certificate made by `ssehub cert`'s
 * own code) ALPN picks h2 for an HTTP/2 client and HTTP/1.1 for the others on the same port, and
 * every route answers the same either way; streams follow the HTTP/1.1 rules (heartbeat, resume,
 * cleanup when the client resets one, per-IP limits, a bound on concurrent streams per session);
 * a refused upload does not leave its stream half-open; close() sends GOAWAY and ends the streams,
 * and the shutdown timeout cuts what remains; cleartext h2c works with prior knowledge.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants as h2, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from '../../../src/cli/cert.js';
import { loadConfig, type HubConfig } from '../../../src/config.js';
import type { RunningHub } from '../../../src/start.js';
import {
  connectH2,
  H2_FRAME,
  H2_PREFACE,
  h2Frame,
  h2GetFrame,
  h2Publish,
  h2Request,
  BROWSER_WINDOWS,
  https1Request,
  openH2Stream,
  openHttps1Stream,
  parseH2Frames,
  rawTls,
  type H2Reply,
  type HttpsReply,
} from '../../support/h2.js';
import { httpRequest } from '../../support/http.js';
import { spawnHub, startTestHub } from '../../support/hub.js';
import { errorFormatProblem, parseResponses } from '../../support/raw-http.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Warnings node emits; its HTTP/2 compatibility layer warns when a handler sets a connection-specific header. */
const warnings: string[] = [];
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));

let certDir: string;
let tls: Pick<HubConfig, 'tlsCertFile' | 'tlsKeyFile'>;
let ca: Buffer;

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'ssehub-h2-'));
  const made = await makeCertificate({ dir: certDir });
  tls = { tlsCertFile: made.certFile, tlsKeyFile: made.keyFile };
  ca = readFileSync(made.certFile);
});
after(() => rmSync(certDir, { recursive: true, force: true }));

const MAX_BODY = 64 * 1024;
const HEARTBEAT_MS = 200;

describe('HTTP/2 and HTTP/1.1 over TLS on one port', () => {
  let running: RunningHub;
  let session: ClientHttp2Session;
  before(async () => {
    running = await startTestHub({ ...tls, heartbeatMs: HEARTBEAT_MS, maxBodyBytes: MAX_BODY, headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    session = await connectH2(running.url, { ca });
  });
  after(async () => {
    session?.destroy();
    await running?.close();
  });

  test('the URL is https://; ALPN picks h2; a published event reaches the stream, without connection-specific headers', async () => {
    assert.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(running.protocols, 'HTTP/2 and HTTP/1.1 over TLS');
    assert.equal(session.alpnProtocol, 'h2');
    const stream = await openH2Stream(session, '/topics/orders/42');
    try {
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(stream.headers['cache-control'], 'no-cache, no-transform');
      assert.equal(stream.headers['x-accel-buffering'], 'no');
      // node:http2 would drop a Connection header with a warning rather than send it: neither happens.
      assert.equal(stream.headers.connection, undefined);
      assert.equal(stream.headers['keep-alive'], undefined);
      assert.deepEqual(warnings.filter((warning) => /connection header/i.test(warning)), []);
      const published = await h2Publish(session, 'orders/42', '{"status":"shipped"}', { event: 'update' });
      assert.equal(published.status, 201, published.text);
      const [event] = await stream.waitForEvents(1);
      assert.equal(event!.type, 'update');
      assert.equal(event!.data, '{"status":"shipped"}');
      assert.equal(event!.lastEventId, published.json().id);
    } finally {
      stream.close();
    }
  });

  test('a stream resumes after Last-Event-ID: exactly what came after it', async () => {
    const ids: string[] = [];
    for (const data of ['one', 'two', 'three']) ids.push((await h2Publish(session, 'resume/h2', data)).json().id);
    const stream = await openH2Stream(session, '/topics/resume/h2', { headers: { 'last-event-id': ids[0]! } });
    try {
      const events = await stream.waitForEvents(2);
      assert.deepEqual(events.map((event) => event.data), ['two', 'three']);
      assert.deepEqual(events.map((event) => event.lastEventId), ids.slice(1));
      assert.deepEqual(stream.positions, [], 'the replay ends at the position: no marker');
    } finally {
      stream.close();
    }
  });

  test('every route answers the same over HTTP/2 and over HTTP/1.1 on the same port', async () => {
    interface Case {
      method: string;
      path: string;
      headers?: Record<string, string>;
      body?: string;
      /** The body holds ids, times or counters: compare its JSON keys, not its text. */
      dynamic?: boolean;
    }
    const cases: Case[] = [
      { method: 'GET', path: '/stats', dynamic: true },
      { method: 'GET', path: '/healthz', dynamic: true },
      { method: 'GET', path: '/metrics', dynamic: true },
      { method: 'GET', path: '/' },
      { method: 'HEAD', path: '/' },
      { method: 'GET', path: '/demos/jobs' },
      { method: 'GET', path: '/assets/style.css' },
      { method: 'GET', path: '/assets/..%2Findex.html' },
      { method: 'GET', path: '/nope' },
      { method: 'DELETE', path: '/publish' },
      { method: 'POST', path: '/demos/api/jobs', headers: { 'content-type': 'application/json' }, body: '{}' },
      { method: 'OPTIONS', path: '/topics/x', headers: { origin: 'https://elsewhere.example' } },
      { method: 'GET', path: '/topics/' },
      { method: 'GET', path: '/events' },
      { method: 'GET', path: '/topics/%ZZ' },
      { method: 'GET', path: '/topics/a//b' },
      { method: 'POST', path: '/topics/routes/ok', headers: { 'content-type': 'text/plain' }, body: 'fine', dynamic: true },
      { method: 'POST', path: '/topics/a//b', headers: { 'content-type': 'text/plain' }, body: 'x' },
      { method: 'POST', path: '/topics/routes/x', headers: { 'content-type': 'application/xml' }, body: '<x/>' },
      { method: 'POST', path: '/topics/routes/x', headers: { 'content-type': 'text/plain', expect: 'something-else' }, body: 'x' },
      { method: 'POST', path: '/topics/routes/x', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(MAX_BODY + 1) },
      { method: 'POST', path: '/topics/routes/x?event=ssehub.nope', headers: { 'content-type': 'text/plain' }, body: 'x' },
      { method: 'POST', path: '/publish', headers: { 'content-type': 'application/json' }, body: '[{"topic":' },
      { method: 'POST', path: '/publish', headers: { 'content-type': 'application/json' }, body: '[]' },
      { method: 'POST', path: '/publish', headers: { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(256) }, body: '[]' },
      { method: 'POST', path: '/tickets', headers: { 'content-type': 'application/json' }, body: '{"topics":"nope"}' },
      { method: 'POST', path: '/tickets', headers: { 'content-type': 'application/json' }, body: '{"topics":["routes/t"]}', dynamic: true },
    ];
    const COMPARED_HEADERS = ['content-type', 'cache-control', 'allow', 'content-security-policy', 'x-content-type-options', 'retry-after', 'vary'];
    const summary = (reply: H2Reply | HttpsReply, dynamic: boolean | undefined): unknown => ({
      status: reply.status,
      headers: Object.fromEntries(COMPARED_HEADERS.map((name) => [name, reply.headers[name]])),
      body: !dynamic ? reply.text : /json/.test(String(reply.headers['content-type'])) ? Object.keys(reply.json()).sort() : reply.text.length > 0,
    });
    for (const { method, path, headers = {}, body, dynamic } of cases) {
      const overH2 = await h2Request(session, path, { method, headers, ...(body === undefined ? {} : { body }) });
      const overH1 = await https1Request(`${running.url}${path}`, { ca, method, headers, ...(body === undefined ? {} : { body }) });
      assert.equal(overH1.alpn, 'http/1.1');
      assert.deepEqual(summary(overH2, dynamic), summary(overH1, dynamic), `${method} ${path}`);
      if (overH2.status >= 400) assert.equal(errorFormatProblem({ headers: overH2.headers, body: overH2.text }), null, `${method} ${path}`);
      if (method === 'HEAD') {
        assert.equal(overH2.text, '');
        assert.equal(overH2.headers['content-length'], overH1.headers['content-length']);
      }
    }
  });

  test('HTTP/1.1 over TLS: streams work, and malformed, oversized and slow requests get the same JSON answers as on plain HTTP/1.1', async () => {
    const stream = await openHttps1Stream(`${running.url}/topics/h1/tls`, { ca });
    try {
      assert.equal(stream.alpn, 'http/1.1');
      assert.equal(stream.headers.connection, 'keep-alive');
      await h2Publish(session, 'h1/tls', 'across protocols');
      assert.equal((await stream.waitForEvents(1))[0]!.data, 'across protocols');
    } finally {
      stream.close();
    }
    const { port } = new URL(running.url);
    const answerOf = async (pieces: string[], timeoutMs = 5000): Promise<{ status: number; code: string; alpn: string | false; closedBy: string }> => {
      const result = await rawTls(Number(port), ca, pieces, { timeoutMs });
      const [response] = parseResponses(result.data).responses;
      assert.ok(response, `no answer: ${JSON.stringify(result.data.toString('latin1').slice(0, 200))}`);
      assert.equal(errorFormatProblem(response), null);
      return { status: response.status, code: JSON.parse(response.body.toString()).error.code, alpn: result.alpn, closedBy: result.closedBy };
    };
    assert.deepEqual(await answerOf(['GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n']), { status: 400, code: 'bad_request', alpn: 'http/1.1', closedBy: 'server' });
    assert.deepEqual(await answerOf([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`]), {
      status: 431,
      code: 'headers_too_large',
      alpn: 'http/1.1',
      closedBy: 'server',
    });
    // Headers that never end: cut by --headers-timeout (500 ms here), with a JSON 408.
    const started = Date.now();
    assert.deepEqual(await answerOf(['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a'], 10_000), { status: 408, code: 'request_timeout', alpn: 'http/1.1', closedBy: 'server' });
    assert.ok(Date.now() - started < 5000, `cut after ${Date.now() - started} ms`);
  });

  test('a stream the client resets is removed at once, and its per-IP slot is released', async () => {
    await waitFor(() => running.hub.stats().connections === 0, 'no stream open');
    const streams = await Promise.all([1, 2, 3].map((n) => openH2Stream(session, `/topics/reset/${n}`)));
    assert.equal(running.hub.stats().connections, 3);
    streams[0]!.close(h2.NGHTTP2_CANCEL);
    await waitFor(() => running.hub.stats().connections === 2, 'the reset stream to be removed');
    for (const stream of streams.slice(1)) stream.close(h2.NGHTTP2_CANCEL);
    await waitFor(() => running.hub.stats().connections === 0, 'every reset stream to be removed');
    // The session itself is still up: resetting streams never costs the connection.
    assert.equal((await h2Request(session, '/stats')).status, 200);
    // Publishing to a topic whose only stream was reset delivers to nobody (and throws nothing).
    const delivered = running.hub.stats().eventsDelivered;
    assert.equal((await h2Publish(session, 'reset/1', 'nobody home')).status, 201);
    await sleep(50);
    assert.equal(running.hub.stats().eventsDelivered, delivered);
  });

  test('heartbeat comments arrive on an idle HTTP/2 stream', async () => {
    const stream = await openH2Stream(session, '/topics/idle/h2');
    try {
      // The first comment is the stream's opening ": ok"; heartbeats are empty comments.
      await stream.waitUntil(() => stream.comments.filter((comment) => comment === '').length >= 2, HEARTBEAT_MS * 20, 'two heartbeats');
      assert.equal(stream.comments[0], 'ok');
      assert.deepEqual(stream.events, []);
    } finally {
      stream.close();
    }
  });

  test('a refused upload is answered, then its stream is reset with NO_ERROR so that the client stops sending', async () => {
    const stream = session.request({ ':method': 'POST', ':path': '/topics/upload/big', 'content-type': 'text/plain' });
    stream.on('error', () => {});
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    // Up to 64 MiB, at the pace the hub takes it: a hub that read the rest to throw it away would
    // take it all; one that resets the stream after answering stops it within the first few.
    // (Once reset, node's client stream never drains nor emits 'close' while data is left to
    // write; `closed` says it was reset.)
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (sent < 64 * 1024 * 1024 && !stream.closed && Date.now() < deadline) {
      sent += chunk.length;
      if (!stream.write(chunk)) {
        let drained = false;
        stream.once('drain', () => (drained = true));
        await waitFor(() => drained || stream.closed, 'the upload to drain or be reset', 20_000);
      }
    }
    assert.equal(stream.rstCode, h2.NGHTTP2_NO_ERROR);
    assert.ok(sent < 8 * 1024 * 1024, `the client sent ${sent} bytes before the stream was reset`);
    assert.equal(status, 413);
    assert.equal(JSON.parse(body).error.code, 'body_too_large');
    stream.destroy();
    assert.equal((await h2Request(session, '/stats')).status, 200, 'the session carries on');
  });
});

describe('per-client limits on HTTP/2', () => {
  test('the per-IP stream limit counts the client address, across streams and sessions', async () => {
    const running = await startTestHub({ ...tls, maxStreamsPerIp: 2 });
    const first = await connectH2(running.url, { ca });
    const second = await connectH2(running.url, { ca });
    try {
      const a = await openH2Stream(first, '/topics/ip/a');
      const b = await openH2Stream(second, '/topics/ip/b');
      await assert.rejects(openH2Stream(first, '/topics/ip/c'), (error: any) => error.status === 429 && JSON.parse(error.body).error.code === 'too_many_streams');
      await assert.rejects(openH2Stream(second, '/topics/ip/c'), (error: any) => error.status === 429);
      a.close();
      await waitFor(() => running.hub.stats().connections === 1, 'the reset stream to release its slot');
      const c = await openH2Stream(second, '/topics/ip/c');
      c.close();
      b.close();
    } finally {
      first.destroy();
      second.destroy();
      await running.close();
    }
  });
});

describe('concurrent streams per HTTP/2 session', () => {
  const LIMIT = 3;
  let running: RunningHub;
  before(async () => {
    running = await startTestHub({ ...tls, h2MaxStreams: LIMIT });
  });
  after(() => running?.close());

  test('the limit is advertised; a well-behaved client queues the stream over it until one closes', async () => {
    const session = await connectH2(running.url, { ca });
    try {
      await waitFor(() => session.remoteSettings.maxConcurrentStreams === LIMIT, 'the server SETTINGS');
      const open = await Promise.all(Array.from({ length: LIMIT }, (_, n) => openH2Stream(session, `/topics/limit/${n}`)));
      assert.equal(running.hub.stats().connections, LIMIT);
      let extraOpened = false;
      const extra = openH2Stream(session, '/topics/limit/extra').then((stream) => {
        extraOpened = true;
        return stream;
      });
      await sleep(300);
      assert.equal(extraOpened, false, 'a stream over the limit opened');
      assert.equal(running.hub.stats().connections, LIMIT);
      open[0]!.close();
      const stream = await extra;
      assert.equal(running.hub.stats().connections, LIMIT);
      stream.close();
      for (const other of open.slice(1)) other.close();
    } finally {
      session.destroy();
    }
  });

  test('a client that ignores the limit has the streams over it refused; the hub never holds more than the limit', async () => {
    await waitFor(() => running.hub.stats().connections === 0, 'no stream open');
    const { port } = new URL(running.url);
    const TOTAL = LIMIT + 2;
    let mostOpen = 0;
    const ids = Array.from({ length: TOTAL }, (_, n) => 1 + 2 * n);
    const settled = (frames: ReturnType<typeof parseH2Frames>): boolean =>
      ids.every((id) => frames.some((frame) => frame.streamId === id && (frame.type === H2_FRAME.HEADERS || frame.type === H2_FRAME.RST_STREAM))) ||
      frames.some((frame) => frame.type === H2_FRAME.GOAWAY);
    const result = await rawTls(
      Number(port),
      ca,
      // The preface, empty SETTINGS, then every request at once, never waiting for the server's SETTINGS.
      [H2_PREFACE, h2Frame(H2_FRAME.SETTINGS, 0, 0), ...ids.map((id) => h2GetFrame(id, `/topics/raw/${id}`))],
      {
        alpn: ['h2'],
        timeoutMs: 5000,
        until: (data) => {
          mostOpen = Math.max(mostOpen, running.hub.stats().connections);
          return settled(parseH2Frames(data));
        },
      },
    );
    assert.equal(result.alpn, 'h2');
    const frames = parseH2Frames(result.data);
    const answered = ids.filter((id) => frames.some((frame) => frame.type === H2_FRAME.HEADERS && frame.streamId === id));
    const refused = frames.filter((frame) => frame.type === H2_FRAME.RST_STREAM).map((frame) => ({ id: frame.streamId, code: frame.payload.readUInt32BE(0) }));
    assert.deepEqual(answered, ids.slice(0, LIMIT));
    assert.deepEqual(refused, ids.slice(LIMIT).map((id) => ({ id, code: h2.NGHTTP2_REFUSED_STREAM })));
    assert.ok(mostOpen <= LIMIT, `the hub held ${mostOpen} streams of one session`);
    await waitFor(() => running.hub.stats().connections === 0, 'the raw client’s streams to be removed');
  });
});

describe('graceful shutdown over HTTP/2', () => {
  test('close() sends GOAWAY, ends every stream cleanly, and the session closes', async () => {
    const running = await startTestHub({ ...tls, shutdownTimeoutMs: 20_000 });
    const session = await connectH2(running.url, { ca });
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const streams = await Promise.all([1, 2].map((n) => openH2Stream(session, `/topics/bye/${n}`)));
    const ended = streams.map((stream) => new Promise<void>((resolve) => stream.stream.once('end', () => resolve())));
    // And an HTTP/1.1 stream on the same port, on a keep-alive connection: once its stream has
    // ended, the idle connection is closed rather than left to its keep-alive timeout (5 s).
    const { port } = new URL(running.url);
    const http1 = rawTls(Number(port), ca, ['GET /topics/bye/h1 HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 20_000 });
    await waitFor(() => running.hub.stats().connections === 3, 'three streams open');
    const started = Date.now();
    await running.close();
    assert.ok(Date.now() - started < 3000, `close() took ${Date.now() - started} ms: connections were left to time out, not closed`);
    assert.equal(await goaway, h2.NGHTTP2_NO_ERROR);
    await Promise.all(ended); // END_STREAM: EventSource reconnects (to another instance)
    await Promise.all(streams.map((stream) => stream.closed));
    for (const stream of streams) assert.equal(stream.stream.rstCode, h2.NGHTTP2_NO_ERROR);
    await sessionClosed;
    const h1 = await http1;
    assert.equal(h1.closedBy, 'server');
    assert.match(h1.data.toString('latin1'), /^HTTP\/1\.1 200 [\s\S]*\r\n0\r\n\r\n$/, 'the HTTP/1.1 stream ended with its last chunk');
    await assert.rejects(connectH2(running.url, { ca }), /ECONNREFUSED/);
  });

  test('the shutdown timeout cuts what is still open: an HTTP/2 upload and an HTTP/1.1 request over TLS', async () => {
    const running = await startTestHub({ ...tls, shutdownTimeoutMs: 500, requestTimeoutMs: 60_000 });
    const session = await connectH2(running.url, { ca });
    const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    // An upload that never finishes keeps its stream, and so its session, open.
    const upload = session.request({ ':method': 'POST', ':path': '/topics/slow/upload', 'content-type': 'text/plain' });
    upload.on('error', () => {});
    upload.write('the start of a body that never ends');
    const { port } = new URL(running.url);
    const held = rawTls(Number(port), ca, ['POST /topics/slow/h1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial'], {
      timeoutMs: 20_000,
    });
    await waitFor(() => running.hub.stats().connections === 0, 'the requests to be in'); // no stream: nothing to end
    await sleep(200);
    const started = Date.now();
    await running.close();
    const took = Date.now() - started;
    assert.ok(took >= 400 && took < 5000, `close() took ${took} ms`);
    await sessionClosed;
    const h1 = await held;
    assert.equal(h1.closedBy, 'server');
    assert.ok(h1.elapsedMs < 10_000);
  });
});

describe('cleartext HTTP/2 (--h2c)', () => {
  test('serves HTTP/2 with prior knowledge: publish and stream; HTTP/1.1 cannot use that port', async () => {
    const running = await startTestHub({ h2c: true });
    const session = await connectH2(running.url);
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(running.protocols, 'cleartext HTTP/2 (h2c)');
      assert.equal(session.alpnProtocol, 'h2c');
      const stream = await openH2Stream(session, '/events?topic=plain/*');
      const published = await h2Publish(session, 'plain/1', 'no TLS here');
      assert.equal(published.status, 201);
      assert.equal((await stream.waitForEvents(1))[0]!.data, 'no TLS here');
      assert.equal((await h2Request(session, '/nope')).json().error.code, 'not_found');
      stream.close();
      await waitFor(() => running.hub.stats().connections === 0, 'the reset stream to be removed');
      // As documented: an HTTP/1.1 request on an h2c port is not valid HTTP/2, and the connection is dropped.
      await assert.rejects(httpRequest(`${running.url}/healthz`));
    } finally {
      session.destroy();
      await running.close();
    }
  });

  test('--h2c with TLS, or half of a TLS pair, is refused with a clear error', async () => {
    const defaults = loadConfig([], {});
    assert.deepEqual([defaults.tlsCertFile, defaults.tlsKeyFile, defaults.h2c, defaults.h2MaxStreams], [undefined, undefined, false, 100]);
    assert.equal(loadConfig(['--h2c', '--h2-max-streams', '8'], {}).h2MaxStreams, 8);
    assert.equal(loadConfig([], { SSEHUB_H2C: 'true' }).h2c, true);
    for (const [argv, culprit] of [
      [['--tls-cert', 'cert.pem'], '--tls-key is missing'],
      [['--tls-key', 'key.pem'], '--tls-cert is missing'],
      [['--tls-cert', 'cert.pem', '--tls-key', 'key.pem', '--h2c'], '--h2c'],
      [['--h2-max-streams', '0'], '--h2-max-streams'],
    ] as const) {
      assert.throws(() => loadConfig(argv, {}), (error: any) => error.code === 'invalid_config' && error.message.includes(culprit), argv.join(' '));
    }
    await assert.rejects(startTestHub({ ...tls, h2c: true }), (error: any) => error.code === 'invalid_config' && /--h2c/.test(error.message));
    await assert.rejects(startTestHub({ tlsCertFile: tls.tlsCertFile }), (error: any) => error.code === 'invalid_config' && /--tls-key is missing/.test(error.message));
    await assert.rejects(
      startTestHub({ tlsCertFile: join(certDir, 'missing.pem'), tlsKeyFile: tls.tlsKeyFile }),
      (error: any) => error.code === 'invalid_config' && /Cannot read the TLS certificate file/.test(error.message),
    );
    await assert.rejects(
      startTestHub({ tlsCertFile: tls.tlsKeyFile, tlsKeyFile: tls.tlsKeyFile }),
      (error: any) => error.code === 'invalid_config' && /TLS certificate and key cannot be used/.test(error.message),
    );
  });
});

describe('slow consumers over HTTP/2', () => {
  test('a stalled stream is cut off alone: its session and the readers go on, and the hub’s memory stays bounded', async (t) => {
    const KiB = 1024;
    const MiB = 1024 * KiB;
    const MAX_BUFFER = 64 * KiB;
    const EVENT_BYTES = 16 * KiB;
    const NON_READERS = 200;
    // The hub runs with its readers alone first, publishing as much as the waves will, until its
    // heap has grown to its working size: the bound below starts from there.
    const WARMUP_BATCHES = 300;
    const TAIL_BATCHES = 50;
    // A stop, should the hub never cut anyone off: 19 MB per stream, 3.9 GB for the non-readers
    // together if their buffers were not bounded. The stalled stream on the readers' session has a
    // browser's window (6 MiB) to fill before the hub's buffer starts to.
    const MAX_BATCHES = 600;
    const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
    const payload = (n: number): string => `${n}:`.padEnd(EVENT_BYTES, 'x');
    const hub = await spawnHub([
      '--tls-cert', tls.tlsCertFile!, '--tls-key', tls.tlsKeyFile!,
      '--max-buffer', `${MAX_BUFFER / KiB}KiB`, '--max-streams-per-ip', '0', '--publish-rate', '0', '--history-max-events', '100',
    ]);
    const sessions: ClientHttp2Session[] = [];
    const connect = async (windows?: typeof BROWSER_WINDOWS): Promise<ClientHttp2Session> => {
      const session = await connectH2(hub.url, { ca, ...(windows === undefined ? {} : { windows }) });
      sessions.push(session);
      return session;
    };
    try {
      const control = await connect();
      const stats = async (): Promise<{ connections: number; slowConsumersDropped: number }> => (await h2Request(control, '/stats')).json();
      const publishedIds: string[] = [];
      const samples: Array<{ phase: 'warm' | 'waves' | 'tail'; rss: number }> = [];
      let phase: 'warm' | 'waves' | 'tail' = 'warm';
      const publishBatch = async (): Promise<void> => {
        const body = JSON.stringify([0, 1].map((k) => ({ topic: 'load/h2', data: payload(publishedIds.length + k) })));
        const reply = await h2Request(control, '/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        assert.equal(reply.status, 201, reply.text);
        publishedIds.push(...(reply.json().ids as string[]));
        samples.push({ phase, rss: hub.rssBytes() });
      };

      // A reader alone on its session, and a reader sharing a session with a stream that stalls.
      // Readers grant the flow-control windows a browser does: a 64 KiB window (node's default)
      // holds little more than one batch, and a reader that lags behind it by a buffer's worth is
      // rightly cut off. The connection window being far above one stream's, what the stalled
      // stream leaves unread cannot hold up its neighbour.
      const shared = await connect(BROWSER_WINDOWS);
      const readers = [await openH2Stream(await connect(BROWSER_WINDOWS), '/topics/load/h2'), await openH2Stream(shared, '/topics/load/h2')];
      for (let i = 0; i < WARMUP_BATCHES; i++) await publishBatch();
      const rssWarm = Math.max(...samples.slice(-WARMUP_BATCHES / 3).map((sample) => sample.rss));

      phase = 'waves';
      const stalled = [await openH2Stream(shared, '/topics/load/h2', { read: false })];
      for (let opened = 0; opened < NON_READERS; opened += 50) {
        stalled.push(...(await Promise.all(Array.from({ length: 50 }, async () => openH2Stream(await connect(), '/topics/load/h2', { read: false })))));
      }
      const opened = await stats();
      assert.equal(opened.connections, readers.length + stalled.length, JSON.stringify(opened));
      const rssOpened = hub.rssBytes();
      const wavesFrom = publishedIds.length;
      while ((await stats()).slowConsumersDropped < stalled.length) {
        assert.ok(publishedIds.length - wavesFrom < MAX_BATCHES * 2, `not every stalled stream was cut off after ${mb((publishedIds.length - wavesFrom) * EVENT_BYTES)}`);
        await publishBatch();
      }
      const cutAfter = publishedIds.length - wavesFrom;
      phase = 'tail';
      for (let i = 0; i < TAIL_BATCHES; i++) await publishBatch();

      // Every stalled stream was reset (RST_STREAM, CANCEL), the readers were not touched.
      await Promise.all(stalled.map((stream) => stream.closed));
      for (const stream of stalled) assert.equal(stream.stream.rstCode, h2.NGHTTP2_CANCEL);
      const final = await stats();
      assert.equal(final.slowConsumersDropped, stalled.length, 'only the stalled streams are cut off');
      assert.equal(final.connections, readers.length);
      assert.equal(shared.closed || shared.destroyed, false, 'the shared session was closed with its stalled stream');
      for (const [r, reader] of readers.entries()) {
        await reader.waitForEvents(publishedIds.length, 30_000);
        assert.deepEqual(reader.events.map((event) => event.lastEventId), publishedIds, `reader ${r} did not receive exactly the published ids`);
        assert.ok(reader.events.every((event, n) => event.data === payload(n)), `reader ${r} got events with the wrong data`);
      }

      // Memory: on top of the settled hub with its sessions open, each stalled stream may cost its
      // full buffer plus what its busy session holds (TLS records, frames: allowed 128 KiB), and
      // slack for the garbage collector's swing (tens of MB between full collections). Without the
      // bound, each stalled stream would hold what was published after it stalled: over 1 GB here.
      const limit = Math.max(rssWarm, rssOpened) + stalled.length * (MAX_BUFFER + 128 * KiB) + 64 * MiB;
      const peak = Math.max(...samples.filter((sample) => sample.phase !== 'warm').map((sample) => sample.rss));
      t.diagnostic(
        `${stalled.length} stalled streams cut off after ${mb(cutAfter * EVENT_BYTES)} per stream; hub RSS: settled ${mb(rssWarm)}, ` +
          `${stalled.length} sessions open ${mb(rssOpened)}, peak ${mb(peak)}, bound ${mb(limit)}`,
      );
      assert.ok(peak < limit, `peak RSS ${mb(peak)} is above ${mb(limit)}`);
    } finally {
      for (const session of sessions) session.destroy();
      await hub.stop();
    }
  });
});
