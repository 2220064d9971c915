/** The Fastify example (examples/fastify), run for real: see support.ts for what every example must do. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp } from '../../examples/fastify/server.js';
import { httpRequest } from '../support/http.js';
import { login, servedExampleSuite, type RunningExample } from './support.js';

servedExampleSuite('Fastify', startApp, { websocket: true });

describe('the Fastify example’s publish bodies', () => {
  let app: RunningExample;
  before(async () => {
    app = await startApp(0, { logLevel: 'silent', maxBodyBytes: 2 * 1024 * 1024, maxBufferBytes: 4 * 1024 * 1024 });
  });
  after(() => app.close());

  it('reach the hub unread by Fastify, whatever their type and size: the hub’s own checks answer', async () => {
    const cookie = await login(app.url, 'alice');
    const publish = (type: string, body: string) =>
      httpRequest(`${app.url}/realtime/topics/users/alice/notes`, { method: 'POST', headers: { Cookie: cookie, 'Content-Type': type }, body });
    // Above Fastify's own 1 MiB bodyLimit, below the hub's --max-body here.
    const large = await publish('text/plain', 'x'.repeat(1.5 * 1024 * 1024));
    assert.equal(large.status, 201, large.text);
    const json = await publish('application/json', '{"a":1}');
    assert.equal(json.status, 201, json.text);
    const form = await publish('application/x-www-form-urlencoded', 'a=1');
    assert.equal(form.status, 415, form.text);
    assert.equal(form.json().error.code, 'unsupported_media_type');
    const tooLarge = await publish('text/plain', 'x'.repeat(2 * 1024 * 1024 + 1));
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal(tooLarge.json().error.code, 'body_too_large');
  });
});
