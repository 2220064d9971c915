/** What a WebSocket client may send: every malformed message is a HubError with a stable code. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHubError } from '../../src/errors.js';
import { parseClientMessage, refOf } from '../../src/ws/messages.js';

const codeOf = (text: string): string => {
  try {
    parseClientMessage(text);
  } catch (error) {
    assert.ok(isHubError(error), String(error));
    return error.code;
  }
  return 'accepted';
};

test('well-formed messages of each type are accepted as they are', () => {
  assert.deepEqual(parseClientMessage('{"type":"subscribe","topics":["a","b/*"],"lastEventId":"5","rewind":3,"presence":true,"ref":"r"}'), {
    type: 'subscribe',
    topics: ['a', 'b/*'],
    lastEventId: '5',
    rewind: 3,
    presence: true,
    ref: 'r',
  });
  assert.equal(codeOf('{"type":"publish","topic":"a","data":{"n":1},"ephemeral":false}'), 'accepted');
  assert.equal(codeOf('{"type":"unsubscribe","sub":"1"}'), 'accepted');
  assert.equal(codeOf('{"type":"auth"}'), 'accepted');
});

test('malformed ones get their code', () => {
  const cases: Array<[string, string]> = [
    ['{', 'invalid_json'],
    ['[]', 'invalid_message'],
    ['null', 'invalid_message'],
    ['{"type":"yell"}', 'unknown_type'],
    ['{}', 'unknown_type'],
    ['{"type":"subscribe"}', 'invalid_topic'],
    ['{"type":"subscribe","topics":[]}', 'invalid_topic'],
    ['{"type":"subscribe","topics":[1]}', 'invalid_topic'],
    ['{"type":"subscribe","topics":["a"],"rewind":-1}', 'invalid_rewind'],
    ['{"type":"subscribe","topics":["a"],"rewind":1.5}', 'invalid_rewind'],
    ['{"type":"subscribe","topics":["a"],"presence":"yes"}', 'invalid_message'],
    ['{"type":"unsubscribe"}', 'invalid_topic'],
    ['{"type":"publish","data":"x"}', 'invalid_topic'],
    ['{"type":"publish","topic":"a"}', 'invalid_message'],
    ['{"type":"publish","topic":"a","data":"x","event":7}', 'invalid_event_name'],
    ['{"type":"auth","token":42}', 'invalid_message'],
    [`{"type":"auth","ref":"${'r'.repeat(65)}"}`, 'invalid_message'],
  ];
  for (const [text, code] of cases) assert.equal(codeOf(text), code, text);
});

test('a refused message is still answered with its ref when it has a usable one', () => {
  assert.equal(refOf({ ref: 'abc' }), 'abc');
  assert.equal(refOf({ ref: 7 }), undefined);
  assert.equal(refOf({ ref: 'r'.repeat(65) }), undefined);
  assert.equal(refOf('text'), undefined);
});
