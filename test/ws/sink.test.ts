/** The WebSocket sink: the hub's joined messages leave one frame each, tagged with the subscription, and the last id is kept for a resume. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeWsEvent } from '../../src/protocol/index.js';
import { WebSocketSink, type SinkSocket } from '../../src/ws/sink.js';

function socket(): SinkSocket & { frames: string[]; ended: Array<string | undefined> } {
  const frames: string[] = [];
  const ended: Array<string | undefined> = [];
  return { frames, ended, sendFrame: (frame) => void frames.push(Buffer.from(frame).toString()), bufferedAmount: 0, drained: async () => {}, subscriptionEnded: (_sink, reason) => void ended.push(reason) };
}

test('a chunk of several messages becomes one frame per message, each naming the subscription; the last id is kept', () => {
  const out = socket();
  const sink = new WebSocketSink(out, 'room "1"', ['chat/1']);
  const chunk = Buffer.from(encodeWsEvent({ id: '1-0', topic: 'chat/1', data: 'a\nb' }) + encodeWsEvent({ topic: 'chat/1', data: 'typing', ephemeral: true }) + encodeWsEvent({ id: '2-5', event: 'ssehub.position', data: '' }));
  assert.equal(sink.write(chunk), true);
  assert.deepEqual(out.frames.map((frame) => JSON.parse(frame)), [
    { sub: 'room "1"', type: 'event', id: '1-0', topic: 'chat/1', data: 'a\nb' },
    { sub: 'room "1"', type: 'event', topic: 'chat/1', data: 'typing', ephemeral: true },
    { sub: 'room "1"', type: 'event', id: '2-5', event: 'ssehub.position', data: '' },
  ]);
  assert.equal(sink.lastId, '2-5', 'an ephemeral event moves nothing; a position does');
});

test('the hub ending the subscription tells the connection why; closing tells the subscriber once', () => {
  const out = socket();
  const sink = new WebSocketSink(out, '1', ['a']);
  let closed = 0;
  sink.attach({ sinkDrained() {}, sinkClosed: () => void (closed += 1), endReason: 'token-expired' });
  sink.end();
  sink.destroy();
  assert.deepEqual(out.ended, ['token-expired', 'token-expired']);
  sink.close();
  sink.close();
  assert.equal(closed, 1);
  sink.write(Buffer.from(encodeWsEvent({ id: '3', data: 'late' })));
  assert.equal(out.frames.length, 0, 'nothing is sent once closed');
});
