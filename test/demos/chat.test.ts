/** The chat demo over real HTTP: a simulated model streams its reply as token events, then done. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import type { OpenStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { follow, postDemo } from './support.js';
import { connectWs } from '../support/ws.js';

async function converse(base: string, prompt: string): Promise<{ topic: string; stream: OpenStream; tokens: string[]; done: { tokens: number } }> {
  const reply = await postDemo(base, 'chat', { prompt });
  assert.equal(reply.status, 202, reply.text);
  const { conversation, topic, lastEventId } = reply.json() as { conversation: string; topic: string; lastEventId: string };
  assert.equal(topic, `demo/chat/${conversation}`);
  const stream = await follow(base, [topic], lastEventId);
  await stream.waitUntil(() => stream.events.some((e) => e.type === 'done'), 20_000, 'done');
  const tokens = stream.events.filter((e) => e.type === 'token').map((e) => e.data);
  const last = stream.events.at(-1)!;
  assert.equal(last.type, 'done', 'done comes last');
  return { topic, stream, tokens, done: JSON.parse(last.data) as { tokens: number } };
}

describe('demo: chat', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true });
  });
  after(() => hub.close());

  test('tokens arrive one by one and concatenate into the reply; done counts them', async () => {
    const { stream, tokens, done } = await converse(hub.url, 'How does backpressure work?');
    assert.ok(tokens.length >= 20, `${tokens.length} tokens`);
    assert.equal(done.tokens, tokens.length);
    const text = tokens.join('');
    assert.ok(text.trim().length > 0);
    assert.match(text, /"backpressure"/, 'the reply echoes the prompt\'s keyword');
    assert.doesNotMatch(tokens[0]!, /^\s/, 'the first token has no leading space');
    for (const token of tokens.slice(1)) assert.match(token, /^\s+\S+$/, 'each later token is one word with its leading space');
    assert.deepEqual(stream.events.slice(0, -1).map((e) => e.type), tokens.map(() => 'token'));
    stream.close();
  });

  test('the reply depends on the prompt, and the same prompt gets the same reply', async () => {
    const a = await converse(hub.url, 'Tell me about reconnection');
    const b = await converse(hub.url, 'Tell me about reconnection');
    const c = await converse(hub.url, 'Explain fanout');
    assert.notEqual(a.topic, b.topic, 'each conversation has its own topic');
    assert.equal(a.tokens.join(''), b.tokens.join(''));
    assert.match(a.tokens.join(''), /"reconnection"/);
    assert.match(c.tokens.join(''), /"fanout"/);
    for (const { stream } of [a, b, c]) stream.close();
  });

  test('joining the room: a one-shot ticket for a WebSocket whose holder is the name, a member of the room who may publish there only', async () => {
    const refused = await postDemo(hub.url, 'chat/join', { name: 'not a name!' });
    assert.equal(refused.status, 400);
    assert.equal(refused.json().error.code, 'invalid_demo_request');
    const joined = await postDemo(hub.url, 'chat/join', { name: 'alice' });
    assert.equal(joined.status, 200, joined.text);
    const { ticket, room } = joined.json() as { ticket: string; room: string };
    assert.equal(room, 'demo/chat/room/lobby');
    const ws = await connectWs(hub.url, { query: `?ticket=${ticket}` });
    assert.equal((await ws.next((m) => m.type === 'ready', 'ready')).subject, 'alice');
    ws.send({ type: 'subscribe', topics: [room], presence: true });
    // The snapshot comes first; the holder's own arrival follows as a join once the cluster knows of it.
    await ws.next((m) => m.event === 'ssehub.presence', 'the members');
    const joinedRoom = await ws.next((m) => m.event === 'ssehub.join', 'alice joining');
    assert.deepEqual(JSON.parse(joinedRoom.data).member, { subject: 'alice', info: { name: 'alice' }, connections: 1 });
    ws.send({ type: 'publish', topic: room, event: 'message', data: { text: 'hi' }, ref: 'ok' });
    assert.equal((await ws.next((m) => m.ref === 'ok', 'the ack')).type, 'ack');
    ws.send({ type: 'publish', topic: 'demo/chat/elsewhere', data: 'x', ref: 'no' });
    assert.equal((await ws.next((m) => m.ref === 'no', 'the refusal')).code, 'forbidden');
    ws.close();
  });
});
