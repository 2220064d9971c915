/** The ssehub.v1 event encoding: one JSON object per line, the id right after the type, any text safe. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeWsEvent, WS_EVENT_ID_PREFIX, WS_EVENT_PREFIX } from '../../src/protocol/index.js';

test('an event is one line of JSON that reads back as what was encoded, whatever its data', () => {
  for (const data of ['', 'plain', 'line\nbreak\r\nand "quotes" \\ and \u2028', '{"json":[1,2]}', '\u0000']) {
    const line = encodeWsEvent({ id: '17-3', topic: 'a/b', event: 'chat', data });
    assert.equal(line.indexOf('\n'), line.length - 1, 'one line, newline-terminated');
    assert.deepEqual(JSON.parse(line), { type: 'event', id: '17-3', topic: 'a/b', event: 'chat', data });
    assert.ok(line.startsWith(`${WS_EVENT_ID_PREFIX}17-3"`), 'the id first after the type');
  }
});

test('without an id, topic or name the fields are left out; ephemeral events say so', () => {
  const line = encodeWsEvent({ data: 'x', ephemeral: true });
  assert.ok(line.startsWith(WS_EVENT_PREFIX) && !line.startsWith(WS_EVENT_ID_PREFIX));
  assert.deepEqual(JSON.parse(line), { type: 'event', data: 'x', ephemeral: true });
});
