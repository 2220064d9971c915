/**
 * The standalone server's 'upgrade' listener: an upgrade to a path that is not the WebSocket door is
 * answered 404, on a socket node:http has let go of. A client that resets it then must not crash
 * the hub (the fuzz test in malformed-requests.test.ts found it: an unhandled ECONNRESET).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, test } from 'node:test';
import { httpRequest } from '../../support/http.js';
import { spawnHub, type HubProcess } from '../../support/hub.js';

let hub: HubProcess | undefined;
after(async () => hub?.stop());

test('an upgrade to another path is answered 404, and a reset after it leaves the hub running', async () => {
  hub = await spawnHub();
  const { port } = new URL(hub.url);
  for (let i = 0; i < 20; i++) {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('GET /not-the-door HTTP/1.1\r\nHost: hub\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      });
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        // The answer is in: reset the connection the hub has ended but not yet seen closed.
        if (received.includes('\r\n\r\n')) {
          socket.resetAndDestroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 404 /);
    assert.match(answer, /"code":"not_found"/);
  }
  const health = await httpRequest(`${hub.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(hub.child.exitCode, null, `the hub exited:\n${hub.output().slice(-2000)}`);
});
