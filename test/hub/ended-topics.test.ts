/**
 * Streams that end, on every engine: a topic ended with its last event (?end=true, a batch's
 * `end`), on a cluster of hubs on one namespace (one hub on the memory engine). Streams of the topic
 * get the rest then ssehub.end and close; a pattern stream and a stream of two topics hear the end
 * and stay open while another topic can deliver; a reconnect from before the end gets the rest then
 * the end on another instance; a stream opened after the end gets the end at once; publishing to
 * the topic is refused (409 topic_ended) on every hub, also on one started after the end; ending
 * twice stores nothing and answers the same end. Then, on the memory engine, the end lapses with
 * the retention age.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, type OpenStream, type Reply } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';

const post = (url: string, body: string, type = 'text/plain'): Promise<Reply> =>
  httpRequest(url, { method: 'POST', headers: { 'Content-Type': type }, body });

const batch = (base: string, items: unknown[]): Promise<Reply> => post(`${base}/publish`, JSON.stringify(items), 'application/json');

/** The stream's events until the server closed it. */
async function untilClosed(stream: OpenStream): Promise<Array<{ type: string; data: string }>> {
  await stream.ended;
  return stream.events.map(({ type, data }) => ({ type, data }));
}

const END = (topic: string) => ({ type: 'ssehub.end', data: JSON.stringify({ topic }) });
const tokens = (...words: string[]) => words.map((data) => ({ type: 'message', data }));

