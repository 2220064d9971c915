/**
 * Presence on one hub: members of presence topics, subscriber counts, the ?presence=1 control
 * events with the grace period, the limits on a grant's info, and who may read it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { untilValue } from '../support/wait.js';

const SECRET = 'presence-test-secret-of-at-least-32-bytes!';
const GRACE_MS = 400;

const token = (subject: string, options: { subscribe?: string[]; presence?: Record<string, unknown> } = {}) =>
  mintToken({ subject, secret: SECRET, lifetimeSeconds: 600, subscribe: options.subscribe ?? ['chat/**', 'news'], ...(options.presence ? { presence: options.presence } : {}) });
const bearer = async (subject: string, options?: Parameters<typeof token>[1]) => ({ Authorization: `Bearer ${await token(subject, options)}` });

describe('presence on one hub', () => {
  let running: RunningHub;
  const streams: OpenStream[] = [];
  before(async () => {
    running = await startTestHub({ jwtSecret: SECRET, presence: ['chat/**'], presenceGraceMs: GRACE_MS });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await running.close();
  });
  const open = async (path: string, headers: Record<string, string>) => {
    const stream = await openStream(`${running.url}${path}`, headers);
    assert.equal(stream.status, 200, stream.raw());
    streams.push(stream);
    return stream;
  };
  const presenceOf = async (topic: string, headers: Record<string, string>) => (await httpRequest(`${running.url}/topics/${topic}/presence`, { headers })).json();

  test('a subject subscribed to a presence topic is a member, with its info and its streams; counted once however many streams', async () => {
    const alice = await bearer('alice', { presence: { name: 'Alice' } });
    const bob = await bearer('bob');
    await open('/topics/chat/room1', alice);
    await open('/events?topic=chat/room1&topic=news', alice);
    await open('/topics/chat/room1', bob);
    const reply = await untilValue(
      () => presenceOf('chat/room1', bob),
      (body) => body.members?.length === 2 && body.subscribers === 3,
      'alice and bob on chat/room1',
    );
    const members = [...reply.members].sort((a: { subject: string }, b: { subject: string }) => a.subject.localeCompare(b.subject));
    assert.deepEqual(members, [
      { subject: 'alice', info: { name: 'Alice' }, connections: 2 },
      { subject: 'bob', connections: 1 },
    ]);
    // alice's info makes her a member of any topic she names; bob is not a member of news (no --presence, no info).
    const news = await untilValue(() => presenceOf('news', bob), (body) => body.members?.length === 1, 'alice on news');
    assert.deepEqual(news.members, [{ subject: 'alice', info: { name: 'Alice' }, connections: 1 }]);
  });

  test('subscribers counts the streams of a topic and of the patterns that match it', async () => {
    const carol = await bearer('carol');
    await open('/topics/chat/*', carol);
    const count = await untilValue(
      async () => (await httpRequest(`${running.url}/topics/chat/room2/subscribers`, { headers: carol })).json(),
      (body) => body.subscribers === 1,
      'the pattern stream to count on chat/room2',
    );
    assert.deepEqual(count, { topic: 'chat/room2', subscribers: 1 });
    const room1 = (await httpRequest(`${running.url}/topics/chat/room1/subscribers`, { headers: carol })).json();
    assert.equal(room1.subscribers, 4, 'three streams on chat/room1 and the chat/* one');
  });

  test('?presence=1: who is there first, then a join, and a leave only once the grace period is over', async () => {
    const watcher = await open('/topics/chat/lobby?presence=1', await bearer('watcher'));
    await watcher.waitUntil(() => watcher.events.some((event) => event.type === 'ssehub.presence'), 5000, 'the presence snapshot');
    const snapshot = JSON.parse(watcher.events.find((event) => event.type === 'ssehub.presence')!.data);
    assert.deepEqual(snapshot.topic, 'chat/lobby');
    // Who was there when it opened (nobody: its own arrival reaches the cluster's view just after), then its own join.
    assert.deepEqual(snapshot.members, []);
    await watcher.waitUntil(() => watcher.events.some((event) => event.type === 'ssehub.join' && event.data.includes('"watcher"')), 5000, 'the watcher\'s own join');

    const dave = await bearer('dave', { presence: { name: 'Dave' } });
    const first = await open('/topics/chat/lobby', dave);
    await watcher.waitUntil(() => watcher.events.some((event) => event.type === 'ssehub.join' && event.data.includes('"dave"')), 5000, 'dave joins');
    const join = JSON.parse(watcher.events.find((event) => event.type === 'ssehub.join' && event.data.includes('"dave"'))!.data);
    assert.deepEqual(join, { topic: 'chat/lobby', member: { subject: 'dave', info: { name: 'Dave' }, connections: 1 } });

    // A reconnect within the grace period: neither a leave nor a second join.
    first.close();
    await untilValue(() => presenceOf('chat/lobby', dave), (body) => !body.members.some((m: { subject: string }) => m.subject === 'dave'), 'dave to be gone from the list');
    await open('/topics/chat/lobby', dave);
    await untilValue(() => presenceOf('chat/lobby', dave), (body) => body.members.some((m: { subject: string }) => m.subject === 'dave'), 'dave back');
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS * 2));
    const daves = watcher.events.filter((event) => event.data.includes('"dave"')).map((event) => event.type);
    assert.deepEqual(daves, ['ssehub.join'], 'the reconnect was no leave and no join');

    // Gone for longer than the grace period: one leave.
    streams.at(-1)!.close();
    await watcher.waitUntil(() => watcher.events.some((event) => event.type === 'ssehub.leave' && event.data.includes('"dave"')), 5000, 'dave leaves');
    assert.deepEqual(
      watcher.events.filter((event) => event.data.includes('"dave"')).map((event) => event.type),
      ['ssehub.join', 'ssehub.leave'],
    );
    assert.doesNotMatch(watcher.raw(), /id:[^\n]*\nevent: ssehub\.(presence|join|leave)/, 'presence control events carry no id');
    assert.match(watcher.raw(), /\n\nevent: ssehub\.join\n/);
  });

  test('presence info over 1 KiB, or not an object: 400 with a stable code, and no stream', async () => {
    const big = await bearer('big', { presence: { name: 'x'.repeat(1100) } });
    const reply = await httpRequest(`${running.url}/topics/chat/room9`, { headers: big });
    assert.equal(reply.status, 400);
    assert.equal(reply.json().error.code, 'presence_info_too_large');
    const odd = await httpRequest(`${running.url}/topics/chat/room9`, { headers: await bearer('odd', { presence: ['a'] as unknown as Record<string, unknown> }) });
    assert.equal(odd.status, 400);
    assert.equal(odd.json().error.code, 'invalid_presence_info');
  });

  test('reading presence needs the right to subscribe to the topic; a pattern is refused', async () => {
    assert.equal((await httpRequest(`${running.url}/topics/chat/room1/presence`)).status, 401);
    const outsider = await bearer('outsider', { subscribe: ['other/**'] });
    const refused = await httpRequest(`${running.url}/topics/chat/room1/presence`, { headers: outsider });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'forbidden');
    const subscribers = await httpRequest(`${running.url}/topics/chat/room1/subscribers`, { headers: outsider });
    assert.equal(subscribers.status, 403);
    const pattern = await httpRequest(`${running.url}/topics/chat/*/presence`, { headers: await bearer('x') });
    assert.equal(pattern.status, 400);
    assert.equal(pattern.json().error.code, 'invalid_topic');
  });
});
