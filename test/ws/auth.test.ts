/** Who may use a WebSocket: tickets, the cookie, a token in the first message; the Origin; grants per message; expiry and revocation close codes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { defaultConfig } from '../../src/config.js';
import { startHub, type RunningHub } from '../../src/start.js';
import { httpRequest } from '../support/http.js';
import { connectWs, refusedUpgrade } from '../support/ws.js';
import { pino } from 'pino';

const SECRET = 'a-websocket-test-secret-of-at-least-32-bytes';

function token(grants: { subscribe?: string[]; publish?: string[] }, subject = 'alice', lifetimeSeconds = 600, tokenId?: string): Promise<string> {
  return mintToken({ secret: SECRET, subject, lifetimeSeconds, ...grants, ...(tokenId === undefined ? {} : { tokenId }) });
}

describe('WebSocket auth', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startHub(
      defaultConfig({ port: 0, jwtSecret: SECRET, publicTopics: ['news/**'], corsOrigins: ['https://app.example'], wsAuthTimeoutMs: 300, statsIntervalMs: 0 }),
      pino({ level: 'silent' }),
    );
  });
  after(() => hub.close());

  test('a token in the first message authenticates; grants are checked on every subscribe and publish', async () => {
    const ws = await connectWs(hub.url);
    ws.send({ type: 'auth', token: await token({ subscribe: ['chat/*'], publish: ['chat/1'] }) });
    assert.deepEqual(await ws.next((m) => m.type === 'ready', 'ready'), { type: 'ready', subject: 'alice', heartbeatMs: 15000 });
    ws.send({ type: 'subscribe', topics: ['secret/1'], ref: 'no' });
    assert.equal((await ws.next((m) => m.ref === 'no', 'the refusal')).code, 'forbidden');
    ws.send({ type: 'subscribe', topics: ['chat/1'], ref: 'yes' });
    await ws.next((m) => m.ref === 'yes' && m.type === 'ack', 'the ack');
    ws.send({ type: 'publish', topic: 'chat/2', data: 'x', ref: 'p-no' });
    assert.equal((await ws.next((m) => m.ref === 'p-no', 'the refusal')).code, 'forbidden');
    ws.send({ type: 'publish', topic: 'chat/1', data: 'hi', ref: 'p-yes' });
    const ack = await ws.next((m) => m.ref === 'p-yes', 'the ack');
    assert.equal(ack.type, 'ack');
    assert.equal((await ws.next((m) => m.data === 'hi', 'the event')).id, ack.id);
    ws.send({ type: 'auth', token: 'another', ref: 'again' });
    assert.equal((await ws.next((m) => m.ref === 'again', 'the refusal')).code, 'already_authenticated');
    ws.close();
  });

  test('nothing is accepted before auth: another first message closes with 4001, silence with 4002, a bad token with 4001', async () => {
    const early = await connectWs(hub.url);
    early.send({ type: 'subscribe', topics: ['news/1'] });
    assert.equal((await early.closed).code, 4001);
    assert.equal(early.messages.length, 0);
    const silent = await connectWs(hub.url);
    assert.equal((await silent.closed).code, 4002);
    const forged = await connectWs(hub.url);
    forged.send({ type: 'auth', token: 'not-a-jwt' });
    const { code, reason } = await forged.closed;
    assert.equal(code, 4001);
    assert.match(reason, /^invalid_token/);
    const anonymous = await connectWs(hub.url);
    anonymous.send({ type: 'auth' });
    await anonymous.next((m) => m.type === 'ready', 'ready');
    anonymous.send({ type: 'subscribe', topics: ['news/today'], ref: 'public' });
    await anonymous.next((m) => m.ref === 'public' && m.type === 'ack', 'public topics without a token');
    anonymous.close();
  });

  test('a one-shot ticket in the query, a bearer header or the cookie authenticate at the upgrade; a refused one is the HTTP answer', async () => {
    const t = await token({ subscribe: ['orders/*'] }, 'bob');
    const ticket = (await httpRequest(`${hub.url}/tickets`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{"topics":["orders/5"]}' })).json().ticket;
    const viaTicket = await connectWs(hub.url, { query: `?ticket=${ticket}` });
    assert.equal((await viaTicket.next((m) => m.type === 'ready', 'ready')).subject, 'bob');
    viaTicket.send({ type: 'subscribe', topics: ['orders/6'], ref: 'other' });
    assert.equal((await viaTicket.next((m) => m.ref === 'other', 'the refusal')).code, 'forbidden', 'a ticket grants its own topics only');
    viaTicket.close();
    assert.deepEqual(await refusedUpgrade(connectWs(hub.url, { query: `?ticket=${ticket}` })), { status: 401, code: 'invalid_ticket' });

    const viaHeader = await connectWs(hub.url, { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await viaHeader.next((m) => m.type === 'ready', 'ready')).subject, 'bob');
    viaHeader.close();
    const viaCookie = await connectWs(hub.url, { headers: { cookie: `ssehub_token=${t}`, origin: 'https://app.example' } });
    assert.equal((await viaCookie.next((m) => m.type === 'ready', 'ready')).subject, 'bob');
    viaCookie.close();
    assert.deepEqual(await refusedUpgrade(connectWs(hub.url, { headers: { authorization: 'Bearer nope' } })), { status: 401, code: 'invalid_token' });
  });

  test('a page of another origin is refused before any credential is looked at', async () => {
    const t = await token({ subscribe: ['orders/*'] });
    assert.deepEqual(await refusedUpgrade(connectWs(hub.url, { headers: { origin: 'https://evil.example', cookie: `ssehub_token=${t}` } })), { status: 403, code: 'origin_not_allowed' });
    const own = new URL(hub.url).host;
    const sameOrigin = await connectWs(hub.url, { headers: { origin: `http://${own}`, cookie: `ssehub_token=${t}` } });
    await sameOrigin.next((m) => m.type === 'ready', 'ready');
    sameOrigin.close();
  });

  test('expiry closes with 4004, a disconnect of the subject with 4003', async () => {
    const shortLived = await connectWs(hub.url);
    shortLived.send({ type: 'auth', token: await token({ subscribe: ['chat/*'] }, 'carol', 1) });
    await shortLived.next((m) => m.type === 'ready', 'ready');
    assert.equal((await shortLived.closed).code, 4004);

    const admin = await mintToken({ secret: SECRET, subject: 'ops', lifetimeSeconds: 600, admin: true });
    const revoked = await connectWs(hub.url);
    revoked.send({ type: 'auth', token: await token({ subscribe: ['chat/*'] }, 'dave') });
    revoked.send({ type: 'subscribe', topics: ['chat/9'], ref: 's' });
    await revoked.next((m) => m.event === 'ssehub.position', 'the position');
    const answer = await httpRequest(`${hub.url}/admin/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"subject":"dave"}' });
    assert.equal(answer.status, 202);
    assert.equal((await revoked.closed).code, 4003);
    assert.equal(revoked.events().at(-1).event, 'ssehub.revoked');

    // A connection of the subject without a stream learns it at its next message.
    const idle = await connectWs(hub.url, { headers: { authorization: `Bearer ${await token({ publish: ['chat/*'] }, 'erin')}` } });
    await idle.next((m) => m.type === 'ready', 'ready');
    await httpRequest(`${hub.url}/admin/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"subject":"erin"}' });
    idle.send({ type: 'publish', topic: 'chat/1', data: 'after', ref: 'late' });
    assert.equal((await idle.closed).code, 4003);
    assert.equal(idle.messages.some((m) => m.ref === 'late'), false, 'nothing published after the revocation');
  });
});
