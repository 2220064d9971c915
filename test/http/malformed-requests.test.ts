/**
 * No input crashes the hub, and every refusal is a JSON error `{"error":{"code","message"}}` with
 * the right status. First a table of known-bad requests over real HTTP, then a seeded fuzz run of
 * several thousand random and malformed requests against a hub in its own process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, publish, type Reply } from '../support/http.js';
import { spawnHub, startTestHub, type HubProcess } from '../support/hub.js';
import { errorFormatProblem, parseResponses, rawRequest, toBytes, type RawResponse } from '../support/raw-http.js';
import { mulberry32 } from '../support/prng.js';

const MAX_BODY = 1024;
const MAX_BATCH = 5;
const MAX_TOPICS = 32;

function assertJsonError(reply: { status: number; headers: Record<string, unknown>; body: Buffer | string }, status: number, code: string): void {
  const text = reply.body.toString();
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status}: ${text.slice(0, 300)}`);
  const problem = errorFormatProblem(reply as { headers: Record<string, string>; body: Buffer | string });
  assert.equal(problem, null, `${status} answer is not a JSON error: ${problem}`);
  const { error } = JSON.parse(text) as { error: { code: string; message: string } };
  assert.equal(error.code, code, `expected code ${code}, got ${error.code} (${error.message})`);
}

function replyError(reply: Reply, status: number, code: string): void {
  assertJsonError({ status: reply.status, headers: reply.headers, body: reply.text }, status, code);
}

/** The first answer on a raw connection, which must be there. */
function firstResponse(data: Buffer): RawResponse {
  const { responses } = parseResponses(data);
  assert.ok(responses.length > 0, `no HTTP answer; got ${JSON.stringify(data.toString('latin1').slice(0, 300))}`);
  return responses[0]!;
}

async function eventsPublished(base: string): Promise<number> {
  const reply = await httpRequest(`${base}/stats`);
  assert.equal(reply.status, 200);
  return reply.json().eventsPublished as number;
}

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  code: string;
  allow?: string;
}

const json = { 'Content-Type': 'application/json' };
const text = { 'Content-Type': 'text/plain' };
const topics = (n: number): string => Array.from({ length: n }, (_, i) => `topic=t${i}`).join('&');

