/**
 * The AI demo over real HTTP: a simulated model streams a generation on `ai/<id>` as token events,
 * then done, which ends the topic (ssehub.end; the stream closes). A reader's cancel stops it
 * before its next token; a reader that reconnects in the middle with its last event id gets the
 * rest, each token once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { follow, postDemo } from './support.js';
import { connectWs } from '../support/ws.js';

async function generate(base: string, prompt: string): Promise<{ topic: string; stream: OpenStream; lastEventId: string }> {
  const reply = await postDemo(base, 'chat', { prompt });
  assert.equal(reply.status, 202, reply.text);
  const { conversation, topic, lastEventId } = reply.json() as { conversation: string; topic: string; lastEventId: string };
  assert.equal(topic, `ai/${conversation}`);
  return { topic, stream: await follow(base, [topic], lastEventId), lastEventId };
}

/** Reads the generation to its end: the tokens, and done's data; the hub closes the stream after ssehub.end. */
async function toTheEnd(stream: OpenStream): Promise<{ tokens: string[]; done: { tokens: number; cancelled: boolean } }> {
  await stream.ended;
  // A cancel signal (ssehub.cancel) may sit among the tokens: it is not an event of the generation.
  const types = stream.events.map((e) => e.type).filter((type) => type !== 'ssehub.cancel');
  assert.deepEqual(types.slice(-2), ['done', 'ssehub.end'], 'done is the last event, then the end');
  const tokens = stream.events.filter((e) => e.type === 'token').map((e) => e.data);
  assert.deepEqual(types.slice(0, -2), tokens.map(() => 'token'));
  return { tokens, done: JSON.parse(stream.events.find((e) => e.type === 'done')!.data) as { tokens: number; cancelled: boolean } };
}

describe('demo: AI generations', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true });
  });
  after(() => hub.close());

  test('tokens of one to three words concatenate into the reply; done counts them and ends the topic', async () => {
    const { topic, stream } = await generate(hub.url, 'How does backpressure work?');
    const { tokens, done } = await toTheEnd(stream);
    assert.ok(tokens.length >= 20, `${tokens.length} tokens`);
    assert.deepEqual(done, { tokens: tokens.length, cancelled: false });
    const text = tokens.join('');
    assert.match(text, /"backpressure"/, 'the reply echoes the prompt\'s keyword');
    assert.doesNotMatch(tokens[0]!, /^\s/, 'the first token has no leading space');
    for (const token of tokens.slice(1)) assert.match(token, /^(\s+\S+){1,3}$/, 'each later token is one to three words with their leading spaces');
    assert.ok(tokens.some((token) => token.trim().includes(' ')), 'some tokens hold several words');
    // The generation has ended: nothing more may be published to it.
    const late = await httpRequest(`${hub.url}/topics/${topic}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'late' });
    assert.equal(late.status, 409);
    assert.equal(late.json().error.code, 'topic_ended');
  });

  test('the reply depends on the prompt, and the same prompt gets the same reply', async () => {
    const a = await generate(hub.url, 'Tell me about reconnection');
    const b = await generate(hub.url, 'Tell me about reconnection');
    const c = await generate(hub.url, 'Explain fanout');
    assert.notEqual(a.topic, b.topic, 'each generation has its own topic');
    const [ta, tb, tc] = await Promise.all([a, b, c].map(({ stream }) => toTheEnd(stream)));
    assert.equal(ta!.tokens.join(''), tb!.tokens.join(''));
    assert.match(ta!.tokens.join(''), /"reconnection"/);
    assert.match(tc!.tokens.join(''), /"fanout"/);
  });

  test('a reader\'s cancel stops the generation before its next token: done says cancelled, and the topic ends', async () => {
    const { topic, stream } = await generate(hub.url, 'Write a long essay');
    await stream.waitUntil(() => stream.events.filter((e) => e.type === 'token').length >= 3, 10_000, 'three tokens');
    const cancel = await httpRequest(`${hub.url}/topics/${topic}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 202, cancel.text);
    const atCancel = stream.events.filter((e) => e.type === 'token').length;
    const { tokens, done } = await toTheEnd(stream);
    assert.equal(done.cancelled, true);
    assert.equal(done.tokens, tokens.length);
    // At a token every 30 to 50 ms, 100 ms after the acknowledged cancel leave room for at most 4 (one under way).
    assert.ok(tokens.length - atCancel <= 4, `${tokens.length - atCancel} tokens after the cancel was acknowledged`);
    assert.ok(stream.events.some((e) => e.type === 'ssehub.cancel'), 'readers of the topic hear the cancel');
  });

  test('a reader that reconnects mid-generation with its last event id gets the rest, each token once', async () => {
    const first = await generate(hub.url, 'Explain resumable streams');
    await first.stream.waitUntil(() => first.stream.events.filter((e) => e.type === 'token').length >= 5, 10_000, 'five tokens');
    first.stream.close();
    const before = first.stream.events.filter((e) => e.type === 'token');
    const resumed = await openStream(`${hub.url}/topics/${first.topic}`, { 'Last-Event-ID': before.at(-1)!.lastEventId });
    const { tokens } = await toTheEnd(resumed);
    const whole = await openStream(`${hub.url}/topics/${first.topic}`, { 'Last-Event-ID': first.lastEventId });
    const { tokens: all } = await toTheEnd(whole);
    assert.deepEqual([...before.map((e) => e.data), ...tokens], all);
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
