/**
 * Presence across a cluster, on every engine: three hub processes on one namespace.
 * - members and counts are the cluster's, whichever hub is asked;
 * - a SIGKILLed hub's members leave within twice the TTL, and nobody else does;
 * - topic.occupied / topic.vacated happen once per transition: every hub sees the same
 *   transitions, and exactly one of them is where it was caused (embedded hubs, in process).
 * And the workers of one --workers hub share presence on the memory engine.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { createHub, type EmbeddedHub } from '../../src/create-hub.js';
import type { PresenceChange } from '../../src/presence/presence.js';
import { spawnHub, type HubProcess } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { untilValue } from '../support/wait.js';

const SECRET = 'presence-cluster-secret-of-at-least-32-bytes';
const TTL_MS = 2000;
const GRACE_MS = 300;
const bearer = async (subject: string) => ({ Authorization: `Bearer ${await mintToken({ subject, secret: SECRET, lifetimeSeconds: 600, subscribe: ['chat/**'], presence: { name: subject } })}` });

const subjectsOf = (body: { members: Array<{ subject: string }> }) => body.members.map((member) => member.subject).sort();

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`presence across three hubs on ${name}`, { skip: check.skipReason() }, () => {
    const namespace = freshNamespace('pres');
    const hubs: HubProcess[] = [];
    const streams: OpenStream[] = [];
    const embedded: Array<{ hub: EmbeddedHub; server: Server }> = [];
    after(async () => {
      for (const stream of streams) stream.close();
      await Promise.all(hubs.map((hub) => hub.stop()));
      for (const { hub, server } of embedded) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await hub.close();
      }
      await removeNamespace(kind, check.url, namespace);
    });

    test('members and counts are the cluster\'s; a SIGKILLed hub\'s members leave within twice the TTL, nobody else', async () => {
      const args = ['--engine', check.url, '--namespace', namespace, '--jwt-secret', SECRET, '--presence', 'chat/**', '--presence-ttl', `${TTL_MS}ms`, '--presence-grace', `${GRACE_MS}ms`];
      hubs.push(...(await Promise.all([spawnHub(args), spawnHub(args), spawnHub(args)])));
      const [a, b, c] = hubs as [HubProcess, HubProcess, HubProcess];
      const open = async (url: string, path: string, headers: Record<string, string>) => {
        const stream = await openStream(`${url}${path}`, headers);
        assert.equal(stream.status, 200, stream.raw());
        streams.push(stream);
        return stream;
      };
      await open(a.url, '/topics/chat/room', await bearer('alice'));
      await open(a.url, '/topics/chat/room', await bearer('alice'));
      await open(b.url, '/topics/chat/room', await bearer('bob'));
      const watcher = await open(c.url, '/topics/chat/room?presence=1', await bearer('carol'));
      const viewer = await bearer('viewer');
      for (const hub of hubs) {
        const body = await untilValue(
          async () => (await httpRequest(`${hub.url}/topics/chat/room/presence`, { headers: viewer })).json(),
          (reply) => reply.subscribers === 4 && reply.members?.length === 3,
          `hub ${hub.url} to see the cluster`,
        );
        assert.deepEqual(subjectsOf(body), ['alice', 'bob', 'carol']);
        assert.equal(body.members.find((member: { subject: string }) => member.subject === 'alice').connections, 2);
      }

      a.child.kill('SIGKILL');
      const killedAt = Date.now();
      await watcher.waitUntil(() => watcher.events.some((event) => event.type === 'ssehub.leave' && event.data.includes('"alice"')), 4 * TTL_MS, 'alice to leave');
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs <= 2 * TTL_MS + 1000, `alice left ${tookMs} ms after the kill; the bound is twice the TTL (${2 * TTL_MS} ms), plus a second for a shared machine`);
      const body = (await httpRequest(`${b.url}/topics/chat/room/presence`, { headers: viewer })).json();
      assert.deepEqual(subjectsOf(body), ['bob', 'carol']);
      assert.equal(body.subscribers, 2);
      assert.ok(!watcher.events.some((event) => event.type === 'ssehub.leave' && !event.data.includes('"alice"')), 'nobody else left');
      // Stopped now, not after the file: three hubs at a time keep within PostgreSQL's connections.
      for (const stream of streams) stream.close();
      await Promise.all(hubs.map((hub) => hub.stop()));
    });

    test('occupied and vacated: once per transition, seen by every hub, caused on exactly one', async () => {
      const embeddedNamespace = freshNamespace('occ');
      for (let i = 0; i < 3; i++) {
        const hub = await createHub({ engine: check.url, namespace: embeddedNamespace, logLevel: 'silent', presenceGraceMs: GRACE_MS, presenceTtlMs: TTL_MS });
        const server = createServer(hub.handle);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        embedded.push({ hub, server });
      }
      try {
        const seen = embedded.map(() => [] as Array<{ kind: string } & PresenceChange>);
        embedded.forEach(({ hub }, i) => {
          for (const kind of ['occupied', 'vacated'] as const) hub.on(kind, (change) => seen[i]!.push({ kind, ...change }));
        });
        const urls = embedded.map(({ server }) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        // Rounds of streams opened on every hub at once, then all closed at once: each round is one
        // occupied and one vacated of each topic, whichever hub's stream came first or went last.
        const ROUNDS = 4;
        const topics = ['room/a', 'room/b'];
        for (let round = 0; round < ROUNDS; round++) {
          const opened = await Promise.all(urls.flatMap((url) => topics.map((topic) => openStream(`${url}/topics/${topic}`))));
          await untilValue(async () => embedded[0]!.hub.presence('room/a').subscribers + embedded[0]!.hub.presence('room/b').subscribers, (n) => n === 6, 'every stream to count');
          for (const stream of opened) stream.close();
          await untilValue(async () => embedded[0]!.hub.presence('room/a').subscribers + embedded[0]!.hub.presence('room/b').subscribers, (n) => n === 0, 'every stream to close');
        }
        await untilValue(async () => seen.map((list) => list.length), (lengths) => lengths.every((n) => n === ROUNDS * 2 * topics.length), 'every hub to see every transition');
        for (const topic of topics) {
          const sequences = seen.map((list) => list.filter((change) => change.topic === topic).map((change) => change.kind));
          const expected = Array.from({ length: ROUNDS }, () => ['occupied', 'vacated']).flat();
          for (const sequence of sequences) assert.deepEqual(sequence, expected, `${topic}: one occupied and one vacated per round, on every hub`);
          const caused = seen.flatMap((list) => list.filter((change) => change.topic === topic && change.causedHere));
          assert.equal(caused.length, ROUNDS * 2, `${topic}: each transition caused on exactly one hub`);
        }
      } finally {
        await removeNamespace(kind, check.url, embeddedNamespace);
      }
    });
  });
}

describe('presence across the workers of one hub (memory engine)', () => {
  let hub: HubProcess | undefined;
  const streams: OpenStream[] = [];
  after(async () => {
    for (const stream of streams) stream.close();
    await hub?.stop();
  });

  test('every worker answers with the streams of all of them', async () => {
    hub = await spawnHub(['--workers', '2', '--jwt-secret', SECRET, '--presence', 'chat/**']);
    const subjects = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    // Separate connections: the kernel spreads them over the workers.
    for (const subject of subjects) streams.push(await openStream(`${hub.url}/topics/chat/workers`, await bearer(subject)));
    const viewer = await bearer('viewer');
    for (let i = 0; i < 4; i++) {
      const body = await untilValue(
        async () => (await httpRequest(`${hub!.url}/topics/chat/workers/presence`, { headers: { ...viewer, Connection: 'close' } })).json(),
        (reply) => reply.members?.length === subjects.length,
        'all six members',
      );
      assert.deepEqual(subjectsOf(body), subjects);
      assert.equal(body.subscribers, subjects.length);
    }
  });
});