function checkEnds(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>, instances: number) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('end');
    const hubs: RunningHub[] = [];
    const streams: OpenStream[] = [];
    const open = async (path: string, headers: Record<string, string> = {}) => {
      const stream = await openStream(path, headers);
      streams.push(stream);
      return stream;
    };
    try {
      for (let i = 0; i < instances; i++) hubs.push(await startTestHub({ engine: url, namespace }));
      const first = hubs[0]!.url;
      const last = hubs.at(-1)!.url;
      const single = await open(`${first}/topics/gen/x`);
      const pattern = await open(`${last}/topics/gen/*`);
      const pair = await open(`${last}/events?topic=gen/x&topic=gen/y`);

      const ids: string[] = [];
      for (const word of ['one', 'two', 'three', 'four']) {
        const reply = await post(`${first}/topics/gen/x`, word);
        assert.equal(reply.status, 201, reply.text);
        ids.push(reply.json().id);
      }
      const ended = await post(`${first}/topics/gen/x?end=true`, 'five');
      assert.equal(ended.status, 201, ended.text);
      const { id: lastId, end: endId } = ended.json() as { id: string; end: string };
      assert.equal(typeof endId, 'string', 'the answer names the end');
      assert.notEqual(endId, lastId);

      // The topic's own stream: every event, then the end, then the hub closes it.
      assert.deepEqual(await untilClosed(single), [...tokens('one', 'two', 'three', 'four', 'five'), END('gen/x')]);
      assert.equal(single.events.at(-1)!.lastEventId, endId, 'the end is an event of the log, with its id');

      // A pattern stream and a stream of two topics hear the end and stay open for the other topic.
      for (const stream of [pattern, pair]) await stream.waitUntil(() => stream.events.some((e) => e.type === 'ssehub.end'), 10_000, 'the end of gen/x');
      const other = await batch(last, [{ topic: 'gen/y', data: 'why', end: true }]);
      assert.equal(other.status, 201, other.text);
      assert.deepEqual(Object.keys(other.json().ends), ['gen/y']);
      assert.deepEqual(await untilClosed(pair), [...tokens('one', 'two', 'three', 'four', 'five'), END('gen/x'), ...tokens('why'), END('gen/y')]);
      await pattern.waitUntil(() => pattern.events.filter((e) => e.type === 'ssehub.end').length === 2, 10_000, 'the end of gen/y');
      assert.equal(pattern.events.at(-1)!.type, 'ssehub.end');

      // A reconnect from before the end, on another instance: the rest, then the end, then closed.
      const resumed = await open(`${last}/topics/gen/x`, { 'Last-Event-ID': ids[1]! });
      assert.deepEqual(await untilClosed(resumed), [...tokens('three', 'four', 'five'), END('gen/x')]);
      // Opened after the end (no Last-Event-ID, or one from after it): the end at once, then closed.
      const lateHeaders: Array<Record<string, string>> = [{}, { 'Last-Event-ID': endId }];
      for (const headers of lateHeaders) {
        const late = await open(`${last}/topics/gen/x`, headers);
        assert.deepEqual(await untilClosed(late), [END('gen/x')]);
      }

      // Publishing to the ended topic: 409 topic_ended on every hub, one event or in a batch.
      for (const hub of hubs) {
        await until(async () => (await post(`${hub.url}/topics/gen/x`, 'six')).status === 409, 'the end known on every hub');
        const refused = await post(`${hub.url}/topics/gen/x`, 'six');
        assert.equal(refused.json().error.code, 'topic_ended');
        const inBatch = await batch(hub.url, [{ topic: 'gen/z', data: 'fine' }, { topic: 'gen/x', data: 'not' }]);
        assert.equal(inBatch.status, 409);
        assert.match(inBatch.json().error.message, /^events\[1\]/);
        // Ending twice: nothing stored, the same end in the answer.
        const again = await post(`${hub.url}/topics/gen/x?end=true`, 'five');
        assert.equal(again.status, 200, again.text);
        assert.deepEqual(again.json(), { id: endId, topic: 'gen/x', event: 'ssehub.end', end: endId });
      }
      // Events after an end of the same topic in one batch are refused, and nothing of it stored.
      const after = await batch(first, [{ topic: 'gen/w', data: 'a', end: true }, { topic: 'gen/w', data: 'b' }]);
      assert.equal(after.status, 409);
      assert.equal(after.json().error.code, 'topic_ended');
      assert.equal((await post(`${first}/topics/gen/w`, 'still open')).status, 201);

      // A hub started after the end knows it too (from the engine's key-value store).
      if (kind !== undefined) {
        const newcomer = await startTestHub({ engine: url, namespace });
        hubs.push(newcomer);
        assert.equal((await post(`${newcomer.url}/topics/gen/x`, 'six')).status, 409);
        assert.deepEqual(await untilClosed(await open(`${newcomer.url}/topics/gen/x`)), [END('gen/x')]);
      }
      // The seam: streams resuming while the end is published, on the other instance, get the rest and one end.
      for (let round = 0; round < 5; round++) {
        const topic = `race/${round}`;
        const first = (await post(`${hubs[0]!.url}/topics/${topic}`, 'r1')).json().id as string;
        await post(`${hubs[0]!.url}/topics/${topic}`, 'r2');
        const [stream] = await Promise.all([open(`${last}/topics/${topic}`, { 'Last-Event-ID': first }), post(`${hubs[0]!.url}/topics/${topic}?end=true`, 'r3')]);
        assert.deepEqual(await untilClosed(stream), [...tokens('r2', 'r3'), END(topic)], `round ${round}`);
      }
      // The ended topic's history holds every event once, and the end after them.
      const history = (await httpRequest(`${first}/topics/gen/x/history`)).json() as { events: Array<{ event?: string; data: string }> };
      assert.deepEqual(history.events.map((e) => e.event ?? e.data), ['one', 'two', 'three', 'four', 'five', 'ssehub.end']);
    } finally {
      for (const stream of streams) stream.close();
      await Promise.all(hubs.map((running) => running.close()));
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

describe('streams that end', () => {
  test('the memory engine: one hub', checkEnds(async () => ({ url: 'memory', kind: undefined }), 1));

  test('an end lapses with the retention age: the topic takes events again', async () => {
    const running = await startTestHub({ historyMaxAgeMs: 1000 });
    try {
      const before = (await post(`${running.url}/topics/t`, 'first')).json().id as string;
      assert.equal((await post(`${running.url}/topics/t?end=true`, 'last')).status, 201);
      assert.equal((await post(`${running.url}/topics/t`, 'again')).status, 409);
      await until(async () => (await post(`${running.url}/topics/t`, 'again')).status === 201, 'the end to lapse', 10_000, 100);
      // A client back with an id from the lapsed history is told that history is gone, then gets the new topic's events.
      const late = await openStream(`${running.url}/topics/t`, { 'Last-Event-ID': before });
      await late.waitUntil(() => late.events.some((e) => e.data === 'again'), 10_000, 'the new event');
      late.close();
      assert.equal(late.events[0]!.type, 'ssehub.reset');
      assert.ok(!late.events.some((e) => e.type === 'ssehub.end'), 'the lapsed end is not sent again');
    } finally {
      await running.close();
    }
  });

  test("an end lapses with its topic's own retention rule, not the default age", async () => {
    const running = await startTestHub({ historyMaxAgeMs: 3_600_000, retention: [{ pattern: 'ai/*', maxAgeMs: 1000 }] });
    try {
      for (const topic of ['ai/1', 'chat/1']) assert.equal((await post(`${running.url}/topics/${topic}?end=true`, 'last')).status, 201);
      await until(async () => (await post(`${running.url}/topics/ai/1`, 'again')).status === 201, 'the end of ai/1 to lapse', 10_000, 100);
      assert.equal((await post(`${running.url}/topics/chat/1`, 'again')).status, 409, 'chat/1 keeps the default hour');
    } finally {
      await running.close();
    }
  });

  test('?end takes true or false only', async () => {
    const running = await startTestHub();
    try {
      const reply = await post(`${running.url}/topics/t?end=yes`, 'x');
      assert.equal(reply.status, 400);
      assert.equal(reply.json().error.code, 'invalid_end');
      const item = await batch(running.url, [{ topic: 't', data: 'x', end: 1 }]);
      assert.equal(item.json().error.code, 'invalid_end');
      assert.equal((await post(`${running.url}/topics/t?end=false`, 'x')).status, 201);
    } finally {
      await running.close();
    }
  });
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`streams that end on ${name}`, { skip: check.skipReason() }, () => {
    test('two hubs on one namespace, and a third started after the end', checkEnds(async () => ({ url: check.url, kind }), 2));
  });
}
