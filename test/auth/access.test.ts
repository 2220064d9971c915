import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';

describe('access assembled from the configuration', () => {
  test('--auth-url alone turns access control on: a request without a credential gets no open grants', async () => {
    // Nothing listens there: a request that must be asked about fails closed.
    const hub = await startTestHub({ authUrl: 'http://127.0.0.1:9/auth', publicTopics: ['news/**'] });
    try {
      assert.equal(hub.access.enabled, true);
      assert.equal(hub.access.verifier, undefined);
      assert.equal(typeof hub.access.authorize, 'function');
      assert.deepEqual([hub.access.anonymous.publish, hub.access.anonymous.subscribe], [[], []]);
      const reply = await httpRequest(`${hub.url}/topics/orders/1`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
      assert.equal(reply.status, 503);
      assert.equal(reply.json().error.code, 'auth_unavailable');
    } finally {
      await hub.close();
    }
  });

  test('without a key or --auth-url the hub is open, and forward auth is not set up', async () => {
    const hub = await startTestHub();
    try {
      assert.equal(hub.access.enabled, false);
      assert.equal(hub.access.authorize, undefined);
    } finally {
      await hub.close();
    }
  });

  test('an --auth-url that is not http(s) stops the hub from starting, without loadConfig too', async () => {
    await assert.rejects(startTestHub({ authUrl: 'ftp://127.0.0.1/auth' }), { code: 'invalid_config', message: /--auth-url must be an http:\/\/ or https:\/\/ URL/ });
    await assert.rejects(startTestHub({ authUrl: 'http://127.0.0.1:9/auth', authTimeoutMs: 0 }), { code: 'invalid_config', message: /--auth-timeout/ });
  });
});
