/** The hub's wire formats: the same event, id and control events on SSE and on WebSocket JSON lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlFrames, controlFrame, eventFrame } from '../../src/hub/wire-format.js';

const event = { id: '9-1', topic: 'orders/1', event: 'paid', data: '{"total":3}', time: 0 };
const text = (frame: Uint8Array): string => Buffer.from(frame).toString();

test('an event in each format: SSE fields, or one JSON line with its topic', () => {
  assert.equal(text(eventFrame('sse', event)), 'id: 9-1\nevent: paid\ndata: {"total":3}\n\n');
  assert.deepEqual(JSON.parse(text(eventFrame('json', event))), { type: 'event', id: '9-1', topic: 'orders/1', event: 'paid', data: '{"total":3}' });
  assert.equal(text(eventFrame('sse', { ...event, event: undefined })), 'id: 9-1\ndata: {"total":3}\n\n');
});

test('an ephemeral event goes without its id, under the topic it was published to', () => {
  assert.equal(text(eventFrame('sse', { ...event, topic: '$ssehub/ephemeral/orders/1' }, 'orders/1', true)), 'event: paid\ndata: {"total":3}\n\n');
  assert.deepEqual(JSON.parse(text(eventFrame('json', event, 'orders/1', true))), { type: 'event', topic: 'orders/1', event: 'paid', data: '{"total":3}', ephemeral: true });
});

test('control events: the same name, data and id in both formats, encoded once per format', () => {
  const position = { id: '10-0', event: 'ssehub.position', data: '' };
  assert.equal(text(controlFrame('sse', position)), 'id: 10-0\nevent: ssehub.position\ndata: \n\n');
  assert.deepEqual(JSON.parse(text(controlFrame('json', position))), { type: 'event', ...position });
  const frames = new ControlFrames({ event: 'ssehub.revoked', data: '{"reason":"revoked"}' });
  assert.equal(frames.for('json'), frames.for('json'), 'the same bytes for every stream of a format');
  assert.notEqual(text(frames.for('sse')), text(frames.for('json')));
});
