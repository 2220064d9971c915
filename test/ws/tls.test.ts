/** WebSockets on the hub's TLS port (which serves HTTP/2 and HTTP/1.1): wss:// upgrades over HTTP/1.1. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { makeCertificate } from '../../src/cli/cert.js';
import { WS_SUBPROTOCOL } from '../../src/protocol/index.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { until } from '../support/wait.js';

let dir: string;
let hub: RunningHub;
let ca: Buffer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssehub-wss-'));
  const made = await makeCertificate({ dir });
  ca = readFileSync(made.certFile);
  hub = await startTestHub({ tlsCertFile: made.certFile, tlsKeyFile: made.keyFile });
});
after(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a wss:// client subscribes and gets a published event', async () => {
  const socket = new WebSocket(`${hub.url.replace('https', 'wss')}/ws`, [WS_SUBPROTOCOL], { ca });
  const messages: any[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'subscribe', topics: ['secure'] }));
  socket.send(JSON.stringify({ type: 'publish', topic: 'secure', data: 'over tls', ref: 'p' }));
  await until(() => messages.some((m) => m.data === 'over tls'), 'the event over TLS');
  assert.equal(messages.find((m) => m.ref === 'p').type, 'ack');
  socket.close();
});
