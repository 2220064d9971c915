/**
 * POST /admin/disconnect over real HTTP: who may call it, the refusals of a bad body with their
 * stable codes, and the deny-list reaching every way a token is used (streams, publishes, tickets).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, openStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';

const SECRET = 'disconnect-route-secret-disconnect!!';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function post(url: string, body: string, headers: Record<string, string> = {}) {
  return httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}

describe('POST /admin/disconnect', () => {
  let hub: RunningHub;
  let admin: string;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, jwtMaxLifetimeMs: 3_600_000 });
    admin = await mintToken({ secret: SECRET, subject: 'operator', admin: true, lifetimeSeconds: 600 });
  });
  after(() => hub.close());

  test('without a credential: 401 token_required; without the admin grant: 403 forbidden', async () => {
    const anonymous = await post(`${hub.url}/admin/disconnect`, '{"subject":"alice"}');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json().error.code, 'token_required');
    const user = await mintToken({ secret: SECRET, subject: 'alice', subscribe: ['**'], publish: ['**'], lifetimeSeconds: 600 });
    const forbidden = await post(`${hub.url}/admin/disconnect`, '{"subject":"alice"}', bearer(user));
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.json().error.code, 'forbidden');
    assert.match(forbidden.json().error.message, /POST \/admin\/disconnect/);
  });

  test('a body without exactly one criterion, or of a wrong type: 400 with a stable code', async () => {
    const cases: Array<[string, string]> = [
      ['{}', 'invalid_disconnect'],
      ['{"subject":"alice","topic":"rooms/1"}', 'invalid_disconnect'],
      ['{"subject":42}', 'invalid_disconnect'],
      ['{"tokenId":""}', 'invalid_disconnect'],
      ['{"user":"alice"}', 'invalid_disconnect'],
      ['["alice"]', 'invalid_disconnect'],
      ['"alice"', 'invalid_disconnect'],
      ['{"topic":"rooms/*"}', 'invalid_topic'],
      ['{"subject":', 'invalid_json'],
    ];
    for (const [body, code] of cases) {
      const reply = await post(`${hub.url}/admin/disconnect`, body, bearer(admin));
      assert.equal(reply.status, 400, body);
      assert.equal(reply.json().error.code, code, body);
    }
    const text = await httpRequest(`${hub.url}/admin/disconnect`, { method: 'POST', headers: { ...bearer(admin), 'Content-Type': 'text/plain' }, body: 'alice' });
    assert.equal(text.status, 415);
    const get = await httpRequest(`${hub.url}/admin/disconnect`, { headers: bearer(admin) });
    assert.equal(get.status, 405);
  });

  test('a revoked token id is refused for streams, publishes and tickets, and a ticket made before is refused too', async () => {
    const token = await mintToken({ secret: SECRET, subject: 'dave', tokenId: 'dave-1', subscribe: ['notes'], publish: ['notes'], lifetimeSeconds: 600 });
    const ticketReply = await post(`${hub.url}/tickets`, '{"topics":["notes"]}', bearer(token));
    assert.equal(ticketReply.status, 201);
    const { ticket } = ticketReply.json();
    const accepted = await post(`${hub.url}/admin/disconnect`, '{"tokenId":"dave-1"}', bearer(admin));
    assert.equal(accepted.status, 202);
    // The deny-list lasts as long as a token may live here (--jwt-max-lifetime 1h).
    const until = Date.parse(accepted.json().refusedUntil) - Date.now();
    assert.ok(until > 3_500_000 && until <= 3_600_000, `refused for ${until} ms`);

    const published = await httpRequest(`${hub.url}/topics/notes`, { method: 'POST', headers: { ...bearer(token), 'Content-Type': 'text/plain' }, body: 'hi' });
    assert.equal(published.status, 401);
    assert.equal(published.json().error.code, 'token_revoked');
    const another = await post(`${hub.url}/tickets`, '{"topics":["notes"]}', bearer(token));
    assert.equal(another.json().error.code, 'token_revoked');
    await assert.rejects(openStream(`${hub.url}/topics/notes?ticket=${ticket}`), (error: any) => error.status === 401 && JSON.parse(error.body).error.code === 'token_revoked');
  });

  test('on a hub without keys anyone reaching it may disconnect (as they may read /stats)', async () => {
    const open = await startTestHub();
    try {
      const stream = await openStream(`${open.url}/topics/rooms/1`);
      const reply = await post(`${open.url}/admin/disconnect`, '{"topic":"rooms/1"}');
      assert.equal(reply.status, 202);
      await stream.waitUntil(() => stream.events.some((event) => event.type === 'ssehub.revoked'), 5000, 'ssehub.revoked');
      await stream.ended;
    } finally {
      await open.close();
    }
  });
});
