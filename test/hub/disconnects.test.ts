/**
 * Disconnects across a cluster, on every engine: three hubs on one namespace (one hub on the
 * memory engine), streams on each; a disconnect sent to one hub ends the matching streams on every
 * hub with ssehub.revoked and leaves the others open, and the revoked credentials are refused on
 * every hub afterwards.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const SECRET = 'disconnect-secret-disconnect-secret!';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const userToken = (subject: string, tokenId?: string) =>
  mintToken({ secret: SECRET, subject, subscribe: ['rooms/**', `users/${subject}`], lifetimeSeconds: 600, ...(tokenId === undefined ? {} : { tokenId }) });
const adminToken = () => mintToken({ secret: SECRET, subject: 'operator', admin: true, lifetimeSeconds: 600 });

async function refusal(url: string, token: string): Promise<string> {
  try {
    (await openStream(url, bearer(token))).close();
    return 'opened';
  } catch (error: any) {
    return `${error.status} ${JSON.parse(error.body).error.code}`;
  }
}

function postDisconnect(base: string, token: string, body: unknown) {
  return httpRequest(`${base}/admin/disconnect`, { method: 'POST', headers: { ...bearer(token), 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** Waits until the stream has ended after a ssehub.revoked event; returns that event's data. */
async function revokedWith(stream: OpenStream): Promise<unknown> {
  await stream.waitUntil(() => stream.events.some((event) => event.type === 'ssehub.revoked'), 10_000, 'ssehub.revoked');
  await stream.ended;
  return JSON.parse(stream.events.find((event) => event.type === 'ssehub.revoked')!.data);
}

function checkCluster(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>, instances: number) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('rev');
    const hubs: RunningHub[] = [];
    const streams: OpenStream[] = [];
    const open = async (hub: RunningHub, path: string, token: string) => {
      const stream = await openStream(`${hub.url}${path}`, bearer(token));
      streams.push(stream);
      return stream;
    };
    try {
      for (let i = 0; i < instances; i++) hubs.push(await startTestHub({ engine: url, namespace, jwtSecret: SECRET }));
      const admin = await adminToken();
      const aliceOld = await userToken('alice');
      const carolPhone = await userToken('carol', 'carol-phone');
      const carolLaptop = await userToken('carol', 'carol-laptop');
      const bob = await userToken('bob');

      const alice = await Promise.all(hubs.map((hub) => open(hub, '/topics/users/alice', aliceOld)));
      const phone = await Promise.all(hubs.map((hub) => open(hub, '/topics/users/carol', carolPhone)));
      const laptop = await Promise.all(hubs.map((hub) => open(hub, '/topics/users/carol', carolLaptop)));
      const room = await Promise.all(hubs.map((hub) => open(hub, '/events?topic=rooms/42&topic=users/bob', bob)));
      const lobby = await Promise.all(hubs.map((hub) => open(hub, '/topics/rooms/*', bob)));
      const otherRoom = await Promise.all(hubs.map((hub) => open(hub, '/topics/rooms/7', bob)));

      // By subject, sent to the last hub: alice's streams end everywhere.
      const bySubject = await postDisconnect(hubs.at(-1)!.url, admin, { subject: 'alice' });
      assert.equal(bySubject.status, 202, bySubject.text);
      assert.deepEqual(bySubject.json().disconnect, { subject: 'alice' });
      assert.ok(Date.parse(bySubject.json().refusedUntil) > Date.now());
      for (const stream of alice) assert.deepEqual(await revokedWith(stream), { reason: 'revoked', subject: 'alice' });

      // By token id: the phone's token only, not the laptop's of the same subject.
      assert.equal((await postDisconnect(hubs[0]!.url, admin, { tokenId: 'carol-phone' })).status, 202);
      for (const stream of phone) assert.deepEqual(await revokedWith(stream), { reason: 'revoked', tokenId: 'carol-phone' });

      // By topic: the streams reading rooms/42 (named, or by a pattern over it), not rooms/7.
      const byTopic = await postDisconnect(hubs[0]!.url, admin, { topic: 'rooms/42' });
      assert.equal(byTopic.status, 202);
      assert.equal(byTopic.json().refusedUntil, undefined, 'a topic puts nothing on the deny-list');
      for (const stream of [...room, ...lobby]) assert.deepEqual(await revokedWith(stream), { reason: 'revoked', topic: 'rooms/42' });

      // The streams no disconnect named are still open and still receive, on every hub.
      const published = await httpRequest(`${hubs[0]!.url}/publish`, {
        method: 'POST',
        headers: { ...bearer(await mintToken({ secret: SECRET, subject: 'app', publish: ['**'], lifetimeSeconds: 60 })), 'Content-Type': 'application/json' },
        body: JSON.stringify([
          { topic: 'users/carol', data: 'for carol' },
          { topic: 'rooms/7', data: 'for room 7' },
        ]),
      });
      assert.equal(published.status, 201, published.text);
      for (const stream of [...laptop, ...otherRoom]) {
        await stream.waitUntil(() => stream.events.some((event) => event.data.startsWith('for ')), 10_000, 'an event after the disconnects');
        assert.ok(!stream.events.some((event) => event.type === 'ssehub.revoked'));
      }

      // Reconnects with the revoked credentials are refused on every hub; other tokens are not.
      const aliceNew = await new SignJWT({ ssehub: { subscribe: ['users/alice'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setIssuedAt(Math.floor(Date.now() / 1000) + 2) // signed in again, after the revocation
        .setExpirationTime('10m')
        .sign(Buffer.from(SECRET));
      for (const hub of hubs) {
        assert.equal(await refusal(`${hub.url}/topics/users/alice`, aliceOld), '401 token_revoked');
        assert.equal(await refusal(`${hub.url}/topics/users/carol`, carolPhone), '401 token_revoked');
        assert.equal(await refusal(`${hub.url}/topics/users/carol`, carolLaptop), 'opened');
        assert.equal(await refusal(`${hub.url}/topics/users/alice`, aliceNew), 'opened');
        assert.equal(await refusal(`${hub.url}/topics/rooms/42`, bob), 'opened', 'a topic may be read again');
      }
      assert.equal(hubs.reduce((sum, hub) => sum + hub.hub.stats().streamsRevoked, 0), instances * 4);
    } finally {
      for (const stream of streams) stream.close();
      await Promise.all(hubs.map((running) => running.close()));
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

describe('disconnects', () => {
  test('the memory engine: one hub', checkCluster(async () => ({ url: 'memory', kind: undefined }), 1));
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`disconnects on ${name}`, { skip: check.skipReason() }, () => {
    test('three hubs on one namespace: a disconnect sent to one ends the streams on all, and refuses the credentials on all', checkCluster(async () => ({ url: check.url, kind }), 3));
  });
}
