/** connect(): the typed client over WebSocket against a real hub: acks, resume across drops, the reset signal, refusals. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { connect, HubResponseError, RevokedError, type Connection } from '../../src/client/index.js';
import type { StateChange } from '../../src/client/subscribe.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const SECRET = 'client-connect-secret-of-at-least-32-bytes!';
const token = (subject: string, grants: { subscribe?: string[]; publish?: string[] } = { subscribe: ['**'], publish: ['**'] }) =>
  mintToken({ secret: SECRET, subject, lifetimeSeconds: 600, ...grants });

describe('connect()', () => {
  let hub: RunningHub;
  let proxy: TcpProxy;
  const connections: Connection[] = [];
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, publishRate: 0 });
    proxy = await startTcpProxy(hub.url);
  });
  after(async () => {
    for (const connection of connections) connection.close();
    await proxy.close();
    await hub.close();
  });
  const open = (options: Partial<Parameters<typeof connect>[0]> = {}) => {
    const connection = connect({ url: hub.url, backoff: { initialDelayMs: 50, maxDelayMs: 200 }, ...options });
    connections.push(connection);
    return connection;
  };
  const publishOverHttp = async (topic: string, data: string) =>
    (await httpRequest(`${hub.url}/topics/${topic}`, { method: 'POST', headers: { authorization: `Bearer ${await token('svc')}`, 'content-type': 'text/plain' }, body: data })).json().id as string;

  test('publishes with acks and receives its own events (the ws package, imported on demand where there is no global WebSocket)', async () => {
    const connection = open({ token: () => token('alice') });
    const received: Array<{ id: string; topic: string; data: unknown; ephemeral: boolean }> = [];
    connection.subscribe('room/1', { decode: 'json', onEvent: ({ id, topic, data, ephemeral }) => void received.push({ id, topic, data, ephemeral }) });
    const published = await connection.publish('room/1', { text: 'hi' }, { event: 'chat' });
    assert.match(published.id!, /\S/);
    await until(() => received.length === 1, 'the event');
    assert.deepEqual(received[0], { id: published.id, topic: 'room/1', data: { text: 'hi' }, ephemeral: false });
    const typing = await connection.publish('room/1', { typing: 'alice' }, { ephemeral: true });
    assert.deepEqual(typing, { topic: 'room/1' });
    await until(() => received.length === 2, 'the ephemeral event');
    assert.deepEqual(received[1], { id: '', topic: 'room/1', data: { typing: 'alice' }, ephemeral: true });
    connection.close();
    await connection.done;
  });

  test('after a drop it reconnects and resumes every subscription from its last id: nothing missed, nothing twice', async () => {
    const states: StateChange['state'][] = [];
    const connection = open({ url: proxy.url, token: () => token('bob'), onStateChange: (change) => void states.push(change.state) });
    const subscription = connection.subscribe('feed/a');
    const seen: string[] = [];
    const reading = (async () => {
      for await (const item of subscription) {
        if (item.kind === 'event') seen.push(item.data as string);
        if (seen.length === 4) return;
      }
    })();
    await until(() => connection.state === 'open' && subscription.lastEventId !== '', 'the subscription to be placed');
    await publishOverHttp('feed/a', 'one');
    await until(() => seen.length === 1, 'the first event');
    proxy.cutAll();
    await until(() => states.includes('reconnecting'), 'the drop to be noticed');
    await publishOverHttp('feed/a', 'two');
    await publishOverHttp('feed/a', 'three');
    await until(() => connection.state === 'open', 'the reconnect');
    await publishOverHttp('feed/a', 'four');
    await reading;
    assert.deepEqual(seen, ['one', 'two', 'three', 'four']);
    connection.close();
  });

  test('an id the hub cannot place gives the reset signal; refusals reject with the hub\'s code', async () => {
    const connection = open({ token: () => token('carol', { subscribe: ['mine/**'], publish: ['mine/**'] }) });
    const resets: string[] = [];
    connection.subscribe('mine/x', { lastEventId: 'from-another-run', onReset: (signal) => void resets.push(signal.reason) });
    await until(() => resets.length === 1, 'the reset');
    assert.deepEqual(resets, ['unknown-id']);
    await assert.rejects(connection.publish('theirs/x', 'no'), (error: unknown) => error instanceof HubResponseError && error.code === 'forbidden' && error.status === 403);
    connection.close();
  });

  test('a refused credential and a revocation are final: no reconnect, done rejects', async () => {
    const refused = open({ token: 'not-a-token' });
    await assert.rejects(refused.done, (error: unknown) => error instanceof HubResponseError && error.code === 'unauthorized');
    assert.equal(refused.state, 'closed');

    const revoked = open({ token: () => token('mallory') });
    revoked.subscribe('x/1', { onEvent: () => {} });
    await until(() => revoked.state === 'open', 'open');
    const admin = await mintToken({ secret: SECRET, subject: 'ops', lifetimeSeconds: 600, admin: true });
    await until(async () => hub.hub.stats().connections === 1, 'the subscription');
    await httpRequest(`${hub.url}/admin/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"subject":"mallory"}' });
    await assert.rejects(revoked.done, (error: unknown) => error instanceof RevokedError && error.criterion.subject === 'mallory');
  });
});
