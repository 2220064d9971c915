/** The WebSocket transport on the standalone server: the protocol, the same ids as SSE, resume, ephemeral events, bad input. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, publish } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { connectWs, refusedUpgrade } from '../support/ws.js';
import { until } from '../support/wait.js';

describe('the WebSocket door', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ wsEphemeralRate: 5 });
  });
  after(() => hub.close());

  test('a subscription gets the events of HTTP and WebSocket publishers with the ids an SSE stream gets', async () => {
    const ws = await connectWs(hub.url);
    await ws.next((m) => m.type === 'ready', 'ready');
    ws.send({ type: 'subscribe', topics: ['room/1'], ref: 's' });
    const ack = await ws.next((m) => m.type === 'ack' && m.ref === 's', 'the subscribe ack');
    assert.equal(ack.sub, '1');
    await ws.next((m) => m.event === 'ssehub.position', 'the position');
    const sse = await openStream(`${hub.url}/topics/room/1`);
    await sse.waitUntil(() => sse.positions.length > 0);

    const viaHttp = (await publish(hub.url, 'room/1', 'from http')).json();
    ws.send({ type: 'publish', topic: 'room/1', data: { text: 'from ws' }, event: 'chat', ref: 'p1' });
    const published = await ws.next((m) => m.type === 'ack' && m.ref === 'p1', 'the publish ack');
    assert.equal(published.topic, 'room/1');
    assert.match(published.id, /\S/);

    const events = await ws.next(() => ws.events().filter((e) => e.topic === 'room/1').length >= 2, 'two events').then(() => ws.events().filter((e) => e.topic === 'room/1'));
    assert.deepEqual(
      events.map(({ sub, id, topic, event, data }) => ({ sub, id, topic, event, data })),
      [
        { sub: '1', id: viaHttp.id, topic: 'room/1', event: undefined, data: 'from http' },
        { sub: '1', id: published.id, topic: 'room/1', event: 'chat', data: '{"text":"from ws"}' },
      ],
    );
    const seen = await sse.waitForEvents(2);
    assert.deepEqual(
      seen.map((e) => [e.lastEventId, e.type, e.data]),
      [
        [viaHttp.id, 'message', 'from http'],
        [published.id, 'chat', '{"text":"from ws"}'],
      ],
    );
    sse.close();
    ws.close();
  });

  test('resume from a last id replays what was missed, an unknown id gets the reset signal, rewind the newest', async () => {
    const first = (await publish(hub.url, 'resume/a', 'one')).json();
    const second = (await publish(hub.url, 'resume/a', 'two')).json();
    const third = (await publish(hub.url, 'resume/a', 'three')).json();
    const ws = await connectWs(hub.url);
    ws.send({ type: 'subscribe', topics: ['resume/a'], lastEventId: first.id, sub: 'r' });
    ws.send({ type: 'subscribe', topics: ['resume/*'], lastEventId: 'not-an-id', sub: 'u' });
    ws.send({ type: 'subscribe', topics: ['resume/a'], rewind: 1, sub: 'w' });
    await ws.next(() => ws.events().filter((e) => e.sub === 'r' && e.topic).length === 2, 'the replay of r');
    assert.deepEqual(ws.events().filter((e) => e.sub === 'r' && e.topic).map((e) => e.id), [second.id, third.id]);
    const reset = await ws.next((m) => m.sub === 'u' && m.event === 'ssehub.reset', 'the reset of u');
    assert.deepEqual(JSON.parse(reset.data), { reason: 'unknown-id', lastEventId: 'not-an-id' });
    await ws.next((m) => m.sub === 'w' && m.topic === 'resume/a', 'the rewind of w');
    assert.deepEqual(ws.events().filter((e) => e.sub === 'w' && e.topic).map((e) => e.data), ['three']);
    ws.send({ type: 'subscribe', topics: ['resume/b'], sub: 'r', ref: 'dup' });
    assert.equal((await ws.next((m) => m.ref === 'dup', 'the refusal')).code, 'already_subscribed');
    ws.close();
  });

  test('unsubscribe by topic ends what named it, and what else that subscription named goes on without a gap', async () => {
    const ws = await connectWs(hub.url);
    ws.send({ type: 'subscribe', topics: ['u/a', 'u/b'], sub: 'both' });
    await ws.next((m) => m.sub === 'both' && m.event === 'ssehub.position', 'the position');
    await publish(hub.url, 'u/a', 'a1');
    await ws.next((m) => m.data === 'a1', 'a1');
    ws.send({ type: 'unsubscribe', topics: ['u/a'], ref: 'un' });
    await ws.next((m) => m.ref === 'un' && m.type === 'ack', 'the unsubscribe ack');
    const b1 = (await publish(hub.url, 'u/b', 'b1')).json();
    await publish(hub.url, 'u/a', 'a2');
    const b2 = (await publish(hub.url, 'u/b', 'b2')).json();
    await ws.next((m) => m.data === 'b2', 'b2');
    assert.deepEqual(ws.events().filter((e) => e.topic === 'u/b').map((e) => e.id), [b1.id, b2.id]);
    assert.equal(ws.events().some((e) => e.data === 'a2'), false);
    ws.send({ type: 'unsubscribe', sub: 'nope', ref: 'missing' });
    assert.equal((await ws.next((m) => m.ref === 'missing', 'the refusal')).code, 'not_subscribed');
    ws.close();
  });

  test('an ephemeral publish reaches open streams of both transports without an id, is never in history, and is rate-limited per connection', async () => {
    const ws = await connectWs(hub.url);
    ws.send({ type: 'subscribe', topics: ['typing/1'], sub: 't' });
    await ws.next((m) => m.event === 'ssehub.position', 'the position');
    const sse = await openStream(`${hub.url}/topics/typing/1`);
    await sse.waitUntil(() => sse.positions.length > 0);
    const stored = (await publish(hub.url, 'typing/1', 'stored')).json();
    ws.send({ type: 'publish', topic: 'typing/1', event: 'typing', data: 'alice', ephemeral: true, ref: 'e' });
    const ack = await ws.next((m) => m.ref === 'e', 'the ack');
    assert.deepEqual(ack, { type: 'ack', ref: 'e', topic: 'typing/1' });
    const typing = await ws.next((m) => m.event === 'typing', 'the ephemeral event');
    assert.deepEqual(typing, { sub: 't', type: 'event', topic: 'typing/1', event: 'typing', data: 'alice', ephemeral: true });
    const [, ephemeral] = await sse.waitForEvents(2);
    assert.equal(ephemeral!.type, 'typing');
    assert.equal(ephemeral!.lastEventId, stored.id, 'an event without an id leaves the last id where it was');
    sse.close();

    const history = (await httpRequest(`${hub.url}/history?topic=typing/1`)).json();
    assert.deepEqual(history.events.map((e: any) => e.data), ['stored']);
    const late = await connectWs(hub.url);
    late.send({ type: 'subscribe', topics: ['typing/1'], rewind: 10 });
    await late.next((m) => m.data === 'stored', 'the replay');
    assert.equal(late.events().some((e) => e.data === 'alice'), false);
    late.close();

    for (let i = 0; i < 8; i++) ws.send({ type: 'publish', topic: 'typing/1', data: 'x', ephemeral: true, ref: `burst${i}` });
    const limited = await ws.next((m) => m.type === 'error' && m.ref?.startsWith('burst'), 'a refusal');
    assert.equal(limited.code, 'rate_limited');
    ws.send({ type: 'publish', topic: 'typing/1', data: 'x', ephemeral: true, idempotencyKey: 'k', ref: 'keyed' });
    assert.equal((await ws.next((m) => m.ref === 'keyed', 'the refusal')).code, 'invalid_message');
    ws.close();
  });

  test('bad messages get an error with a stable code; ten in a row close the socket with 4000', async () => {
    const ws = await connectWs(hub.url);
    ws.send('{not json');
    assert.equal((await ws.next((m) => m.type === 'error', 'an error')).code, 'invalid_json');
    ws.send({ type: 'shout', ref: 'x' });
    assert.deepEqual(await ws.next((m) => m.ref === 'x', 'an error'), { type: 'error', ref: 'x', code: 'unknown_type', message: 'Unknown message type "shout": send auth, subscribe, unsubscribe or publish.', status: 400 });
    ws.send({ type: 'publish', topic: 'bad topic//', data: 'x', ref: 't' });
    assert.equal((await ws.next((m) => m.ref === 't', 'an error')).code, 'invalid_topic');
    ws.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await until(() => ws.messages.filter((m) => m.type === 'error').length === 4, 'four errors');
    assert.equal(ws.messages.at(-1).code, 'invalid_message');
    for (let i = 0; i < 6; i++) ws.send('[]');
    assert.equal((await ws.closed).code, 4000);
  });

  test('a client that does not wait for answers is closed with 4009 once 256 messages are waiting', async () => {
    const ws = await connectWs(hub.url);
    await ws.next((m) => m.type === 'ready', 'ready');
    for (let i = 0; i < 2000; i++) ws.send({ type: 'publish', topic: 'flood/1', data: `${i}`, ref: `${i}` });
    assert.equal((await ws.closed).code, 4009);
    assert.ok(ws.messages.filter((m) => m.type === 'ack').length < 2000, 'not every message was handled');
  });

  test('refused upgrades: no subprotocol (400), another path (404); a message past --max-body closes with 1009', async () => {
    assert.deepEqual(await refusedUpgrade(connectWs(hub.url, { protocols: [] })), { status: 400, code: 'unsupported_protocol' });
    assert.deepEqual(await refusedUpgrade(connectWs(hub.url, { path: '/elsewhere' })), { status: 404, code: 'not_found' });
    const small = await startTestHub({ maxBodyBytes: 1024 });
    try {
      const ws = await connectWs(small.url);
      ws.send({ type: 'publish', topic: 'a', data: 'x'.repeat(10_000) });
      assert.equal((await ws.closed).code, 1009);
    } finally {
      await small.close();
    }
  });
});
