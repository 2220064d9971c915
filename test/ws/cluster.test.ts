/**
 * WebSocket and SSE clients on different hub instances of one cluster, on every shared engine: the
 * same events (published over WebSocket on one, over HTTP on the other) in the same order with the
 * same ids, ephemeral events on both, and WebSocket members counted by presence cluster-wide.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { untilValue } from '../support/wait.js';
import { connectWs, type TestSocket } from '../support/ws.js';

const SECRET = 'websocket-cluster-secret-of-at-least-32-bytes';
const EVENTS = 20;

const tokenOf = (subject: string) => mintToken({ subject, secret: SECRET, lifetimeSeconds: 600, subscribe: ['chat/**'], publish: ['chat/**'], presence: { name: subject } });

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`WebSocket and SSE across two hubs on ${name}`, { skip: check.skipReason() }, () => {
    const namespace = freshNamespace('ws');
    let a: RunningHub;
    let b: RunningHub;
    const sockets: TestSocket[] = [];
    let sse: OpenStream | undefined;
    before(async () => {
      const settings = { engine: check.url, namespace, jwtSecret: SECRET, presence: ['chat/**'], presenceGraceMs: 100, publishRate: 0 };
      [a, b] = await Promise.all([startTestHub(settings), startTestHub(settings)]);
    });
    after(async () => {
      for (const socket of sockets) socket.close();
      sse?.close();
      await Promise.all([a?.close(), b?.close()]);
      await removeNamespace(kind, check.url, namespace);
    });

    const join = async (hub: RunningHub, subject: string): Promise<TestSocket> => {
      const socket = await connectWs(hub.url, { headers: { authorization: `Bearer ${await tokenOf(subject)}` } });
      sockets.push(socket);
      socket.send({ type: 'subscribe', topics: ['chat/room'], sub: 'room' });
      await socket.next((m) => m.event === 'ssehub.position', `${subject}'s position`);
      return socket;
    };

    test('the same events in the same order with the same ids, whichever transport and instance; presence counts WebSocket members', async () => {
      const alice = await join(a, 'alice');
      const bob = await join(b, 'bob');
      sse = await openStream(`${b.url}/topics/chat/room`, { authorization: `Bearer ${await tokenOf('carol')}` });
      await sse.waitUntil(() => sse!.positions.length > 0);

      for (let i = 0; i < EVENTS; i++) {
        if (i % 2 === 0) alice.send({ type: 'publish', topic: 'chat/room', data: `m${i}`, ref: `m${i}` });
        else await httpRequest(`${b.url}/topics/chat/room`, { method: 'POST', headers: { authorization: `Bearer ${await tokenOf('dave')}`, 'content-type': 'text/plain' }, body: `m${i}` });
      }
      const stored = (socket: TestSocket) => socket.events().filter((e) => e.topic === 'chat/room' && e.id !== undefined);
      await alice.next(() => stored(alice).length === EVENTS, 'every event on alice');
      await bob.next(() => stored(bob).length === EVENTS, 'every event on bob');
      const overSse = await sse.waitForEvents(EVENTS);
      const order = stored(alice).map((e) => [e.id, e.data]);
      assert.deepEqual(stored(bob).map((e) => [e.id, e.data]), order);
      assert.deepEqual(overSse.map((e) => [e.lastEventId, e.data]), order);
      assert.deepEqual(new Set(order.map(([, data]) => data)), new Set(Array.from({ length: EVENTS }, (_, i) => `m${i}`)));

      bob.send({ type: 'publish', topic: 'chat/room', event: 'typing', data: 'bob', ephemeral: true });
      await alice.next((m) => m.event === 'typing' && m.ephemeral === true, 'the ephemeral event on the other instance');
      await sse.waitUntil(() => sse!.events.some((e) => e.type === 'typing'));

      const presence = await untilValue(
        async () => (await httpRequest(`${a.url}/topics/chat/room/presence`, { headers: { authorization: `Bearer ${await tokenOf('viewer')}` } })).json(),
        (body) => body.members?.length === 3,
        'the three members on hub a',
      );
      assert.deepEqual(presence.members.map((m: { subject: string }) => m.subject).sort(), ['alice', 'bob', 'carol']);
      alice.close();
      await untilValue(
        async () => (await httpRequest(`${b.url}/topics/chat/room/presence`, { headers: { authorization: `Bearer ${await tokenOf('viewer')}` } })).json(),
        (body) => body.members?.length === 2,
        'alice to leave when her WebSocket closes',
      );
    });
  });
}
