/** A WebSocket under load and bad input: slow clients cut at --max-buffer and counted, dead peers dropped by the heartbeat, fuzzed frames and messages that never crash the hub. */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { WS_SUBPROTOCOL } from '../../src/protocol/index.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest, publish } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { mulberry32 } from '../support/prng.js';
import { until } from '../support/wait.js';
import { connectWs } from '../support/ws.js';

async function metric(base: string, line: RegExp): Promise<number> {
  const text = (await httpRequest(`${base}/metrics`)).text;
  const match = line.exec(text);
  return match === null ? 0 : Number(match[1]);
}

function handshake(): string {
  return `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Protocol: ${WS_SUBPROTOCOL}\r\n\r\n`;
}

/** One WebSocket frame as a client writes it (masked), or bent: unmasked, unfinished, its length a lie. */
function frame(opcode: number, payload: Buffer, { fin = true, mask = true, lie = 0 } = {}): Buffer {
  const key = randomBytes(4);
  const length = payload.length + lie;
  const head = length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, (mask ? 0x80 : 0) | length]) : Buffer.from([(fin ? 0x80 : 0) | opcode, (mask ? 0x80 : 0) | 126, length >> 8, length & 0xff]);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= key[i % 4]!;
  return Buffer.concat([head, mask ? key : Buffer.alloc(0), body]);
}

/** A raw TCP connection upgraded to a WebSocket at `base`: nothing reads it but what the test does. */
function rawUpgrade(base: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    socket.once('data', (chunk) => (chunk.toString().startsWith('HTTP/1.1 101') ? resolve(socket) : reject(new Error(chunk.toString()))));
    socket.once('error', reject);
    socket.write(handshake());
  });
}

describe('WebSocket limits', () => {
  let hub: RunningHub;
  before(async () => {
    // No heartbeat here: the raw sockets below answer no ping (the heartbeat has its own hub).
    hub = await startTestHub({ maxBufferBytes: 64 * 1024, heartbeatMs: 0, publishRate: 0, publishBytesRate: 0 });
  });
  after(() => hub.close());

  test('a client that stops reading is closed at --max-buffer (4008) and counted', async () => {
    const slow = await rawUpgrade(hub.url);
    slow.write(frame(0x1, Buffer.from(JSON.stringify({ type: 'subscribe', topics: ['flood'] }))));
    await until(() => hub.hub.stats().connections === 1, 'the subscription');
    // It reads nothing from now on.
    slow.pause();
    // The kernel's buffers on both sides of a loopback connection take a few MB before the hub's
    // own buffer fills (see test/http/slow-consumers.test.ts): publish until the hub cuts it off.
    const batch = JSON.stringify([0, 1, 2].map((n) => ({ topic: 'flood', data: `${n}`.padEnd(16 * 1024, 'x') })));
    for (let i = 0; i < 2000 && hub.hub.stats().slowConsumersDropped === 0; i++) {
      const reply = await httpRequest(`${hub.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batch });
      assert.equal(reply.status, 201, reply.text);
    }
    await until(async () => (await metric(hub.url, /^ssehub_ws_slow_consumers_total (\d+)/m)) === 1, 'the slow consumer counted');
    assert.equal(await metric(hub.url, /^ssehub_ws_closed_total\{code="4008"\} (\d+)/m), 1);
    assert.ok((await metric(hub.url, /^ssehub_slow_consumers_dropped_total (\d+)/m)) >= 1);
    slow.destroy();
  });

  test('a peer that stops answering pings is dropped; one that answers stays', async () => {
    const beating = await startTestHub({ heartbeatMs: 150 });
    try {
      const deaf = new WebSocket(`${beating.url.replace('http', 'ws')}/ws`, [WS_SUBPROTOCOL], { autoPong: false });
      const alive = await connectWs(beating.url);
      let pings = 0;
      alive.socket.on('ping', () => (pings += 1));
      const closed = new Promise<number>((resolve) => deaf.once('close', (code) => resolve(code)));
      assert.equal(await closed, 1006, 'cut without a closing handshake');
      await until(() => pings >= 3, 'three pings answered');
      assert.equal(alive.socket.readyState, WebSocket.OPEN);
      alive.close();
    } finally {
      await beating.close();
    }
  });

  test('random and malformed frames on a raw socket never crash the hub', async () => {
    const random = mulberry32(23);
    const attacks: Array<() => Buffer> = [
      () => randomBytes(1 + Math.floor(random() * 200)), // noise
      () => frame(0x1, Buffer.from([0xc3, 0x28, 0xff])), // text that is not UTF-8
      () => frame(0x1, Buffer.from('{"type":"publish"}'), { mask: false }), // unmasked client frame
      () => frame(0x3 + Math.floor(random() * 5), randomBytes(8)), // reserved opcodes
      () => frame(0x9, randomBytes(200)), // a control frame over 125 bytes
      () => frame(0x8, Buffer.from([0x03])), // a close with a one-byte code
      () => frame(0x1, Buffer.from('{"type":"subscribe","topics":["a"]}'), { fin: false }), // a fragment never finished
      () => frame(0x0, Buffer.from('continuation without a start')),
      () => frame(0x1, Buffer.from('{"type":'), { lie: 300 }), // a length longer than what comes
      () => Buffer.concat([frame(0x1, Buffer.from(JSON.stringify({ type: 'auth' }))), randomBytes(32)]),
    ];
    for (let round = 0; round < 60; round++) {
      const attack = attacks[round % attacks.length]!;
      const socket = await rawUpgrade(hub.url);
      await new Promise<void>((resolve) => {
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
        socket.write(attack());
        setImmediate(() => socket.end());
      });
    }
    assert.equal((await httpRequest(`${hub.url}/livez`)).status, 200);
    const ws = await connectWs(hub.url);
    ws.send({ type: 'subscribe', topics: ['after/fuzz'] });
    await ws.next((m) => m.event === 'ssehub.position', 'the position');
    await publish(hub.url, 'after/fuzz', 'still here');
    await ws.next((m) => m.data === 'still here', 'an event after the fuzzing');
    ws.close();
  });

  test('random JSON messages get an answer or a close, never a crash', async () => {
    const random = mulberry32(2323);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const values = (): unknown => pick([null, true, 0, -1, 1e308, '', 'x'.repeat(300), '**', '$ssehub/stats', 'a/../b', [], ['a'], [1, 2], {}, { nested: { deep: [1] } }, '\u0000', '\ud800']);
    const types = ['auth', 'subscribe', 'unsubscribe', 'publish', 'event', 'ack', '', 42, undefined];
    const fields = ['topics', 'topic', 'data', 'event', 'ref', 'sub', 'lastEventId', 'rewind', 'presence', 'ephemeral', 'idempotencyKey', 'token', '__proto__'];
    let answered = 0;
    for (let connection = 0; connection < 10; connection++) {
      const ws = await connectWs(hub.url);
      for (let i = 0; i < 30 && ws.socket.readyState === WebSocket.OPEN; i++) {
        const message: Record<string, unknown> = { type: pick(types) };
        for (let f = 0; f < 4; f++) message[pick(fields)] = values();
        const before = ws.messages.length;
        ws.send(random() < 0.1 ? JSON.stringify(message).slice(0, Math.floor(random() * 20)) : JSON.stringify(message));
        await Promise.race([until(() => ws.messages.length > before, 'an answer'), ws.closed]);
        if (ws.messages.length > before) answered += 1;
      }
      ws.close();
    }
    assert.ok(answered > 100, `answered ${answered}`);
    assert.equal((await httpRequest(`${hub.url}/livez`)).status, 200);
  });
});
