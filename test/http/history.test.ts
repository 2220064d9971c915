/**
 * GET /topics/{topic}/history and GET /history: pages, limits and their errors, ids history cannot
 * place, the event name, authorization as for a stream, system topics; ?rewind's errors; and
 * the library's hub.history() giving the route's answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { createHub } from '../../src/create-hub.js';
import { HubError } from '../../src/errors.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';

const SECRET = 'history-test-secret-of-at-least-32-bytes!';

describe('reading history over HTTP', () => {
  let running: RunningHub;
  const ids: string[] = [];
  before(async () => {
    running = await startTestHub({ historyMaxEvents: 20 });
    for (let n = 1; n <= 12; n++) {
      const [stored] = await running.hub.publish([{ topic: `log/${n % 2 === 0 ? 'even' : 'odd'}`, data: `e${n}`, ...(n === 12 ? { event: 'last' } : {}) }]);
      ids.push(stored!.id);
    }
  });
  after(() => running.close());
  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(`${running.url}${path}`, { headers });
  const datas = (body: { events: Array<{ data: string }> }) => body.events.map((event) => event.data);

  test('without after: the newest `limit`, oldest first, with the id a stream goes on from', async () => {
    const reply = await get('/history?topic=log/*&limit=3');
    assert.equal(reply.status, 200, reply.text);
    const body = reply.json();
    assert.deepEqual(datas(body), ['e10', 'e11', 'e12']);
    assert.deepEqual(body.events.map((event: { id: string }) => event.id), ids.slice(-3));
    assert.equal(body.next, null);
    assert.equal(body.complete, true);
    assert.equal(body.lastEventId, ids[11]);
    const [first, , last] = body.events;
    assert.deepEqual(Object.keys(first).sort(), ['data', 'id', 'time', 'topic'], 'no event name for the default "message"');
    assert.equal(first.topic, 'log/even');
    assert.equal(typeof first.time, 'number');
    assert.equal(last.event, 'last');
  });

  test('one topic by its path; pages forward with after and next, back with before', async () => {
    const firstPage = (await get(`/topics/log/odd/history?after=${ids[0]}&limit=2`)).json();
    assert.deepEqual(datas(firstPage), ['e3', 'e5']);
    assert.equal(firstPage.next, ids[4]);
    assert.equal(firstPage.lastEventId, undefined, 'not at the present yet');
    const rest = (await get(`/topics/log/odd/history?after=${firstPage.next}`)).json();
    assert.deepEqual(datas(rest), ['e7', 'e9', 'e11']);
    assert.equal(rest.next, null);
    assert.equal(rest.lastEventId, ids[11]);
    const older = (await get(`/history?topic=log/*&before=${ids[9]}&limit=3`)).json();
    assert.deepEqual(datas(older), ['e7', 'e8', 'e9']);
    const between = (await get(`/history?topic=log/*&after=${ids[2]}&before=${ids[6]}`)).json();
    assert.deepEqual(datas(between), ['e4', 'e5', 'e6']);
    assert.equal(between.next, null);
  });

  test('an after history cannot place: what is retained, with complete false and the reset reason', async () => {
    const unknown = (await get('/history?topic=log/*&after=old-epoch-5&limit=1000')).json();
    assert.equal(unknown.complete, false);
    assert.equal(unknown.reason, 'unknown-id');
    assert.equal(unknown.events.length, 12);
    const known = (await get(`/history?topic=log/*&after=${ids[0]}`)).json();
    assert.equal(known.complete, true);
    assert.equal(known.reason, undefined);
  });

  test('an after whose successors were evicted: history-exceeded', async () => {
    const small = await startTestHub({ historyMaxEvents: 2 });
    try {
      const stored = await small.hub.publish([1, 2, 3, 4].map((n) => ({ topic: 'short', data: `s${n}` })));
      const body = (await httpRequest(`${small.url}/topics/short/history?after=${stored[0]!.id}`)).json();
      assert.deepEqual(datas(body), ['s3', 's4']);
      assert.equal(body.complete, false);
      assert.equal(body.reason, 'history-exceeded');
    } finally {
      await small.close();
    }
  });

  test('bad limits, before and topics: 400 with a stable code', async () => {
    for (const limit of ['0', '1001', 'x', '-1', '2.5']) {
      const reply = await get(`/history?topic=log/*&limit=${limit}`);
      assert.equal(reply.status, 400, `limit=${limit}`);
      assert.equal(reply.json().error.code, 'invalid_limit');
      assert.match(reply.json().error.message, /1 to 1000/);
    }
    const before = await get('/topics/log/odd/history?before=nope');
    assert.equal(before.status, 400);
    assert.equal(before.json().error.code, 'invalid_before');
    assert.equal((await get('/history')).json().error.code, 'invalid_topic');
    assert.equal((await get('/history?topic=a//b')).json().error.code, 'invalid_topic');
  });

  test('?rewind that is not 1 to 1000: 400 invalid_rewind naming the limit, even with a Last-Event-ID', async () => {
    for (const rewind of ['0', '1001', 'all']) {
      const reply = await get(`/topics/log/odd?rewind=${rewind}`, { 'Last-Event-ID': ids[0]! });
      assert.equal(reply.status, 400, `rewind=${rewind}`);
      assert.equal(reply.json().error.code, 'invalid_rewind');
      assert.match(reply.json().error.message, /1 to 1000/);
    }
  });

  test('system topics: not through a pattern; named literally, as for a stream', async () => {
    await running.hub.publish([{ topic: '$ssehub/notes', data: 'sys' }], { allowReservedTopics: true });
    const all = (await get('/history?topic=**&limit=1000')).json();
    assert.ok(all.events.length > 0);
    assert.ok(all.events.every((event: { topic: string }) => !event.topic.startsWith('$')), 'no system topic through **');
    const literal = (await get('/history?topic=$ssehub/notes')).json();
    assert.deepEqual(datas(literal), ['sys']);
  });
});

describe('history authorization: the same as a stream of those topics', () => {
  let running: RunningHub;
  before(async () => {
    running = await startTestHub({ jwtSecret: SECRET, publicTopics: ['news'] });
    await running.hub.publish([{ topic: 'news', data: 'n1' }, { topic: 'team/a', data: 't1' }, { topic: 'team/b', data: 't2' }]);
  });
  after(() => running.close());
  const bearer = async (subscribe: string[]) => ({ Authorization: `Bearer ${await mintToken({ subject: 'u', secret: SECRET, lifetimeSeconds: 60, subscribe })}` });

  test('a public topic without a token; others need a grant: 401 without one, 403 outside it', async () => {
    assert.equal((await httpRequest(`${running.url}/topics/news/history`)).json().events[0].data, 'n1');
    const anonymous = await httpRequest(`${running.url}/topics/team/a/history`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json().error.code, 'token_required');
    const onlyA = await bearer(['team/a']);
    assert.equal((await httpRequest(`${running.url}/topics/team/a/history`, { headers: onlyA })).json().events[0].data, 't1');
    const pattern = await httpRequest(`${running.url}/history?topic=team/*`, { headers: onlyA });
    assert.equal(pattern.status, 403);
    assert.equal(pattern.json().error.code, 'forbidden');
    const granted = await httpRequest(`${running.url}/history?topic=team/*`, { headers: await bearer(['team/*']) });
    assert.deepEqual(granted.json().events.map((event: { data: string }) => event.data), ['t1', 't2']);
  });
});

describe('hub.history() in the library', () => {
  test('the answer GET /history gives, and the same errors', async () => {
    const hub = await createHub({ logLevel: 'silent' });
    try {
      for (const n of [1, 2, 3]) await hub.publish(`room/${n}`, { n });
      const page = await hub.history({ topics: ['room/*'], limit: 2 });
      const reply = await hub.fetch(new Request('http://app.test/history?topic=room/*&limit=2'));
      assert.deepEqual(page, await reply.json());
      assert.deepEqual(page.events.map((event) => event.data), ['{"n":2}', '{"n":3}']);
      await assert.rejects(hub.history({ topics: ['room/*'], limit: 5000 }), (error: unknown) => error instanceof HubError && error.code === 'invalid_limit');
      await assert.rejects(hub.history({ topics: [] }), (error: unknown) => error instanceof HubError && error.code === 'invalid_topic');
    } finally {
      await hub.close();
    }
  });
});
