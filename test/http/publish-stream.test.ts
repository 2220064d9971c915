/**
 * The streaming publish (POST /publish, application/x-ndjson): a long-lived chunked request whose
 * lines are answered in order while it is still being sent, on a real hub over real HTTP.
 */
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { serve } from '@hono/node-server';
import { mintToken } from '../../src/auth/tokens.js';
import { createHub, type EmbeddedHub } from '../../src/index.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { redisService } from '../support/services.js';

/** A streaming publish as a producer opens it: headers at once, lines written one by one, answers read as they come. */
interface PublishStream {
  status: Promise<number>;
  headers: Promise<IncomingHttpHeaders>;
  /** The answer lines so far, parsed. */
  answers: any[];
  send(text: string | Buffer): void;
  /** Resolves once at least n answer lines have arrived. */
  waitForAnswers(n: number): Promise<any[]>;
  /** Ends the request body; resolves once the answer has ended. */
  end(): Promise<any[]>;
  /** Resolves once the answer has ended (whoever ended it). */
  ended: Promise<any[]>;
  destroy(): void;
}

function openPublishStream(base: string, headers: Record<string, string> = {}): PublishStream {
  const answers: any[] = [];
  let text = '';
  let wake = (): void => {};
  let resolveStatus!: (status: number) => void;
  let resolveHeaders!: (headers: IncomingHttpHeaders) => void;
  let resolveEnded!: (answers: any[]) => void;
  const status = new Promise<number>((resolve) => (resolveStatus = resolve));
  const responseHeaders = new Promise<IncomingHttpHeaders>((resolve) => (resolveHeaders = resolve));
  const ended = new Promise<any[]>((resolve) => (resolveEnded = resolve));
  const req = request(`${base}/publish`, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/x-ndjson', ...headers } }, (res) => {
    resolveStatus(res.statusCode!);
    resolveHeaders(res.headers);
    res.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      let newline: number;
      while ((newline = text.indexOf('\n')) !== -1) {
        answers.push(JSON.parse(text.slice(0, newline)));
        text = text.slice(newline + 1);
      }
      wake();
    });
    res.on('end', () => resolveEnded(answers));
    res.on('error', () => resolveEnded(answers));
    res.on('close', () => resolveEnded(answers));
  });
  req.on('error', () => resolveEnded(answers));
  // Chunked, and the head goes out before any line: the hub answers it at once.
  req.flushHeaders();
  return {
    status,
    headers: responseHeaders,
    answers,
    send: (chunk) => void req.write(chunk),
    waitForAnswers: async (n) => {
      while (answers.length < n) {
        const more = new Promise<void>((resolve) => (wake = resolve));
        const over = await Promise.race([more.then(() => false), ended.then(() => true)]);
        if (over && answers.length < n) throw new Error(`the answer ended after ${answers.length} lines, not ${n}: ${JSON.stringify(answers)}`);
      }
      return answers.slice(0, n);
    },
    end: () => {
      req.end();
      return ended;
    },
    ended,
    destroy: () => req.destroy(),
  };
}

const line = (event: Record<string, unknown>): string => `${JSON.stringify(event)}\n`;

