/**
 * Reading publish bodies (src/http/body.ts) against a real hub: a body cut off by its client is
 * never published in part, and the hub goes on serving.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startTestHub } from '../support/hub.js';

describe('publish bodies', () => {
  it('a client that goes away mid-body publishes nothing, and the next publish works', async () => {
    const hub = await startTestHub();
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: hub.port });
        socket.on('error', reject);
        socket.once('connect', () => {
          socket.write('POST /topics/a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello');
          // Long enough for the hub to have read the part that came, then gone.
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 200);
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(hub.hub.stats().eventsPublished, 0);
      const response = await fetch(`${hub.url}/topics/a`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'whole' });
      assert.equal(response.status, 201);
      assert.equal(hub.hub.stats().eventsPublished, 1);
    } finally {
      await hub.close();
    }
  });
});