const CASES: Case[] = [
  // Routing.
  { name: 'unknown path', method: 'GET', path: '/nope', status: 404, code: 'not_found' },
  { name: 'POST on the dashboard page', method: 'POST', path: '/', body: 'x', headers: text, status: 405, code: 'method_not_allowed', allow: 'GET, HEAD' },
  { name: 'asset outside web/assets', method: 'GET', path: '/assets/../package.json', status: 404, code: 'not_found' },
  { name: '/topics without a slash', method: 'GET', path: '/topics', status: 404, code: 'not_found' },
  { name: 'DELETE on a topic', method: 'DELETE', path: '/topics/a', status: 405, code: 'method_not_allowed', allow: 'GET, POST' },
  { name: 'PUT on a topic', method: 'PUT', path: '/topics/a', body: 'x', headers: text, status: 405, code: 'method_not_allowed', allow: 'GET, POST' },
  { name: 'GET /publish', method: 'GET', path: '/publish', status: 405, code: 'method_not_allowed', allow: 'POST' },
  { name: 'PUT /publish', method: 'PUT', path: '/publish', body: '[]', headers: json, status: 405, code: 'method_not_allowed', allow: 'POST' },
  { name: 'POST /events', method: 'POST', path: '/events?topic=a', body: 'x', headers: text, status: 405, code: 'method_not_allowed', allow: 'GET' },
  { name: 'POST /healthz', method: 'POST', path: '/healthz', status: 405, code: 'method_not_allowed', allow: 'GET' },
  { name: 'DELETE /stats', method: 'DELETE', path: '/stats', status: 405, code: 'method_not_allowed', allow: 'GET' },
  { name: 'PATCH /metrics', method: 'PATCH', path: '/metrics', status: 405, code: 'method_not_allowed', allow: 'GET' },

  // Topics in the path and in the query.
  { name: 'broken percent-encoding (stream)', method: 'GET', path: '/topics/%E0%A4%A', status: 400, code: 'invalid_topic' },
  { name: 'broken percent-encoding (publish)', method: 'POST', path: '/topics/%E0%A4%A', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'lone percent sign', method: 'GET', path: '/topics/a%', status: 400, code: 'invalid_topic' },
  { name: 'empty topic (stream)', method: 'GET', path: '/topics/', status: 400, code: 'invalid_topic' },
  { name: 'empty topic (publish)', method: 'POST', path: '/topics/', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'empty segment', method: 'GET', path: '/topics/a//b', status: 400, code: 'invalid_topic' },
  { name: 'empty last segment', method: 'POST', path: '/topics/a/', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'encoded slash making an empty first segment', method: 'GET', path: '/topics/%2Fa', status: 400, code: 'invalid_topic' },
  { name: 'encoded NUL in a topic', method: 'GET', path: '/topics/a%00b', status: 400, code: 'invalid_topic' },
  { name: 'encoded newline in a topic', method: 'POST', path: '/topics/a%0Ab', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'non-ASCII topic', method: 'GET', path: '/topics/caf%C3%A9', status: 400, code: 'invalid_topic' },
  { name: 'topic too long', method: 'GET', path: `/topics/${'x'.repeat(257)}`, status: 400, code: 'invalid_topic' },
  { name: 'too many segments', method: 'GET', path: `/topics/${Array(17).fill('s').join('/')}`, status: 400, code: 'invalid_topic' },
  { name: 'wildcard in a published topic', method: 'POST', path: '/topics/a/*', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'wildcard inside a segment', method: 'GET', path: '/topics/a*', status: 400, code: 'invalid_topic' },
  { name: '** not last', method: 'GET', path: '/topics/**/a', status: 400, code: 'invalid_topic' },
  { name: 'reserved topic (publish)', method: 'POST', path: '/topics/$ssehub/stats', body: 'x', headers: text, status: 400, code: 'invalid_topic' },
  { name: 'reserved topic outside $ssehub/ (stream)', method: 'GET', path: '/topics/$other/stats', status: 400, code: 'invalid_topic' },
  { name: 'the bare $ssehub namespace (stream)', method: 'GET', path: '/topics/$ssehub', status: 400, code: 'invalid_topic' },
  { name: 'reserved pattern outside $ssehub/ (stream)', method: 'GET', path: '/events?topic=$other/**', status: 400, code: 'invalid_topic' },
  { name: '/events without a topic', method: 'GET', path: '/events', status: 400, code: 'invalid_topic' },
  { name: '/events with an empty topic', method: 'GET', path: '/events?topic=', status: 400, code: 'invalid_topic' },
  { name: '/events with one bad topic among good ones', method: 'GET', path: '/events?topic=a&topic=b//c&topic=d', status: 400, code: 'invalid_topic' },
  { name: 'too many topics', method: 'GET', path: `/events?${topics(MAX_TOPICS + 1)}`, status: 400, code: 'too_many_topics' },
  { name: 'too many topics (duplicates count)', method: 'GET', path: `/events?${'topic=a&'.repeat(MAX_TOPICS + 1)}`, status: 400, code: 'too_many_topics' },
  { name: 'far too many topics', method: 'GET', path: `/events?${topics(1000)}`, status: 400, code: 'too_many_topics' },

  // Event names.
  { name: 'event name with LF', method: 'POST', path: '/topics/a?event=a%0Ab', body: 'x', headers: text, status: 400, code: 'invalid_event_name' },
  { name: 'event name with CR', method: 'POST', path: '/topics/a?event=a%0Db', body: 'x', headers: text, status: 400, code: 'invalid_event_name' },
  { name: 'event name with NUL', method: 'POST', path: '/topics/a?event=a%00b', body: 'x', headers: text, status: 400, code: 'invalid_event_name' },
  { name: 'empty event name', method: 'POST', path: '/topics/a?event=', body: 'x', headers: text, status: 400, code: 'invalid_event_name' },
  { name: 'event name too long', method: 'POST', path: `/topics/a?event=${'e'.repeat(129)}`, body: 'x', headers: text, status: 400, code: 'invalid_event_name' },
  { name: 'reserved event name', method: 'POST', path: '/topics/a?event=ssehub.reset', body: 'x', headers: text, status: 400, code: 'reserved_event_name' },
  { name: 'reserved event name prefix', method: 'POST', path: '/topics/a?event=ssehub.anything', body: '{}', headers: json, status: 400, code: 'reserved_event_name' },

  // Content types.
  { name: 'no Content-Type (topic)', method: 'POST', path: '/topics/a', body: 'x', status: 415, code: 'unsupported_media_type' },
  { name: 'no Content-Type (batch)', method: 'POST', path: '/publish', body: '[]', status: 415, code: 'unsupported_media_type' },
  { name: 'charset=latin1', method: 'POST', path: '/topics/a', body: 'x', headers: { 'Content-Type': 'text/plain; charset=latin1' }, status: 415, code: 'unsupported_media_type' },
  { name: 'JSON with charset=iso-8859-1', method: 'POST', path: '/publish', body: '[]', headers: { 'Content-Type': 'application/json; charset=iso-8859-1' }, status: 415, code: 'unsupported_media_type' },
  { name: 'application/xml', method: 'POST', path: '/topics/a', body: '<a/>', headers: { 'Content-Type': 'application/xml' }, status: 415, code: 'unsupported_media_type' },
  { name: 'form encoding', method: 'POST', path: '/topics/a', body: 'a=b', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_media_type' },
  { name: 'text/plain on /publish', method: 'POST', path: '/publish', body: '[]', headers: text, status: 415, code: 'unsupported_media_type' },
  { name: 'empty Content-Type', method: 'POST', path: '/topics/a', body: 'x', headers: { 'Content-Type': '' }, status: 415, code: 'unsupported_media_type' },

  // Bodies.
  { name: 'invalid JSON (topic)', method: 'POST', path: '/topics/a', body: '{"a":', headers: json, status: 400, code: 'invalid_json' },
  { name: 'empty JSON body', method: 'POST', path: '/topics/a', body: '', headers: json, status: 400, code: 'invalid_json' },
  { name: 'invalid JSON (batch)', method: 'POST', path: '/publish', body: '[{"topic":"a",}]', headers: json, status: 400, code: 'invalid_json' },
  { name: 'invalid UTF-8: stray byte', method: 'POST', path: '/topics/a', body: Buffer.from([0x61, 0xff, 0x62]), headers: text, status: 400, code: 'invalid_utf8' },
  { name: 'invalid UTF-8: overlong NUL', method: 'POST', path: '/topics/a', body: Buffer.from([0xc0, 0x80]), headers: text, status: 400, code: 'invalid_utf8' },
  { name: 'invalid UTF-8: surrogate', method: 'POST', path: '/topics/a', body: Buffer.from([0xed, 0xa0, 0x80]), headers: text, status: 400, code: 'invalid_utf8' },
  { name: 'invalid UTF-8: truncated sequence', method: 'POST', path: '/topics/a', body: Buffer.from([0x22, 0xe2, 0x82, 0x22]), headers: json, status: 400, code: 'invalid_utf8' },
  { name: 'invalid UTF-8 in a batch', method: 'POST', path: '/publish', body: Buffer.concat([Buffer.from('[{"topic":"a","data":"'), Buffer.from([0xf8, 0x88]), Buffer.from('"}]')]), headers: json, status: 400, code: 'invalid_utf8' },
  { name: 'body over the limit (topic)', method: 'POST', path: '/topics/a', body: 'x'.repeat(MAX_BODY + 1), headers: text, status: 413, code: 'body_too_large' },
  { name: 'body over the limit (batch)', method: 'POST', path: '/publish', body: `[${'0,'.repeat(MAX_BODY)}0]`, headers: json, status: 413, code: 'body_too_large' },

  // Batches.
  { name: 'batch that is an object', method: 'POST', path: '/publish', body: '{"topic":"a","data":"x"}', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch that is a string', method: 'POST', path: '/publish', body: '"x"', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch that is null', method: 'POST', path: '/publish', body: 'null', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'empty batch', method: 'POST', path: '/publish', body: '[]', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch item that is not an object', method: 'POST', path: '/publish', body: '[1]', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch item that is an array', method: 'POST', path: '/publish', body: '[["a","x"]]', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch item without a topic', method: 'POST', path: '/publish', body: '[{"data":"x"}]', headers: json, status: 400, code: 'invalid_topic' },
  { name: 'batch item with a numeric topic', method: 'POST', path: '/publish', body: '[{"topic":7,"data":"x"}]', headers: json, status: 400, code: 'invalid_topic' },
  { name: 'batch item without data', method: 'POST', path: '/publish', body: '[{"topic":"a"}]', headers: json, status: 400, code: 'invalid_batch' },
  { name: 'batch item with a numeric event', method: 'POST', path: '/publish', body: '[{"topic":"a","data":"x","event":1}]', headers: json, status: 400, code: 'invalid_event_name' },
  { name: 'batch item with a reserved event', method: 'POST', path: '/publish', body: '[{"topic":"a","data":"x","event":"ssehub.reset"}]', headers: json, status: 400, code: 'reserved_event_name' },
  { name: 'batch over the event limit', method: 'POST', path: '/publish', body: JSON.stringify(Array.from({ length: MAX_BATCH + 1 }, () => ({ topic: 'a', data: 'x' }))), headers: json, status: 413, code: 'batch_too_large' },
];

describe('error answers', () => {
  let running: RunningHub;
  let base: string;
  before(async () => {
    running = await startTestHub({ maxBodyBytes: MAX_BODY, maxBatchEvents: MAX_BATCH, maxTopicsPerSubscription: MAX_TOPICS });
    base = running.url;
  });
  after(() => running.close());

  describe('over HTTP: status, JSON body with code and message', () => {
    for (const c of CASES) {
      it(`${c.method} ${c.path.length > 60 ? `${c.path.slice(0, 60)}…` : c.path}: ${c.name} -> ${c.status} ${c.code}`, async () => {
        const reply = await httpRequest(`${base}${c.path}`, { method: c.method, headers: c.headers ?? {}, ...(c.body === undefined ? {} : { body: c.body }) });
        replyError(reply, c.status, c.code);
        if (c.allow !== undefined) assert.equal(reply.headers.allow, c.allow);
        else assert.equal(reply.headers.allow, undefined);
      });
    }

    it('nothing of the refused requests above was published', async () => {
      assert.equal(await eventsPublished(base), 0);
    });
  });

  describe('request bodies', () => {
    it('413 from Content-Length alone, before the body is read, and the connection is closed', async () => {
      // The body is never sent: the answer must not wait for it.
      const { data, closedBy } = await rawRequest(running.port, [
        `POST /topics/big HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: ${MAX_BODY * 1000}\r\n\r\n`,
      ], { timeoutMs: 5000 });
      const response = firstResponse(data);
      assertJsonError(response, 413, 'body_too_large');
      assert.equal(response.headers.connection, 'close');
      assert.equal(closedBy, 'server');
    });

    it('413 for a chunked body without Content-Length that grows over the limit', async () => {
      const head = 'POST /topics/big HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n';
      const chunk = `100\r\n${'x'.repeat(256)}\r\n`;
      const { data } = await rawRequest(running.port, [head, ...Array<string>(40).fill(chunk)], {
        gapMs: 5,
        timeoutMs: 5000,
        until: (received) => parseResponses(received).responses.some((r) => r.complete),
      });
      assertJsonError(firstResponse(data), 413, 'body_too_large');
    });

    it('a chunked body under the limit is accepted (the 413 above is about size, not chunking)', async () => {
      const body = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
      const { data } = await rawRequest(running.port, [
        'POST /topics/chunked-ok HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
        body,
      ]);
      const response = firstResponse(data);
      assert.equal(response.status, 201, response.body.toString());
      assert.equal(JSON.parse(response.body.toString()).topic, 'chunked-ok');
    });
  });

  describe('batches are all or nothing', () => {
    it('a batch with valid and invalid events publishes nothing', async () => {
      const topic = 'batch/atomic';
      const first = await publish(base, topic, 'before');
      assert.equal(first.status, 201);
      const beforeId = first.json().id as string;
      const live = await openStream(`${base}/topics/batch/**`);
      try {
        await live.waitUntil(() => live.retries.length > 0, 5000, 'the stream preamble');
        const publishedBefore = await eventsPublished(base);

        const mixed: Array<{ items: unknown[]; code: string; index: number }> = [
          { items: [{ topic, data: 'one' }, { topic: 'batch//bad', data: 'two' }, { topic, data: 'three' }], code: 'invalid_topic', index: 1 },
          { items: [{ topic, data: 'one' }, { topic, data: 'two', event: 'a\nb' }], code: 'invalid_event_name', index: 1 },
          { items: [{ topic, data: 'one' }, { data: 'two' }], code: 'invalid_topic', index: 1 },
          { items: [{ topic, data: 'one' }, { topic, data: 'two' }, { topic }], code: 'invalid_batch', index: 2 },
          { items: [{ topic, data: 'one' }, { topic: '$ssehub/x', data: 'two' }], code: 'invalid_topic', index: 1 },
          { items: [{ topic, data: 'one' }, { topic, data: 'two', event: 'ssehub.reset' }], code: 'reserved_event_name', index: 1 },
          { items: [{ topic, data: 'one' }, 'two'], code: 'invalid_batch', index: 1 },
        ];
        for (const { items, code, index } of mixed) {
          const reply = await httpRequest(`${base}/publish`, { method: 'POST', headers: json, body: JSON.stringify(items) });
          replyError(reply, 400, code);
          assert.match(reply.json().error.message, new RegExp(`events\\[${index}\\]`), 'the message names the culprit');
        }

        assert.equal(await eventsPublished(base), publishedBefore, 'eventsPublished moved');
        // Nothing reached the live subscriber, and history holds nothing after `beforeId`.
        const resumed = await openStream(`${base}/topics/${topic}`, { 'Last-Event-ID': beforeId });
        try {
          await resumed.waitUntil(() => resumed.retries.length > 0, 5000, 'the stream preamble');
          const sentinel = await publish(base, topic, 'sentinel');
          assert.equal(sentinel.status, 201);
          await resumed.waitForEvents(1);
          await live.waitForEvents(1);
          assert.deepEqual(resumed.events.map((e) => e.data), ['sentinel']);
          assert.deepEqual(live.events.map((e) => e.data), ['sentinel']);
          assert.doesNotMatch(resumed.raw(), /ssehub\.reset/);
        } finally {
          resumed.close();
        }
      } finally {
        live.close();
      }
    });
  });

  describe('requests node:http itself refuses', () => {
    const cases: Array<{ name: string; request: string | Buffer; status: number; code: string }> = [
      { name: 'garbage request line', request: 'HELLO\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'lower-case method', request: 'get /healthz HTTP/1.1\r\nHost: hub\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'space in a header name', request: 'GET /healthz HTTP/1.1\r\nHost: hub\r\nBad Name: v\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'control character in a header value', request: 'GET /healthz HTTP/1.1\r\nHost: hub\r\nX: a\x01b\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'obsolete line folding', request: 'GET /healthz HTTP/1.1\r\nHost: hub\r\n  folded\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'raw non-ASCII bytes in the target', request: 'GET /topics/\xff\xfe HTTP/1.1\r\nHost: hub\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'two different Content-Lengths', request: 'POST /topics/a HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc', status: 400, code: 'bad_request' },
      { name: 'Content-Length and Transfer-Encoding', request: 'POST /topics/a HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'negative Content-Length', request: 'POST /topics/a HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: -1\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'Content-Length beyond 64 bits', request: 'POST /topics/a HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 99999999999999999999\r\n\r\n', status: 400, code: 'bad_request' },
      { name: 'chunk size overflow', request: 'POST /publish HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n', status: 400, code: 'bad_request' },
      { name: 'chunk size that is not hex', request: 'POST /publish HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', status: 400, code: 'bad_request' },
      { name: 'headers over the size limit', request: `GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431, code: 'headers_too_large' },
      { name: 'a topic list of 10,000 entries (over the header limit)', request: `GET /events?${topics(10_000)} HTTP/1.1\r\nHost: hub\r\n\r\n`, status: 431, code: 'headers_too_large' },
    ];
    for (const c of cases) {
      it(`${c.name} -> ${c.status} ${c.code}`, async () => {
        const { data, closedBy } = await rawRequest(running.port, [c.request], { timeoutMs: 5000 });
        const response = firstResponse(data);
        assertJsonError(response, c.status, c.code);
        assert.equal(closedBy, 'server', 'the hub closes the connection after a broken request');
      });
    }

    it('a request target that is not a valid URL is a 400, not a 500', async () => {
      for (const target of ['http://[', 'http://[::1', 'http://hub:99999/healthz']) {
        const { data } = await rawRequest(running.port, [`GET ${target} HTTP/1.1\r\nHost: hub\r\n\r\n`], { timeoutMs: 5000 });
        const response = firstResponse(data);
        assert.equal(response.status, 400, `GET ${target} answered ${response.status}: ${response.body}`);
        assert.equal(errorFormatProblem(response), null);
      }
    });

    it('an HTTP/1.1 request without Host is served, or refused with a JSON error', async () => {
      const { data } = await rawRequest(running.port, ['GET /healthz HTTP/1.1\r\n\r\n'], { timeoutMs: 5000 });
      const response = firstResponse(data);
      if (response.status !== 200) {
        assert.equal(response.status, 400);
        assert.equal(errorFormatProblem(response), null, `the 400 for a missing Host is not a JSON error`);
      }
    });

    it('an unknown Expect is refused with a JSON 417', async () => {
      const { data } = await rawRequest(running.port, ['GET /healthz HTTP/1.1\r\nHost: hub\r\nExpect: teapot\r\n\r\n'], {
        timeoutMs: 5000,
        until: (received) => parseResponses(received).responses.some((r) => r.complete),
      });
      const response = firstResponse(data);
      assert.equal(response.status, 417);
      assert.equal(errorFormatProblem(response), null, 'the 417 is not a JSON error');
    });

    it('Expect: 100-continue works', async () => {
      const { data } = await rawRequest(running.port, [
        'POST /topics/continue HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n',
        'ok',
      ]);
      const statuses = parseResponses(data).responses.map((r) => r.status);
      assert.deepEqual(statuses, [100, 201]);
    });
  });

  describe('paths with dot segments', () => {
    it('an event is never published to a topic other than the one in the request', async () => {
      // "a/../b" either is refused, or is the literal topic "a/../b"; it must not land in "b".
      for (const path of ['/topics/dots/../elsewhere', '/topics/dots/%2E%2E/elsewhere', '/topics/dots/./here']) {
        const { data } = await rawRequest(running.port, [
          `POST ${path} HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
        ]);
        const response = firstResponse(data);
        if (response.status === 201) {
          const published = JSON.parse(response.body.toString()).topic as string;
          assert.equal(published, decodeURIComponent(path.slice('/topics/'.length)), `POST ${path} published to "${published}"`);
        } else {
          assertJsonError(response, 400, 'invalid_topic');
        }
      }
    });
  });

  describe('pipelining', () => {
    it('garbage pipelined after a stream request does not corrupt the stream', async () => {
      const { data } = await rawRequest(running.port, ['GET /topics/pipelined HTTP/1.1\r\nHost: hub\r\n\r\n', 'GARBAGE\x01\r\n\r\n'], {
        gapMs: 50,
        timeoutMs: 1500,
      });
      const { responses, garbage } = parseResponses(data);
      assert.equal(responses.length, 1, `more than one answer: ${JSON.stringify(data.toString('latin1'))}`);
      const [stream] = responses;
      assert.equal(stream!.status, 200);
      assert.equal(stream!.framingError, undefined, `the stream body is not valid chunked framing: ${JSON.stringify(data.toString('latin1'))}`);
      assert.equal(garbage.length, 0);
      assert.match(stream!.body.toString(), /^: ok\n/);
    });

    it('answers pipelined requests in order, then refuses trailing garbage with a JSON 400', async () => {
      const { data } = await rawRequest(running.port, [
        'GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\nGET /nope HTTP/1.1\r\nHost: hub\r\n\r\nPOST /topics/a HTTP/1.1\r\nHost: hub\r\n\r\n\x00\x01garbage\r\n\r\n',
      ], { timeoutMs: 5000 });
      const { responses } = parseResponses(data);
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 404, 415, 400].slice(0, responses.length),
      );
      assert.ok(responses.length >= 1);
      for (const response of responses.filter((r) => r.status >= 400)) assert.equal(errorFormatProblem(response), null);
    });
  });

  describe('pipelining, continued', () => {
    it('a valid POST followed by garbage is not answered 400 once it was published', async () => {
      const before = await eventsPublished(base);
      const { data } = await rawRequest(running.port, [
        'POST /topics/pipelined-post HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nabGARBAGE\r\n\r\n',
      ], { timeoutMs: 5000 });
      const statuses = parseResponses(data).responses.map((r) => r.status);
      const published = (await eventsPublished(base)) - before;
      if (published === 1) assert.ok(statuses.length === 0 || statuses[0] === 201, `the event was published but the POST was answered ${statuses.join(', ')}`);
      else assert.notEqual(statuses[0], 201, 'answered 201 but nothing was published');
    });

    it('a stream request pipelined behind another stream is released when the connection closes', async () => {
      await rawRequest(running.port, ['GET /topics/pipe/1 HTTP/1.1\r\nHost: hub\r\n\r\nGET /topics/pipe/2 HTTP/1.1\r\nHost: hub\r\n\r\n'], {
        timeoutMs: 300,
      });
      let connections = -1;
      for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
        connections = (await httpRequest(`${base}/stats`)).json().connections as number;
        if (connections === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(connections, 0, 'a subscriber outlived its connection');
    });
  });

  it('still serves after all of the above', async () => {
    assert.equal((await httpRequest(`${base}/healthz`)).status, 200);
    const stream = await openStream(`${base}/topics/after`);
    try {
      assert.equal((await publish(base, 'after', 'still here')).status, 201);
      const [event] = await stream.waitForEvents(1);
      assert.equal(event!.data, 'still here');
    } finally {
      stream.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing

type Rng = () => number;

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng() < p;
const randomBytes = (rng: Rng, n: number): Buffer => {
  const buffer = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buffer[i] = Math.floor(rng() * 256);
  return buffer;
};
const randomAscii = (rng: Rng, n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~'): string =>
  Array.from({ length: n }, () => alphabet[Math.floor(rng() * alphabet.length)]).join('');

/** One connection's worth of bytes, and how many requests they hold. */
interface FuzzCase {
  kind: string;
  pieces: Buffer[];
  requests: number;
  /** A HEAD request comes first (its answer has no body). */
  head: boolean;
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'M-SEARCH', 'FOO'];
const BAD_TOPICS = ['', '..', '.', 'a//b', '/a', 'a/', '$sys', '$', '*', '**', 'a/*', '**/a', 'a*', '%', '%zz', '%E0%A4%A', '%00', '%0A', '%0D%0A', 'caf%C3%A9', '%FF', '%C0%80', 'x'.repeat(300), Array(20).fill('s').join('/'), 'a b', 'a%20b'];
const CONTENT_TYPES = ['application/json', 'text/plain', 'application/json; charset=utf-8', 'text/plain; charset=UTF-8', 'text/plain; charset=latin1', 'application/xml', 'text/html', 'multipart/form-data; boundary=x', '', ';;;', 'application/json; charset', 'text/plain; charset="utf-8"', '\t', 'APPLICATION/JSON'];

function fuzzTopic(rng: Rng): string {
  if (chance(rng, 0.35)) return pick(rng, BAD_TOPICS);
  const segments = Array.from({ length: int(rng, 1, 4) }, () => (chance(rng, 0.1) ? pick(rng, ['*', '**']) : randomAscii(rng, int(rng, 1, 8))));
  return `fz/${segments.join('/')}`;
}

function fuzzPath(rng: Rng): string {
  switch (int(rng, 0, 13)) {
    case 0:
    case 1:
    case 2:
      return `/topics/${fuzzTopic(rng)}${chance(rng, 0.2) ? `?event=${pick(rng, ['a', 'a%0Ab', 'ssehub.reset', '', '%00', 'x'.repeat(200), '%ZZ', 'ok'])}` : ''}`;
    case 3:
    case 4:
      return `/events?${Array.from({ length: int(rng, 0, 40) }, () => `topic=${fuzzTopic(rng)}`).join('&')}${chance(rng, 0.2) ? '&lastEventId=x' : ''}`;
    case 5:
    case 6:
      return '/publish';
    case 7:
      return pick(rng, ['/healthz', '/stats', '/metrics']);
    case 8:
      return pick(rng, ['/', '/nope', '/topics', '/events/', '/publish/', '/healthz?x=1', '/%', '/%00', '/../../etc/passwd', '/topics/..%2f..%2f']);
    case 9:
      return pick(rng, ['*', '//hub/healthz', 'http://hub/healthz', 'http://hub/topics/a', 'hub:80', '?', '#', '/topics/a#frag', 'http://[', 'http://hub:99999/']);
    case 10:
      return `/topics/${randomAscii(rng, int(rng, 300, 20_000))}`;
    case 11:
      return `/topics/${Array.from({ length: int(rng, 20, 2000) }, () => 'x').join('/')}`;
    default:
      return `/${randomAscii(rng, int(rng, 1, 50), 'abc/%?&=#.:@!$*+;')}`;
  }
}

function fuzzBody(rng: Rng): Buffer {
  switch (int(rng, 0, 9)) {
    case 0:
      return Buffer.from(JSON.stringify({ n: int(rng, 0, 1e6), s: randomAscii(rng, int(rng, 0, 40)) }));
    case 1:
      return Buffer.from(randomAscii(rng, int(rng, 0, 200), ' abcxyz{}[]":,0123456789nulltruefalse\\'));
    case 2: {
      const items = Array.from({ length: int(rng, 0, 8) }, () => {
        const item: Record<string, unknown> = {};
        if (chance(rng, 0.85)) item.topic = chance(rng, 0.8) ? fuzzTopic(rng) : int(rng, 0, 9);
        if (chance(rng, 0.85)) item.data = pick(rng, ['x', '', 'a\nb', { deep: [1, 2] }, 42, null, 'x'.repeat(int(rng, 0, 500))]);
        if (chance(rng, 0.3)) item.event = pick(rng, ['e', 'a\nb', 'ssehub.reset', '', 7, 'x'.repeat(200)]);
        return chance(rng, 0.05) ? pick(rng, [1, 'x', null, [] as unknown]) : item;
      });
      return Buffer.from(JSON.stringify(chance(rng, 0.9) ? items : { items }));
    }
    case 3:
      return randomBytes(rng, int(rng, 1, 300));
    case 4: {
      // Invalid UTF-8 inside otherwise plausible text.
      const bad = pick(rng, [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]]);
      return Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}')]);
    }
    case 5:
      return Buffer.from('x'.repeat(int(rng, 4000, 9000))); // around the 4 KiB limit
    case 6:
      return Buffer.alloc(0);
    case 7:
      return Buffer.from('[' + '['.repeat(int(rng, 100, 5000)));
    case 8:
      return Buffer.from(`[${Array.from({ length: int(rng, 1, 40) }, (_, i) => JSON.stringify({ topic: `fz/batch/${i % 3}`, data: String(i) })).join(',')}]`);
    default:
      return Buffer.from('héllo wörld ✓ 😀');
  }
}

function fuzzHeaders(rng: Rng, extra: number): string[] {
  const headers: string[] = [];
  if (chance(rng, 0.97)) headers.push('Host: hub');
  if (chance(rng, 0.6)) headers.push(`Content-Type: ${pick(rng, CONTENT_TYPES)}`);
  if (chance(rng, 0.1)) headers.push(`Last-Event-ID: ${pick(rng, ['0', 'x', 'zzzz-1', 'x'.repeat(500), ''])}`);
  if (chance(rng, 0.1)) headers.push(`Accept-Encoding: ${pick(rng, ['gzip', 'br', 'gzip, deflate, br', '*'])}`);
  if (chance(rng, 0.05)) headers.push(`Expect: ${pick(rng, ['100-continue', 'teapot'])}`);
  if (chance(rng, 0.05)) headers.push(`Connection: ${pick(rng, ['close', 'keep-alive', 'upgrade', 'Upgrade, HTTP2-Settings'])}`);
  if (chance(rng, 0.03)) headers.push('Upgrade: websocket');
  for (let i = 0; i < extra; i++) headers.push(`X-${randomAscii(rng, int(rng, 1, 10))}: ${randomAscii(rng, int(rng, 0, 30), 'abc 123;=,')}`);
  return headers;
}

function request(method: string, path: string, headers: string[], body?: Buffer, framing: 'length' | 'short' | 'long' | 'chunked' | 'none' = 'length'): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...headers];
  let payload = body ?? Buffer.alloc(0);
  if (body !== undefined) {
    if (framing === 'length') lines.push(`Content-Length: ${body.length}`);
    if (framing === 'short') lines.push(`Content-Length: ${Math.max(0, body.length - 3)}`);
    if (framing === 'long') lines.push(`Content-Length: ${body.length + 1000}`);
    if (framing === 'chunked') {
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    }
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

function structuredRequest(rng: Rng): { bytes: Buffer; method: string } {
  const method = pick(rng, METHODS);
  const body = method === 'GET' && chance(rng, 0.8) ? undefined : fuzzBody(rng);
  const framing = pick(rng, ['length', 'length', 'length', 'chunked', 'short'] as const);
  return { bytes: request(method, fuzzPath(rng), fuzzHeaders(rng, int(rng, 0, 3)), body, framing), method };
}

/** Splits bytes at random places. */
function split(rng: Rng, bytes: Buffer, parts: number): Buffer[] {
  const cuts = Array.from({ length: parts - 1 }, () => int(rng, 0, bytes.length)).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let last = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(last, cut));
    last = cut;
  }
  return pieces.filter((piece) => piece.length > 0);
}

function fuzzCase(rng: Rng): FuzzCase {
  const roll = rng();
  const one = (kind: string, bytes: Buffer | string, head = false): FuzzCase => ({ kind, pieces: [toBytes(bytes)], requests: 1, head });
  if (roll < 0.3) {
    const { bytes, method } = structuredRequest(rng);
    return one('structured', bytes, method === 'HEAD');
  }
  if (roll < 0.36) {
    // A broken request line.
    const line = pick(rng, [
      () => `${pick(rng, METHODS)} ${fuzzPath(rng)}`,
      () => `${pick(rng, METHODS)} ${fuzzPath(rng)} HTTP/${pick(rng, ['9.9', '1', '1.1.1', 'x', '0.9', '2.0', '1.2'])}`,
      () => `${pick(rng, METHODS).toLowerCase()} / HTTP/1.1`,
      () => `GET\t/healthz\tHTTP/1.1`,
      () => `GET  /healthz  HTTP/1.1`,
      () => ` GET / HTTP/1.1`,
      () => `GET /${'\x00\x7f\x1b'[int(rng, 0, 2)]} HTTP/1.1`,
      () => randomAscii(rng, int(rng, 1, 200), 'GETPOST /HTTP1.\t \x00\x0b'),
      () => '',
      () => 'HTTP/1.1 200 OK',
    ])();
    return one('request-line', `${line}\r\nHost: hub\r\n\r\n`);
  }
  if (roll < 0.46) {
    // Broken headers.
    const bad = pick(rng, [
      () => `X-Ctl: a${String.fromCharCode(int(rng, 0, 31))}b`,
      () => `X-Del: a\x7fb`,
      () => `Bad Name: v`,
      () => `: no name`,
      () => `NoColon`,
      () => `X-Bare-CR: a\rb`,
      () => `X-Bare-LF: a\nb`,
      () => ` folded`,
      () => `X-Big: ${'v'.repeat(int(rng, 8_000, 70_000))}`,
      () => Array.from({ length: int(rng, 200, 3000) }, (_, i) => `X-${i}: ${i}`).join('\r\n'),
      () => `Content-Length: ${pick(rng, ['-1', 'abc', '1, 2', '99999999999999999999', '0x10', ' 5', '1e3'])}`,
      () => 'Content-Length: 3\r\nContent-Length: 4',
      () => 'Transfer-Encoding: chunked\r\nContent-Length: 4',
      () => `Transfer-Encoding: ${pick(rng, ['gzip', 'chunked, gzip', 'identity', 'chunkedx', 'gzip, chunked'])}`,
      () => `X-Latin: ${String.fromCharCode(int(rng, 128, 255))}${String.fromCharCode(int(rng, 128, 255))}`,
      () => `${String.fromCharCode(int(rng, 128, 255))}: v`,
      () => `Host: ${pick(rng, ['', 'a b', 'x'.repeat(5000), '[', '::'])}`,
    ])();
    const method = pick(rng, ['GET', 'POST']);
    const body = method === 'POST' ? 'abcd' : '';
    return one('headers', `${method} ${fuzzPath(rng)} HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\n${bad}\r\n\r\n${body}`);
  }
  if (roll < 0.54) {
    // Truncated body: Content-Length promises more than is sent, then the client goes.
    const body = fuzzBody(rng);
    const bytes = request('POST', pick(rng, ['/publish', `/topics/${fuzzTopic(rng)}`]), ['Host: hub', `Content-Type: ${pick(rng, ['application/json', 'text/plain'])}`], body, 'long');
    return one('truncated-body', bytes);
  }
  if (roll < 0.6) {
    // Invalid UTF-8 (and sometimes invalid JSON) in a body that is otherwise well framed.
    const body = Buffer.concat([Buffer.from('[{"topic":"fz/utf8","data":"'), randomBytes(rng, int(rng, 1, 40)), Buffer.from('"}]')]);
    const path = pick(rng, ['/publish', '/topics/fz/utf8']);
    return one('invalid-utf8', request('POST', path, ['Host: hub', `Content-Type: ${pick(rng, ['application/json', 'text/plain'])}`], body));
  }
  if (roll < 0.66) {
    // Invalid JSON.
    const body = Buffer.from(pick(rng, ['{', '[', '[{]', '{"topic":"a","data":}', 'undefined', "{'a':1}", '[1,]', '\u0000', '1e999999', '"\\uZZZZ"', '[{"topic":"a","data":"x"}]garbage']));
    return one('invalid-json', request('POST', pick(rng, ['/publish', '/topics/fz/json']), ['Host: hub', 'Content-Type: application/json'], body));
  }
  if (roll < 0.72) {
    // Huge topic lists, under and over the header size limit.
    const count = pick(rng, [MAX_TOPICS + 1, 100, 500, 1000, 2000, 10_000]);
    const list = Array.from({ length: count }, (_, i) => `topic=${chance(rng, 0.9) ? `t${i}` : fuzzTopic(rng)}`).join('&');
    return one('topic-list', `GET /events?${list} HTTP/1.1\r\nHost: hub\r\n\r\n`);
  }
  if (roll < 0.76) {
    return one('long-path', `${pick(rng, ['GET', 'POST'])} ${pick(rng, ['/topics/', '/', '/events?topic='])}${randomAscii(rng, int(rng, 1000, 60_000), 'abc/%.')} HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx`);
  }
  if (roll < 0.82) {
    return one('random-bytes', randomBytes(rng, int(rng, 1, 4096)));
  }
  if (roll < 0.89) {
    // Chunked encoding errors.
    const broken = pick(rng, [
      'zz\r\nabc\r\n0\r\n\r\n',
      '5\r\nabc\r\n0\r\n\r\n',
      '3\r\nabcXX0\r\n\r\n',
      '3;ext=1\r\nabc\r\n0\r\n\r\n',
      '3;' + 'e'.repeat(20_000) + '\r\nabc\r\n0\r\n\r\n',
      'FFFFFFFFFFFFFFFFFFFF\r\n',
      '-1\r\n\r\n',
      '3\r\nabc\r\n',
      '3\nabc\n0\n\n',
      '0\r\nX-Trailer: \x01\r\n\r\n',
      '3\r\nabc\r\n0\r\n' + 'X-T: t\r\n'.repeat(3000) + '\r\n',
      '1000\r\n' + 'x'.repeat(100),
    ]);
    const path = pick(rng, ['/publish', '/topics/fz/chunked']);
    return one('chunked', `POST ${path} HTTP/1.1\r\nHost: hub\r\nContent-Type: ${pick(rng, ['application/json', 'text/plain'])}\r\nTransfer-Encoding: chunked\r\n\r\n${broken}`);
  }
  // Pipelined requests, with garbage between or after them.
  const count = int(rng, 2, 8);
  const parts: Buffer[] = [];
  let requests = 0;
  for (let i = 0; i < count; i++) {
    if (chance(rng, 0.2)) {
      parts.push(chance(rng, 0.5) ? randomBytes(rng, int(rng, 1, 100)) : Buffer.from('GARBAGE /x HTTP/1.1\r\n\r\n'));
      requests += 1;
      continue;
    }
    let { bytes, method } = structuredRequest(rng);
    while (method === 'HEAD') ({ bytes, method } = structuredRequest(rng));
    parts.push(bytes);
    requests += 1;
  }
  return { kind: 'pipelined', pieces: [Buffer.concat(parts)], requests, head: false };
}

type Mode = 'wait' | 'split' | 'half-close' | 'abort';

describe('fuzz: thousands of random and malformed requests', () => {
  const SEED = Number(process.env.SSEHUB_FUZZ_SEED ?? 0x5eed_2024);
  const CONNECTIONS = Number(process.env.SSEHUB_FUZZ_CONNECTIONS ?? 3000);
  const CONCURRENCY = 20;
  let proc: HubProcess;
  let port: number;
  const histogram = new Map<string, number>();
  const kinds = new Map<string, number>();
  const serverErrors: string[] = [];
  const notJson: string[] = [];
  const notHttp: string[] = [];
  let requestsSent = 0;
  let bytesSent = 0;

  const count = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
  const sample = (bytes: Buffer[]): string => JSON.stringify(Buffer.concat(bytes).subarray(0, 160).toString('latin1'));

  before(async () => {
    proc = await spawnHub(['--max-body', '4KiB', '--max-batch', '20', '--max-topics', String(MAX_TOPICS), '--headers-timeout', '2s', '--request-timeout', '3s']);
    port = Number(new URL(proc.url).port);

    const rng = mulberry32(SEED);
    // Generated up front, in order, so the run is the same whatever the timing.
    const plan = Array.from({ length: CONNECTIONS }, () => {
      const fuzz = fuzzCase(rng);
      const mode = pick(rng, ['wait', 'wait', 'wait', 'split', 'half-close', 'abort'] as const satisfies readonly Mode[]);
      const pieces = mode === 'split' ? fuzz.pieces.flatMap((piece) => split(rng, piece, int(rng, 2, 6))) : fuzz.pieces;
      return { ...fuzz, pieces, mode, abortAfterMs: int(rng, 0, 20) };
    });

    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < plan.length) {
        const item = plan[next++]!;
        count(kinds, item.kind);
        requestsSent += item.requests;
        bytesSent += item.pieces.reduce((sum, piece) => sum + piece.length, 0);
        const complete = (data: Buffer): boolean => {
          const { responses } = parseResponses(data, item.head ? new Set([0]) : new Set());
          return responses.filter((r) => r.status >= 200 && r.complete).length >= item.requests;
        };
        const result = await rawRequest(port, item.pieces, {
          timeoutMs: item.mode === 'abort' ? item.abortAfterMs : 1500,
          idleMs: 250,
          end: item.mode === 'half-close',
          gapMs: item.mode === 'split' ? 2 : 0,
          until: complete,
        });
        const { responses, garbage } = parseResponses(result.data, item.head ? new Set([0]) : new Set());
        if (result.data.length > 0 && responses.length === 0) notHttp.push(`${item.kind}: ${sample(item.pieces)} -> ${JSON.stringify(result.data.subarray(0, 120).toString('latin1'))}`);
        // (A HEAD request refused as unparseable HTTP gets an error body: that is not garbage.)
        if (garbage.length > 0 && !item.head) notHttp.push(`${item.kind}: ${sample(item.pieces)} -> trailing ${JSON.stringify(garbage.subarray(0, 120).toString('latin1'))}`);
        if (responses.length === 0) count(histogram, result.error ? `no answer (${result.error})` : `no answer (${result.closedBy === 'server' ? 'closed' : 'client gave up'})`);
        for (const [i, response] of responses.entries()) {
          const stream = /^text\/event-stream/.test(response.headers['content-type'] ?? '');
          count(histogram, stream ? `${response.status} stream` : String(response.status));
          if (response.status >= 500) serverErrors.push(`${item.kind}: ${sample(item.pieces)} -> ${response.status} ${response.body.toString().slice(0, 120)}`);
          const bodiless = item.head && i === 0;
          if (response.status >= 400 && response.complete && !bodiless) {
            const problem = errorFormatProblem(response);
            if (problem !== null) notJson.push(`${item.kind}: ${sample(item.pieces)} -> ${response.status}: ${problem}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  });

  after(async () => {
    if (proc) await proc.stop();
  });

  it('sent thousands of requests and the hub is still running', (t) => {
    const sorted = (map: Map<string, number>): string =>
      [...map.entries()].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key}: ${n}`).join(', ');
    t.diagnostic(`seed ${SEED}: ${CONNECTIONS} connections, ${requestsSent} requests, ${(bytesSent / 1e6).toFixed(1)} MB sent`);
    t.diagnostic(`kinds: ${sorted(kinds)}`);
    t.diagnostic(`answers: ${sorted(histogram)}`);
    const logged = proc.output().split('\n').filter((line) => line.includes('"level":50'));
    t.diagnostic(`error-level log lines from the hub: ${logged.length}${logged[0] ? `, e.g. ${logged[0].slice(0, 300)}` : ''}`);
    assert.ok(requestsSent >= 3000, `only ${requestsSent} requests were sent`);
    assert.equal(proc.child.exitCode, null, `the hub exited:\n${proc.output().slice(-3000)}`);
    assert.equal(proc.child.signalCode, null, `the hub was killed:\n${proc.output().slice(-3000)}`);
  });

  it('still serves: /healthz, then a publish and subscribe round trip', async () => {
    const health = await httpRequest(`${proc.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok', engine: { name: 'memory', ok: true, latencyMs: 0 } });
    const stream = await openStream(`${proc.url}/events?topic=after/fuzz&topic=after/**`);
    try {
      const reply = await publish(proc.url, 'after/fuzz', '{"alive":true}', { type: 'application/json', event: 'check' });
      assert.equal(reply.status, 201);
      const [event] = await stream.waitForEvents(1, 5000);
      assert.equal(event!.data, '{"alive":true}');
      assert.equal(event!.type, 'check');
    } finally {
      stream.close();
    }
  });

  it('/stats connections returns to 0 once the sockets are gone', async () => {
    const deadline = Date.now() + 10_000;
    let connections = -1;
    while (Date.now() < deadline) {
      connections = (await httpRequest(`${proc.url}/stats`)).json().connections as number;
      if (connections === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(connections, 0);
  });

  it('never answered with a 5xx', () => {
    assert.deepEqual(serverErrors.slice(0, 10), [], `${serverErrors.length} answers were 5xx`);
  });

  it('every error answer is a JSON error with a code and a message', () => {
    assert.deepEqual(notJson.slice(0, 10), [], `${notJson.length} error answers are not JSON errors`);
  });

  it('every answer is well-formed HTTP (nothing else is written to the socket)', () => {
    assert.deepEqual(notHttp.slice(0, 10), [], `${notHttp.length} connections received bytes that are not HTTP answers`);
  });
});
