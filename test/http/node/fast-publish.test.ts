/**
 * The publish fast path (src/http/node/fast-publish.ts): which requests it takes, that its answers are
 * node:http's, and that every other request on a connection it started still reaches node:http.
 * node:http's requests are counted through its own diagnostics channel, so a test knows which
 * path answered.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { mintToken } from '../../../src/auth/tokens.js';
import { MAX_JSON_DEPTH } from '../../../src/http/body.js';
import { parseSimplePublish } from '../../../src/http/node/fast-publish.js';
import type { RunningHub } from '../../../src/start.js';
import { startTestHub } from '../../support/hub.js';
import { countNodeHttpRequests, type NodeHttpCounter } from '../../support/node-http-counter.js';
import { freshNamespace, removeNamespace } from '../../support/namespaces.js';
import { redisService } from '../../support/services.js';
import { openStream } from '../../support/http.js';
import { parseResponses, rawRequest, type RawResponse } from '../../support/raw-http.js';

const LIMITS = { maxHeaderBytes: 1024, maxBodyBytes: 64 };
/** The flood test runs on Redis, where a publish takes a round trip (skipped locally without it, never in CI). */
const redis = await redisService();
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const post = (head: string, body = ''): string =>
  `POST /topics/t HTTP/1.1\r\nHost: hub\r\n${head}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;

describe('parseSimplePublish', () => {
  test('reads a complete publish: target, headers in lower case, body and size', () => {
    const text = 'POST /topics/a/b?event=x HTTP/1.1\r\nHost: hub\r\nContent-Type:  text/plain \r\nX-Odd: \xe9\r\nContent-Length: 5\r\n\r\nhello';
    const request = parseSimplePublish(bytes(`${text}GET / HTTP/1.1\r\n\r\n`), LIMITS);
    assert.ok(request);
    assert.equal(request.target, '/topics/a/b?event=x');
    assert.deepEqual({ ...request.headers }, { host: 'hub', 'content-type': 'text/plain', 'x-odd': '\xe9', 'content-length': '5' });
    assert.equal(request.body.toString(), 'hello');
    assert.equal(request.size, Buffer.byteLength(text, 'latin1'));
    assert.equal(request.close, false);
  });

  test('no Content-Length is an empty body; "Connection: close" is noted', () => {
    const request = parseSimplePublish(bytes('POST /topics/t HTTP/1.1\r\nConnection: Close\r\n\r\n'), LIMITS);
    assert.ok(request);
    assert.equal(request.body.length, 0);
    assert.equal(request.close, true);
  });

  test('a header named __proto__ is only a header', () => {
    const request = parseSimplePublish(bytes(post('__proto__: x\r\n')), LIMITS);
    assert.ok(request);
    assert.equal(request.headers['__proto__'], 'x');
    assert.equal(Object.getPrototypeOf(request.headers), null);
  });

  const notSimple: Array<[string, string]> = [
    ['another method', post('').replace('POST', 'PUT')],
    ['another route', post('').replace('/topics/t', '/publish')],
    ['HTTP/1.0', post('').replace('HTTP/1.1', 'HTTP/1.0')],
    ['a head not yet complete', 'POST /topics/t HTTP/1.1\r\nHost: hub\r\n'],
    ['a body not yet complete', post('', 'hello').slice(0, -1)],
    ['a chunked body', 'POST /topics/t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['Expect', post('Expect: 100-continue\r\n', 'x')],
    ['Upgrade', post('Upgrade: websocket\r\nConnection: Upgrade\r\n')],
    ['a Connection token other than keep-alive or close', post('Connection: keep-alive, Upgrade\r\n')],
    ['a repeated header', post('Content-Type: text/plain\r\ncontent-type: application/json\r\n', 'x')],
    ['two Content-Lengths', 'POST /topics/t HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'],
    ['a Content-Length that is not digits', 'POST /topics/t HTTP/1.1\r\nContent-Length: +1\r\n\r\nx'],
    ['a body over the limit', post('', 'x'.repeat(65))],
    ['Content-Length with Transfer-Encoding', 'POST /topics/t HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx'],
    ['an empty Content-Length', 'POST /topics/t HTTP/1.1\r\nContent-Length: \r\n\r\n'],
    ['a Content-Length padded inside', 'POST /topics/t HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nx'],
    ['a lone CR in a value', post('X-A: 1\r2\r\n')],
    ['an empty line before the request line', `\r\n${post('')}`],
    ['a folded header line', post('X-A: 1\r\n  continued\r\n')],
    ['a control character in a value', post('X-A: 1\x012\r\n')],
    ['a bare LF', 'POST /topics/t HTTP/1.1\nHost: hub\r\n\r\n'],
    ['a space before the colon', post('X-A : 1\r\n')],
    ['a space in the target', 'POST /topics/a b HTTP/1.1\r\n\r\n'],
    ['a target byte over 0x7e', 'POST /topics/\xe9 HTTP/1.1\r\n\r\n'],
  ];
  test('a head one byte under the header limit is taken; at the limit it is node:http\'s', () => {
    const padded = (size: number): string => {
      const bare = post('X-Pad: \r\n');
      return post(`X-Pad: ${'p'.repeat(size - bare.length)}\r\n`);
    };
    assert.equal(padded(LIMITS.maxHeaderBytes - 1).length, LIMITS.maxHeaderBytes - 1);
    assert.ok(parseSimplePublish(bytes(padded(LIMITS.maxHeaderBytes - 1)), LIMITS));
    assert.equal(parseSimplePublish(bytes(padded(LIMITS.maxHeaderBytes)), LIMITS), undefined);
  });

  for (const [name, text] of notSimple) {
    test(`leaves to node:http: ${name}`, () => {
      assert.equal(parseSimplePublish(bytes(text), LIMITS), undefined);
    });
  }
});

/** Sends raw pieces and waits for `count` complete answers (or the server's close). */
async function exchange(port: number, pieces: string[], count: number, options: { gapMs?: number } = {}): Promise<RawResponse[]> {
  const { data } = await rawRequest(port, pieces, {
    timeoutMs: 5000,
    ...options,
    until: (received) => {
      const { responses } = parseResponses(received);
      return responses.length >= count && responses.every((response) => response.complete);
    },
  });
  return parseResponses(data).responses;
}

interface AnswerCase {
  name: string;
  target?: string;
  body?: string;
  status: number;
  /** The error code expected, when the case is about one. */
  code?: string;
  /** Sent this many times, one after the other; the last answer is compared. */
  repeat?: number;
}

/**
 * Sends the case's request to a fast-path hub and to a `--fast-publish false` one and compares the
 * answers line by line: the fast one must not have reached node:http.
 */
async function assertAnsweredAsNodeHttp(c: AnswerCase, head: string, fast: RunningHub, plain: RunningHub, nodeHttp: NodeHttpCounter): Promise<void> {
  const answers: RawResponse[] = [];
  for (const running of [fast, plain]) {
    const before = nodeHttp.on(running.port);
    const request = post(head, c.body ?? '').replace('/topics/t', c.target ?? '/topics/t');
    let last: RawResponse | undefined;
    for (let i = 0; i < (c.repeat ?? 1); i++) [last] = await exchange(running.port, [request], 1);
    assert.ok(last, `${running === fast ? 'fast' : 'plain'} hub answered`);
    answers.push(last);
    if (running === fast) assert.equal(nodeHttp.on(running.port), before, 'node:http saw none of these requests');
  }
  const [fromFast, fromPlain] = answers as [RawResponse, RawResponse];
  assert.equal(fromFast.status, c.status);
  assert.equal(fromPlain.status, c.status);
  if (c.code !== undefined) assert.equal(JSON.parse(fromFast.body.toString()).error.code, c.code);
  // One difference, on purpose: refusing a request before reading its body, node:http must close
  // the connection (the body would be read as the next request); the fast path has read it.
  const closedOnlyByNodeHttp = fromPlain.status >= 400 && fromPlain.headers.connection === 'close' && !/^Connection: close/m.test(head);
  if (closedOnlyByNodeHttp) assert.deepEqual([fromFast.headers.connection, fromFast.headers['keep-alive']], ['keep-alive', 'timeout=5']);
  const comparable = (response: RawResponse) => {
    const lines = response.headerLines.filter((line) => {
      if (/^date: /i.test(line)) {
        assert.match(line, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
        return false;
      }
      return !(closedOnlyByNodeHttp && /^(connection|keep-alive): /i.test(line));
    });
    // Retry-After depends on the moment; it is there on both or neither.
    const headerLines = lines.map((line) => line.replace(/^Retry-After: \d+$/, 'Retry-After: <seconds>'));
    const body = JSON.parse(response.body.toString());
    if (typeof body.id === 'string') body.id = '<id>';
    return { headerLines, body };
  };
  assert.deepEqual(comparable(fromFast), comparable(fromPlain));
}

const ORIGIN = 'https://app.example';
/** One level more than a JSON body may nest: json_too_deep, from the fast path as from node:http. */
const TOO_DEEP = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);

describe('the fast path in a running hub', () => {
  const SECRET = 'fast-path-secret-fast-path-secret!';
  const settings = { jwtSecret: SECRET, corsOrigins: [ORIGIN], publishRate: 1, publishBurst: 2, maxBodyBytes: 1024, publishBytesRate: 1, publishBytesBurst: 1024, rateLimitSubjects: true };
  let fast: RunningHub;
  let plain: RunningHub;
  let nodeHttp: ReturnType<typeof countNodeHttpRequests>;
  const tokenFor = (subject: string): Promise<string> => mintToken({ secret: SECRET, lifetimeSeconds: 600, publish: ['**'], subscribe: ['**'], subject });

  before(async () => {
    nodeHttp = countNodeHttpRequests();
    fast = await startTestHub(settings);
    plain = await startTestHub({ ...settings, fastPublish: false });
  });
  after(async () => {
    nodeHttp.stop();
    await Promise.all([fast.close(), plain.close()]);
  });

  test('a publish is answered without node:http, and delivered; with --fast-publish false node:http answers it', async () => {
    const token = await tokenFor('deliver');
    for (const running of [fast, plain]) {
      const before = nodeHttp.on(running.port);
      const stream = await openStream(`${running.url}/topics/delivered`, { Authorization: `Bearer ${token}` });
      const counted = nodeHttp.on(running.port) - before; // the stream's request
      const [answer] = await exchange(running.port, [post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'hi').replace('/topics/t', '/topics/delivered')], 1);
      assert.equal(answer?.status, 201);
      const [event] = await stream.waitForEvents(1);
      assert.equal(event!.data, 'hi');
      assert.equal(event!.lastEventId, JSON.parse(answer!.body.toString()).id);
      stream.close();
      assert.equal(nodeHttp.on(running.port) - before - counted, running === fast ? 0 : 1, running === fast ? 'fast hub' : 'plain hub');
    }
  });

  describe('answers exactly as node:http does', () => {
    // Each case: the request's head lines and body (the token is added for `subject`), and the status expected.
    // `cookie`: the token goes in the cookie instead, for that subject.
    const cases: Array<AnswerCase & { subject?: string; cookie?: string; head?: string }> = [
      { name: 'text', subject: 'p-text', head: 'Content-Type: text/plain\r\n', body: 'hello', status: 201 },
      { name: 'JSON with an event name', subject: 'p-json', target: '/topics/t?event=made', head: 'Content-Type: application/json; charset=utf-8\r\n', body: '{"a":1}', status: 201 },
      { name: 'no Content-Type', subject: 'p-type', body: 'x', status: 415 },
      { name: 'invalid JSON', subject: 'p-badjson', head: 'Content-Type: application/json\r\n', body: '{', status: 400 },
      { name: 'JSON nested deeper than the limit', subject: 'p-deep', head: 'Content-Type: application/json\r\n', body: TOO_DEEP, status: 400, code: 'json_too_deep' },
      { name: 'invalid UTF-8', subject: 'p-utf8', head: 'Content-Type: text/plain\r\n', body: '\xff\xfe', status: 400 },
      { name: 'no credential', head: 'Content-Type: text/plain\r\n', body: 'x', status: 401 },
      { name: 'a malformed Authorization', head: 'Authorization: Basic abc\r\nContent-Type: text/plain\r\n', body: 'x', status: 401 },
      { name: 'a topic that is not valid percent-encoding', subject: 'p-pct', target: '/topics/%E0%A4%A', head: 'Content-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'an invalid topic', subject: 'p-topic', target: '/topics/a//b', head: 'Content-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'an allowed Origin', subject: 'p-cors', head: `Origin: ${ORIGIN}\r\nContent-Type: text/plain\r\n`, body: 'x', status: 201 },
      { name: 'an invalid Idempotency-Key', subject: 'p-idem', head: 'Idempotency-Key: \r\nContent-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'Connection: close', subject: 'p-close', head: 'Connection: close\r\nContent-Type: text/plain\r\n', body: 'x', status: 201 },
      { name: 'over the rate (burst 2, third refused)', subject: 'p-rate', head: 'Content-Type: text/plain\r\n', body: 'x', status: 429, repeat: 3 },
      { name: 'over the byte rate (bursts of 1024 bytes, the second 1000 refused)', subject: 'p-bytes', head: 'Content-Type: text/plain\r\n', body: 'x'.repeat(1000), status: 429, repeat: 2 },
      { name: 'a replayed Idempotency-Key', subject: 'p-replay', head: 'Idempotency-Key: same-key\r\nContent-Type: text/plain\r\n', body: 'x', status: 201, repeat: 2 },
      { name: 'the cookie from another site', cookie: 'p-csrf', head: 'Origin: https://evil.example\r\nContent-Type: text/plain\r\n', body: 'x', status: 403 },
      { name: 'the cookie with Sec-Fetch-Site: cross-site and no Origin', cookie: 'p-csrf-fetch', head: 'Sec-Fetch-Site: cross-site\r\nContent-Type: text/plain\r\n', body: 'x', status: 403 },
      { name: "the cookie from the hub's own origin", cookie: 'p-cookie-own', head: 'Origin: http://hub\r\nContent-Type: text/plain\r\n', body: 'x', status: 201 },
      { name: 'the cookie from an allowed Origin', cookie: 'p-cookie-cors', head: `Origin: ${ORIGIN}\r\nContent-Type: text/plain\r\n`, body: 'x', status: 201 },
    ];
    for (const c of cases) {
      test(`${c.name} -> ${c.status}`, async () => {
        let auth = c.subject === undefined ? '' : `Authorization: Bearer ${await tokenFor(c.subject)}\r\n`;
        if (c.cookie !== undefined) auth = `Cookie: ssehub_token=${await tokenFor(c.cookie)}\r\n`;
        await assertAnsweredAsNodeHttp(c, auth + (c.head ?? ''), fast, plain, nodeHttp);
      });
    }
  });

  describe('anonymous publishes on the memory engine, answered without waiting, exactly as node:http does', () => {
    // A pair of hubs per case: anonymous publishers share a rate bucket (their address).
    const anonymous = { corsOrigins: [ORIGIN], publishRate: 1, publishBurst: 2, maxBodyBytes: 1024, publishBytesRate: 1, publishBytesBurst: 1024 };
    const cases: Array<AnswerCase & { head?: string }> = [
      { name: 'text', head: 'Content-Type: text/plain\r\n', body: 'hello', status: 201 },
      { name: 'JSON with an event name', target: '/topics/t?event=made', head: 'Content-Type: application/json\r\n', body: '{"a":1}', status: 201 },
      { name: 'no Content-Type', body: 'x', status: 415 },
      { name: 'invalid JSON', head: 'Content-Type: application/json\r\n', body: '{', status: 400 },
      { name: 'JSON nested deeper than the limit', head: 'Content-Type: application/json\r\n', body: TOO_DEEP, status: 400, code: 'json_too_deep' },
      { name: 'invalid UTF-8', head: 'Content-Type: text/plain\r\n', body: '\xff\xfe', status: 400 },
      { name: 'a topic that is not valid percent-encoding', target: '/topics/%E0%A4%A', head: 'Content-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'an invalid topic', target: '/topics/a//b', head: 'Content-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'a reserved event name', target: '/topics/t?event=ssehub.reset', head: 'Content-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'an allowed Origin', head: `Origin: ${ORIGIN}\r\nContent-Type: text/plain\r\n`, body: 'x', status: 201 },
      { name: 'an invalid Idempotency-Key', head: 'Idempotency-Key: \r\nContent-Type: text/plain\r\n', body: 'x', status: 400 },
      { name: 'Connection: close', head: 'Connection: close\r\nContent-Type: text/plain\r\n', body: 'x', status: 201 },
      { name: 'over the rate (burst 2, third refused)', head: 'Content-Type: text/plain\r\n', body: 'x', status: 429, repeat: 3 },
      { name: 'over the byte rate (bursts of 1024 bytes, the second 1000 refused)', head: 'Content-Type: text/plain\r\n', body: 'x'.repeat(1000), status: 429, repeat: 2 },
      { name: 'a replayed Idempotency-Key (which takes the waiting path)', head: 'Idempotency-Key: k\r\nContent-Type: text/plain\r\n', body: 'x', status: 201, repeat: 2 },
    ];
    for (const c of cases) {
      test(`${c.name} -> ${c.status}`, async () => {
        const counter = countNodeHttpRequests();
        const [fastHub, plainHub] = await Promise.all([startTestHub(anonymous), startTestHub({ ...anonymous, fastPublish: false })]);
        try {
          await assertAnsweredAsNodeHttp(c, c.head ?? '', fastHub, plainHub, counter);
        } finally {
          counter.stop();
          await Promise.all([fastHub.close(), plainHub.close()]);
        }
      });
    }
  });

  test('which publishes are stored without waiting: anonymous ones on the memory engine; not those with a token or an Idempotency-Key', async () => {
    const open = await startTestHub({ publishRate: 0 });
    try {
      for (const running of [open, fast]) {
        const calls = { append: 0, appendNow: 0 };
        const { engine } = running.hub;
        const append = engine.append.bind(engine);
        const appendNow = engine.appendNow!.bind(engine);
        engine.append = (events, options) => (calls.append++, append(events, options));
        engine.appendNow = (events, options) => (calls.appendNow++, appendNow(events, options));
        const auth = running === fast ? `Authorization: Bearer ${await tokenFor('waits')}\r\n` : '';
        const plain = post(`${auth}Content-Type: text/plain\r\n`, 'x');
        const keyed = post(`${auth}Idempotency-Key: once\r\nContent-Type: text/plain\r\n`, 'y');
        const answers = await exchange(running.port, [plain + keyed], 2);
        assert.deepEqual(answers.map((answer) => answer.status), [201, 201]);
        // The memory engine's append() is appendNow() behind a promise: a waiting publish calls both.
        assert.deepEqual(calls, running === open ? { append: 1, appendNow: 2 } : { append: 2, appendNow: 2 }, running === open ? 'anonymous' : 'with a token');
      }
    } finally {
      await open.close();
    }
  });

  test('a pipeline of anonymous publishes in one read: all answered at once, in order, none by node:http', async () => {
    const open = await startTestHub({ publishRate: 0 });
    try {
      const count = 200; // about 20 KB: one read
      const stream = await openStream(`${open.url}/topics/one-read`);
      const before = nodeHttp.on(open.port);
      const requests = Array.from({ length: count }, (_, i) => post('Content-Type: text/plain\r\n', String(i)).replace('/topics/t', '/topics/one-read')).join('');
      assert.ok(requests.length < 32 * 1024);
      const answers = await exchange(open.port, [requests], count);
      assert.equal(answers.length, count);
      assert.ok(answers.every((answer) => answer.status === 201));
      assert.equal(nodeHttp.on(open.port), before, 'node:http saw none of them');
      const events = await stream.waitForEvents(count, 15_000);
      assert.deepEqual(events.map((event) => event.data), Array.from({ length: count }, (_, i) => String(i)));
      assert.deepEqual(events.map((event) => event.lastEventId), answers.map((answer) => JSON.parse(answer.body.toString()).id));
      stream.close();
    } finally {
      await open.close();
    }
  });

  test('a client that does not read its answers is not read either; once it reads, every answer arrives, in order', async () => {
    // Answers known at once are written in a loop that must stop when the socket needs 'drain'.
    const open = await startTestHub({ publishRate: 0, historyMaxEvents: 10 });
    const socket = connect(open.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.pause();
      // Batches of whole requests, each well under one read, until the hub stops reading: the
      // answers fill both sides' buffers, the hub waits for 'drain', then the requests back up.
      const batch = Array.from({ length: 300 }, () => post('Content-Type: text/plain\r\n', 'x')).join('');
      let sent = 0;
      let backedUp = false;
      for (const deadline = Date.now() + 30_000; !backedUp && Date.now() < deadline && sent < 400_000; ) {
        backedUp = !socket.write(batch);
        sent += 300;
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(backedUp, `the hub kept reading ${sent} requests from a client that reads nothing`);
      let received = 0;
      let tail = '';
      const ids: string[] = [];
      const done = new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          // An answer may be split between chunks: what follows the last whole one is kept.
          const text = tail + chunk.toString('latin1');
          let parsedUpTo = 0;
          for (const match of text.matchAll(/HTTP\/1\.1 (\d{3})[^{]*\{"id":"([^"]+)"/g)) {
            assert.equal(match[1], '201');
            ids.push(match[2]!);
            parsedUpTo = match.index + match[0].length;
          }
          tail = text.slice(parsedUpTo);
          received = ids.length;
          if (received >= sent) resolve();
        });
      });
      socket.resume();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))]);
      clearTimeout(timer);
      assert.equal(received, sent, 'every publish was answered');
      // Every publish answered (above), each with a later id than the one before. Not consecutive:
      // the hub's own messages between instances (src/hub/system-bus.ts) take ids of the same sequence.
      const sequences = ids.map((id) => Number(id.split('-')[1]));
      assert.ok(sequences.every((seq, i) => i === 0 || seq > sequences[i - 1]!), 'answered in order');
      assert.equal(new Set(sequences).size, sent, 'each publish has an id of its own');
    } finally {
      socket.destroy();
      await open.close();
    }
  });

  test('pipelined publishes in one write are answered in order and delivered in order', async () => {
    const stream = await openStream(`${fast.url}/topics/pipelined`, { Authorization: `Bearer ${await tokenFor('pipe-reader')}` });
    const before = nodeHttp.on(fast.port);
    const tokens = await Promise.all([1, 2].map((n) => tokenFor(`pipe-${n}`)));
    const requests = ['one', 'two', 'three', 'four'].map((data, i) =>
      post(`Authorization: Bearer ${tokens[i % 2]}\r\nContent-Type: text/plain\r\n`, data).replace('/topics/t', '/topics/pipelined'),
    );
    const answers = await exchange(fast.port, [requests.join('')], 4);
    assert.deepEqual(answers.map((answer) => answer.status), [201, 201, 201, 201]);
    const ids = answers.map((answer) => JSON.parse(answer.body.toString()).id as string);
    const events = await stream.waitForEvents(4);
    assert.deepEqual(events.map((event) => [event.data, event.lastEventId]), [['one', ids[0]], ['two', ids[1]], ['three', ids[2]], ['four', ids[3]]]);
    assert.equal(nodeHttp.on(fast.port), before);
    stream.close();
  });

  test('a request that is not a simple publish hands the connection to node:http, after the answers before it', async () => {
    // A publisher each, as the suite's rate allows two events per publisher at once.
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((name) => tokenFor(`handback-${name}`)));
    const publishAs = (token: string | undefined) => post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'x');
    const chunked = `POST /topics/t HTTP/1.1\r\nAuthorization: Bearer ${c}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n1\r\ny\r\n0\r\n\r\n`;
    const before = nodeHttp.on(fast.port);
    // One write: fast, fast, then /livez and a chunked publish (node:http), then a publish node:http also answers.
    const answers = await exchange(fast.port, [publishAs(a) + publishAs(b) + 'GET /livez HTTP/1.1\r\nHost: hub\r\n\r\n' + chunked + publishAs(d)], 5);
    assert.deepEqual(answers.map((answer) => answer.status), [201, 201, 200, 201, 201]);
    assert.deepEqual(JSON.parse(answers[2]!.body.toString()), { status: 'ok' }, 'the third answer is /livez');
    assert.equal(nodeHttp.on(fast.port) - before, 3, 'node:http answered the last three');
  });

  test('a publish whose body arrives in a later write is node:http\'s, and still published', async () => {
    const token = await tokenFor('split');
    const stream = await openStream(`${fast.url}/topics/split`, { Authorization: `Bearer ${token}` });
    const before = nodeHttp.on(fast.port);
    const request = post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'two halves').replace('/topics/t', '/topics/split');
    const cut = request.length - 4;
    const [answer] = await exchange(fast.port, [request.slice(0, cut), request.slice(cut)], 1, { gapMs: 50 });
    assert.equal(answer?.status, 201);
    assert.equal((await stream.waitForEvents(1))[0]!.data, 'two halves');
    // The stream's request was node:http's before `before`; the split publish is the one counted.
    assert.equal(nodeHttp.on(fast.port) - before, 1);
    stream.close();
  });

  test('a stream requested on a connection that published before it is opened by node:http and receives', async () => {
    const token = await tokenFor('then-stream');
    const publishRequest = post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'first').replace('/topics/t', '/topics/then-stream');
    const streamRequest = `GET /topics/then-stream HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`;
    const socket = connect(fast.port, '127.0.0.1');
    let received = '';
    const arrived = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(received)}`)), 5000);
        const look = (): void => {
          if (!received.includes(text)) return;
          clearTimeout(timer);
          socket.off('data', look);
          resolve();
        };
        socket.on('data', look);
        look();
      });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    try {
      socket.write(publishRequest + streamRequest);
      await arrived('retry: ');
      const reply = await exchange(fast.port, [publishRequest.replace('first', 'second').replace('Content-Length: 5', 'Content-Length: 6')], 1);
      assert.equal(reply[0]?.status, 201);
      await arrived('data: second\n');
      assert.match(received, /^HTTP\/1\.1 201 Created\r\n/);
      assert.match(received, /"\}\nHTTP\/1\.1 200 OK\r\n[\s\S]*data: second\n/, "the publish's answer, then the stream's");
    } finally {
      socket.destroy();
    }
  });

  test('"Connection: close" closes the connection after the answer, and nothing after it is read', async () => {
    const token = await tokenFor('closing');
    const closing = post(`Authorization: Bearer ${token}\r\nConnection: close\r\nContent-Type: text/plain\r\n`, 'x');
    const { data, closedBy } = await rawRequest(fast.port, [closing + post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'y')], { timeoutMs: 3000 });
    const { responses } = parseResponses(data);
    assert.deepEqual(responses.map((response) => [response.status, response.headers.connection]), [[201, 'close']]);
    assert.equal(closedBy, 'server');
  });

  test('after a closing answer the hub closes its side entirely, even if the client keeps its side open', async () => {
    const token = await tokenFor('half-open');
    // allowHalfOpen: this client never closes its side by itself.
    const socket = connect({ port: fast.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      socket.write(post(`Authorization: Bearer ${token}\r\nConnection: close\r\nContent-Type: text/plain\r\n`, 'x'));
      socket.resume();
      await new Promise<void>((resolve) => socket.once('end', resolve));
      // A hub that only ended its side would still read this; one that closed the socket resets it.
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => {});
      // The first write draws the reset; after it, a write fails (EPIPE) and the socket closes.
      const write = () => socket.write(post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'y'));
      write();
      const again = setInterval(() => !socket.destroyed && write(), 100);
      void closed.finally(() => clearInterval(again));
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 2000));
      assert.equal(await Promise.race([closed.then(() => 'closed'), timeout]), 'closed');
    } finally {
      socket.destroy();
    }
  });

  test('a client that half-closes after pipelined requests gets the publishes answered, then the end', async () => {
    const [a, b] = await Promise.all([tokenFor('fin-a'), tokenFor('fin-b')]);
    const publishAs = (token: string) => post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'x');
    const { data, closedBy } = await rawRequest(fast.port, [publishAs(a) + publishAs(b) + 'GET /livez HTTP/1.1\r\nHost: hub\r\n\r\n'], { end: true, timeoutMs: 3000 });
    const { responses, garbage } = parseResponses(data);
    // node:http answers nothing after a FIN; the publishes before it were the fast path's to answer.
    assert.deepEqual(responses.map((response) => response.status), [201, 201]);
    assert.equal(garbage.length, 0);
    assert.equal(closedBy, 'server');
    const [still] = await exchange(fast.port, [publishAs(a)], 1);
    assert.equal(still?.status, 201, 'the hub still serves');
  });

  test('thousands of pipelined publishes, read only at the end: all answered in order, all delivered in order', { skip: redis.skipReason() }, async () => {
    // Far more than the 64 KiB a connection may have waiting behind a running publish: on Redis, a
    // publish takes a round trip, the flood keeps arriving meanwhile and the hub stops reading it
    // for a while; nothing is lost or reordered.
    const namespace = freshNamespace('fast');
    const hub = await startTestHub({ publishRate: 0, engine: redis.url, namespace });
    try {
      const count = 3000;
      const stream = await openStream(`${hub.url}/topics/flood`);
      const requests = Array.from({ length: count }, (_, i) => post('Content-Type: text/plain\r\n', `event ${i}`).replace('/topics/t', '/topics/flood')).join('');
      assert.ok(requests.length > 4 * 64 * 1024);
      const socket = connect(hub.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.pause();
      socket.write(requests);
      // Let the hub's buffers fill while nothing is read.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.resume();
      // The answers come one publish (one Redis round trip) at a time: look at them now and then.
      let answers: RawResponse[] = [];
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answers = parseResponses(Buffer.concat(chunks)).responses.filter((response) => response.complete);
        if (answers.length >= count) break;
      }
      assert.equal(answers.length, count, 'every publish was answered');
      socket.destroy();
      assert.ok(answers.every((answer) => answer.status === 201));
      const ids = answers.map((answer) => JSON.parse(answer.body.toString()).id as string);
      const events = await stream.waitForEvents(count, 15_000);
      assert.deepEqual(events.map((event) => event.data), Array.from({ length: count }, (_, i) => `event ${i}`));
      assert.deepEqual(events.map((event) => event.lastEventId), ids);
      stream.close();
    } finally {
      await hub.close();
      await removeNamespace('redis', redis.url, namespace);
    }
  });

  test('a publish connection left idle is closed after node:http\'s keep-alive timeout (5 s)', async () => {
    const token = await tokenFor('idle');
    const { data, closedBy, elapsedMs } = await rawRequest(fast.port, [post(`Authorization: Bearer ${token}\r\nContent-Type: text/plain\r\n`, 'x')], { timeoutMs: 9000 });
    assert.equal(parseResponses(data).responses[0]?.headers['keep-alive'], 'timeout=5');
    assert.equal(closedBy, 'server');
    assert.ok(elapsedMs >= 4500 && elapsedMs < 8000, `closed after ${elapsedMs} ms`);
  });

  test('a connection that never sends a request gets a JSON 408 after the headers timeout', async () => {
    const quick = await startTestHub({ headersTimeoutMs: 300 });
    try {
      const { data, closedBy, elapsedMs } = await rawRequest(quick.port, [], { timeoutMs: 5000 });
      const [answer] = parseResponses(data).responses;
      assert.equal(answer?.status, 408);
      assert.equal(JSON.parse(answer!.body.toString()).error.code, 'request_timeout');
      assert.equal(closedBy, 'server');
      assert.ok(elapsedMs >= 250, `closed after ${elapsedMs} ms`);
    } finally {
      await quick.close();
    }
  });

  test('a shutdown closes idle publish connections at once', async () => {
    // Had the shutdown waited for the idle connection, its timeout would cut it and say so.
    let logs = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logs += chunk.toString()), done()) });
    const hub = await startTestHub({ shutdownTimeoutMs: 5000 }, pino({ level: 'warn' }, sink));
    let answered!: () => void;
    const answer = new Promise<void>((resolve) => (answered = resolve));
    const idle = rawRequest(hub.port, [post('Content-Type: text/plain\r\n', 'idle')], {
      timeoutMs: 5000,
      until: (data) => {
        if (parseResponses(data).responses.length > 0) answered();
        return false;
      },
    });
    // The connection is between requests once its answer is in.
    await answer;
    await hub.close();
    const { data, closedBy } = await idle;
    assert.equal(closedBy, 'server');
    assert.equal(parseResponses(data).responses[0]?.status, 201);
    assert.doesNotMatch(logs, /shutdown timeout/, 'the shutdown did not wait for the idle connection');
  });
});