describe('streaming publish', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ maxBodyBytes: 200, maxBatchEvents: 4, publishRate: 0 });
  });
  after(() => hub.close());

  test('answers each line in order while the body is still being sent, and subscribers get the events in that order', async () => {
    const subscriber = await openStream(`${hub.url}/events?topic=order/**`);
    const stream = openPublishStream(hub.url);
    assert.equal(await stream.status, 200);
    assert.match((await stream.headers)['content-type']!, /^application\/x-ndjson/);
    stream.send(line({ topic: 'order/a', data: 'first' }));
    const [first] = await stream.waitForAnswers(1);
    assert.equal(first.topic, 'order/a');
    // Lines arriving together (more than --max-batch of them), one split across two writes, and a JSON value as data.
    const many = Array.from({ length: 9 }, (_, i) => line({ topic: `order/${i % 2 === 0 ? 'a' : 'b'}`, data: `n${i}` })).join('');
    stream.send(many + '{"topic":"order/b","da');
    stream.send('ta":{"n":10},"event":"obj"}\n');
    const answers = await stream.end();
    assert.equal(answers.length, 11);
    assert.deepEqual(answers[10], { id: answers[10].id, topic: 'order/b', event: 'obj' });
    const events = await subscriber.waitForEvents(11);
    assert.deepEqual(
      events.map((event) => event.lastEventId),
      answers.map((answer) => answer.id),
    );
    assert.deepEqual(
      events.map((event) => event.data),
      ['first', ...Array.from({ length: 9 }, (_, i) => `n${i}`), '{"n":10}'],
    );
    assert.equal(events[10]!.type, 'obj');
    subscriber.close();
  });

  test('a bad line is refused alone, with its error and its line number, and the stream goes on; blank lines are not answered', async () => {
    const subscriber = await openStream(`${hub.url}/events?topic=bad/**`);
    const stream = openPublishStream(hub.url);
    stream.send(
      [
        line({ topic: 'bad/ok', data: 1 }),
        '\n',
        'not json\n',
        '[1,2]\n',
        line({ topic: 'bad/ok' }),
        line({ topic: 'bad topic', data: 2 }),
        line({ topic: 'bad/ok', data: 'x'.repeat(300) }),
        '\r\n',
        '{"topic":"bad/ok","data":"crlf"}\r\n',
      ].join(''),
    );
    // A line over the limit split across writes, then a last line without its newline.
    stream.send(`{"topic":"bad/ok","data":"${'y'.repeat(150)}`);
    stream.send(`${'y'.repeat(150)}"}\n`);
    stream.send('{"topic":"bad/ok","data":"last"}');
    const answers = await stream.end();
    const codes = answers.map((answer) => answer.error?.code ?? 'ok');
    assert.deepEqual(codes, ['ok', 'invalid_json', 'invalid_batch', 'invalid_batch', 'invalid_topic', 'line_too_large', 'ok', 'line_too_large', 'ok']);
    assert.deepEqual(
      answers.filter((answer) => answer.error !== undefined).map((answer) => answer.line),
      [3, 4, 5, 6, 7, 10],
    );
    assert.match(answers[1].error.message, /^Line 3 is not valid JSON/);
    const events = await subscriber.waitForEvents(3);
    assert.deepEqual(
      events.map((event) => event.data),
      ['1', 'crlf', 'last'],
    );
    subscriber.close();
  });

  test('lines of ASCII and lines of other UTF-8 in one chunk are read alike; a line that is not UTF-8 is refused alone', async () => {
    const subscriber = await openStream(`${hub.url}/events?topic=utf/**`);
    const stream = openPublishStream(hub.url);
    // Two writes, usually two chunks as the hub reads them: the first ASCII only, the second not.
    stream.send(`${line({ topic: 'utf/a', data: 'plain' })} \t\r\n${line({ topic: 'utf/a', data: 'crlf' }).trimEnd()}\r\n`);
    stream.send(
      Buffer.concat([
        Buffer.from(line({ topic: 'utf/a', data: 'café' })),
        Buffer.from('{"topic":"utf/a","data":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}\n'),
        Buffer.from(`${line({ topic: 'utf/a', data: 'après' })}not json\n`),
      ]),
    );
    const answers = await stream.end();
    assert.deepEqual(
      answers.map((answer) => answer.error?.code ?? 'ok'),
      ['ok', 'ok', 'ok', 'invalid_utf8', 'ok', 'invalid_json'],
    );
    assert.deepEqual(
      answers.filter((answer) => answer.error !== undefined).map((answer) => answer.line),
      [5, 7],
    );
    const events = await subscriber.waitForEvents(4);
    assert.deepEqual(
      events.map((event) => event.data),
      ['plain', 'crlf', 'café', 'après'],
    );
    subscriber.close();
  });

  test('Content-Type application/x-ndjson is what makes a streaming publish; an Idempotency-Key is refused', async () => {
    const keyed = openPublishStream(hub.url, { 'Idempotency-Key': 'k1' });
    assert.equal(await keyed.status, 400);
    keyed.destroy();
    const batch = await httpRequest(`${hub.url}/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: line({ topic: 'x', data: 1 }) });
    assert.equal(batch.status, 400);
    assert.equal(batch.json().error.code, 'invalid_batch');
  });

  test('a client that goes away mid-stream loses nothing that was answered: every answered event reaches subscribers, in order', async () => {
    const subscriber = await openStream(`${hub.url}/topics/gone`);
    const stream = openPublishStream(hub.url);
    let sent = 0;
    for (; sent < 50; sent++) stream.send(line({ topic: 'gone', data: `e${sent}` }));
    await stream.waitForAnswers(20);
    stream.send('{"topic":"gone","data":"cut of'); // never completed: not published
    stream.destroy();
    const answers = await stream.ended;
    const ids = answers.map((answer) => answer.id);
    assert.ok(ids.length >= 20);
    // A marker published after the cut: everything the hub stored from the stream came before it.
    const marker = (await httpRequest(`${hub.url}/topics/gone`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'marker' })).json();
    await subscriber.waitUntil(() => subscriber.events.some((event) => event.lastEventId === marker.id), 10_000, 'the marker');
    const received = subscriber.events.map((event) => event.data);
    assert.deepEqual(received.slice(0, ids.length), ids.map((_, i) => `e${i}`));
    assert.deepEqual(subscriber.events.slice(0, ids.length).map((event) => event.lastEventId), ids);
    assert.ok(!received.some((data) => data.startsWith('{"topic"') || data === 'cut of'));
    assert.equal(received.at(-1), 'marker');
    subscriber.close();
  });
});

describe('streaming publish: rate limits, idle streams', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ publishRate: 0, requestTimeoutMs: 1000, headersTimeoutMs: 1000 });
  });
  after(() => hub.close());

  test('the publish rate applies per event: lines past the burst are refused with 429 rate_limited, the stream stays open', async (t) => {
    const limited = await startTestHub({ publishRate: 1, publishBurst: 5 });
    t.after(() => limited.close());
    const stream = openPublishStream(limited.url);
    stream.send(Array.from({ length: 8 }, (_, i) => line({ topic: 'limited', data: i })).join(''));
    const answers = await stream.waitForAnswers(8);
    assert.deepEqual(
      answers.map((answer) => answer.error?.code ?? 'ok'),
      ['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited', 'rate_limited', 'rate_limited'],
    );
    assert.deepEqual(answers.slice(5).map((answer) => answer.line), [6, 7, 8]);
    // Still open: a blank line is a keep-alive, not answered.
    stream.send('\n');
    assert.equal((await stream.end()).length, 8);
  });

  test('a stream that keeps sending outlives --request-timeout; one silent for that long ends with stream_idle', async () => {
    const stream = openPublishStream(hub.url);
    // Lines and blank keep-alives spread over more than twice the request timeout (it is 1 s).
    for (let i = 0; i < 8; i++) {
      stream.send(i % 2 === 0 ? '\n' : line({ topic: 'slow', data: i }));
      await sleep(300);
    }
    assert.equal((await stream.waitForAnswers(4)).every((answer) => answer.id !== undefined), true);
    // Then silence: the hub ends the stream with a last error line that names no line.
    const answers = await stream.ended;
    assert.equal(answers.length, 5);
    assert.equal(answers[4].error.code, 'stream_idle');
    assert.equal(answers[4].line, undefined);
  });
});

describe('streaming publish with tokens', () => {
  const SECRET = 'test-secret-test-secret-test-secret!';
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, publishRate: 0 });
  });
  after(() => hub.close());

  test('an invalid token is refused before any line is read; a line to a topic the token does not grant is refused alone', async () => {
    const forged = await mintToken({ secret: 'not-the-hub-secret-not-the-hub-secret', subject: 'x', publish: ['**'], lifetimeSeconds: 60 });
    const refused = openPublishStream(hub.url, { Authorization: `Bearer ${forged}` });
    assert.equal(await refused.status, 401);
    refused.destroy();
    const anonymous = openPublishStream(hub.url);
    anonymous.send(line({ topic: 'team/a', data: 1 }));
    assert.equal((await anonymous.end())[0].error.code, 'token_required');

    const token = await mintToken({ secret: SECRET, subject: 'writer', publish: ['team/*'], lifetimeSeconds: 60 });
    const stream = openPublishStream(hub.url, { Authorization: `Bearer ${token}` });
    stream.send(line({ topic: 'team/a', data: 1 }) + line({ topic: 'other', data: 2 }) + line({ topic: 'team/b', data: 3 }));
    const answers = await stream.end();
    assert.deepEqual(
      answers.map((answer) => answer.error?.code ?? answer.topic),
      ['team/a', 'forbidden', 'team/b'],
    );
  });
});

describe('streaming publish with a token that expires mid-stream', () => {
  const SECRET = 'expiry-secret-expiry-secret-expiry-secret';
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, publishRate: 0 });
  });
  after(() => hub.close());

  test('lines after the token has expired are refused with token_expired, and the stream ends', async () => {
    const token = await mintToken({ secret: SECRET, subject: 'producer', publish: ['**'], lifetimeSeconds: 4 });
    const stream = openPublishStream(hub.url, { Authorization: `Bearer ${token}` });
    stream.send(line({ topic: 'expiring', data: 'in time' }));
    const [first] = await stream.waitForAnswers(1);
    assert.equal(first.topic, 'expiring');
    // Past the token's exp (whole seconds): the next line meets an expired token.
    await sleep(4500);
    stream.send(line({ topic: 'expiring', data: 'too late' }));
    const answers = await stream.ended;
    assert.equal(answers.length, 2);
    assert.deepEqual({ code: answers[1].error.code, status: answers[1].status, line: answers[1].line }, { code: 'token_expired', status: 401, line: 2 });
    const history = await httpRequest(`${hub.url}/topics/expiring/history`, { headers: { Authorization: `Bearer ${await mintToken({ secret: SECRET, subject: 'r', subscribe: ['**'], lifetimeSeconds: 60 })}` } });
    assert.deepEqual(
      history.json().events.map((event: { data: string }) => event.data),
      ['in time'],
    );
  });
});

describe('streaming publish on the Redis engine (publishes that wait for a server)', () => {
  let hub: RunningHub;
  let url: string;
  const namespace = freshNamespace('ndj');
  before(async () => {
    url = (await redisService()).url;
    hub = await startTestHub({ engine: url, namespace, publishRate: 0 });
  });
  after(async () => {
    await hub.close();
    await removeNamespace('redis', url, namespace);
  });

  test('a body sent all at once and ended gets every answer before the answer ends', async () => {
    const stream = openPublishStream(hub.url);
    const count = 5000;
    stream.send(Array.from({ length: count }, (_, i) => line({ topic: `redis/${i % 50}`, data: { n: i } })).join(''));
    const answers = await stream.end();
    assert.equal(answers.length, count);
    assert.equal(answers.filter((answer) => answer.id === undefined).length, 0);
  });
});

describe('streaming publish over HTTP/2 (h2c)', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ h2c: true, publishRate: 0, requestTimeoutMs: 1000, headersTimeoutMs: 1000 });
  });
  after(() => hub.close());

  test('answers lines while the stream is open, past --request-timeout, which does not reset it', async () => {
    const session = connectHttp2(hub.url);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/publish', 'content-type': 'application/x-ndjson' });
      const answers: any[] = [];
      let text = '';
      let wake = (): void => {};
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        text += chunk;
        let newline: number;
        while ((newline = text.indexOf('\n')) !== -1) {
          answers.push(JSON.parse(text.slice(0, newline)));
          text = text.slice(newline + 1);
        }
        wake();
      });
      let closed = false;
      const ended = new Promise<void>((resolve) =>
        stream.once('close', () => {
          closed = true;
          wake();
          resolve();
        }),
      );
      const status = new Promise<number>((resolve) => stream.once('response', (headers) => resolve(Number(headers[':status']))));
      const waitFor = async (n: number): Promise<void> => {
        while (answers.length < n) {
          if (closed) throw new Error(`the stream was closed after ${answers.length} answers (code ${stream.rstCode})`);
          await new Promise<void>((resolve) => (wake = resolve));
        }
      };
      // Over twice the request timeout (1 s), a line at a time, each answered before the next.
      for (let i = 0; i < 5; i++) {
        stream.write(line({ topic: 'h2', data: `l${i}` }));
        await waitFor(i + 1);
        await sleep(500);
      }
      stream.end();
      await ended;
      assert.equal(await status, 200);
      assert.deepEqual(
        answers.map((answer) => answer.topic),
        ['h2', 'h2', 'h2', 'h2', 'h2'],
      );
    } finally {
      session.close();
    }
  });
});

describe('streaming publish through the Fetch door (hub.fetch on @hono/node-server)', () => {
  let hub: EmbeddedHub;
  let server: ReturnType<typeof serve>;
  let url: string;
  before(async () => {
    hub = await createHub({ logLevel: 'silent', publishRate: 0 });
    server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const listening = serve({ fetch: (req) => hub.fetch(req), port: 0, hostname: '127.0.0.1' }, () => resolve(listening));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await hub.close();
  });

  test('answers lines while the body is still being sent', async () => {
    const stream = openPublishStream(url);
    assert.equal(await stream.status, 200);
    stream.send(line({ topic: 'fetch', data: 'one' }));
    const [first] = await stream.waitForAnswers(1);
    assert.equal(first.topic, 'fetch');
    stream.send('oops\n' + line({ topic: 'fetch', data: 'two' }));
    const answers = await stream.end();
    assert.deepEqual(
      answers.map((answer) => answer.error?.code ?? 'ok'),
      ['ok', 'invalid_json', 'ok'],
    );
    const history = await hub.history({ topics: ['fetch'] });
    assert.deepEqual(
      history.events.map((event) => event.data),
      ['one', 'two'],
    );
  });
});
