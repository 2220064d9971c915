import { test, describe } from 'node:test';
import assert from 'node:assert/strict';

import {
  SseFieldError,
  checkFieldValue,
  encodeComment,
  encodeEvent,
  encodeIdOnly,
  encodeRetry,
} from '../../src/protocol/encode.js';
import * as api from '../../src/protocol/index.js';

function throwsFieldError(fn: () => unknown, field: 'id' | 'event'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SseFieldError, 'expected an SseFieldError');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'SseFieldError');
    assert.equal(err.field, field);
    assert.ok(err.message.length > 0);
    return true;
  });
}

describe('encodeEvent', () => {
  test('data only', () => {
    assert.equal(encodeEvent({ data: 'hello' }), 'data: hello\n\n');
  });

  test('id, event and data, in that order', () => {
    assert.equal(
      encodeEvent({ data: 'hello', event: 'update', id: '42' }),
      'id: 42\nevent: update\ndata: hello\n\n',
    );
    assert.equal(encodeEvent({ id: '1', data: 'x' }), 'id: 1\ndata: x\n\n');
    assert.equal(encodeEvent({ event: 'ping', data: 'x' }), 'event: ping\ndata: x\n\n');
  });

  test('an empty id is written (it clears the last event ID)', () => {
    assert.equal(encodeEvent({ id: '', data: 'x' }), 'id: \ndata: x\n\n');
  });

  test('empty data is one data line with an empty value', () => {
    assert.equal(encodeEvent({ data: '' }), 'data: \n\n');
  });

  test('data is split on LF, CR and CRLF', () => {
    assert.equal(encodeEvent({ data: 'a\nb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\rb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\r\nb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\nb\rc\r\nd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  test('LF CR is two line breaks, CRLF is one', () => {
    assert.equal(encodeEvent({ data: 'a\n\rb' }), 'data: a\ndata: \ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\r\n\r\nb' }), 'data: a\ndata: \ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\r\rb' }), 'data: a\ndata: \ndata: b\n\n');
  });

  test('leading and trailing line breaks give empty data lines', () => {
    assert.equal(encodeEvent({ data: '\n' }), 'data: \ndata: \n\n');
    assert.equal(encodeEvent({ data: 'x\r' }), 'data: x\ndata: \n\n');
    assert.equal(encodeEvent({ data: '\r\nx' }), 'data: \ndata: x\n\n');
  });

  test('other characters in data are kept verbatim', () => {
    assert.equal(encodeEvent({ data: ' x' }), 'data:  x\n\n');
    assert.equal(encodeEvent({ data: 'a: b' }), 'data: a: b\n\n');
    assert.equal(encodeEvent({ data: 'nul\0tab\t€😀' }), 'data: nul\0tab\t€😀\n\n');
    assert.equal(encodeEvent({ data: '{"a":[1,2]}' }), 'data: {"a":[1,2]}\n\n');
  });

  test('refuses an id containing CR, LF or NUL', () => {
    for (const id of ['\r', '\n', '\0', 'a\rb', '1\n\ndata: forged', 'x\r\n', 'nul\0']) {
      throwsFieldError(() => encodeEvent({ id, data: 'x' }), 'id');
    }
  });

  test('refuses an event containing CR, LF or NUL, or empty', () => {
    for (const event of ['\r', '\n', '\0', 'a\rb', 'x\n\ndata: forged', 'x\r\n', '']) {
      throwsFieldError(() => encodeEvent({ event, data: 'x' }), 'event');
    }
  });

  test('unicode id and event are fine', () => {
    assert.equal(
      encodeEvent({ id: 'é€😀', event: 'über', data: 'x' }),
      'id: é€😀\nevent: über\ndata: x\n\n',
    );
  });
});

describe('checkFieldValue', () => {
  test('accepts ordinary values', () => {
    assert.equal(checkFieldValue('id', '123'), null);
    assert.equal(checkFieldValue('id', ''), null);
    assert.equal(checkFieldValue('id', ' spaced: value '), null);
    assert.equal(checkFieldValue('event', 'user.created'), null);
    assert.equal(checkFieldValue('event', '€😀'), null);
  });

  test('returns a message for CR, LF, NUL', () => {
    for (const field of ['id', 'event'] as const) {
      for (const value of ['a\rb', 'a\nb', 'a\0b', '\r\n']) {
        const msg = checkFieldValue(field, value);
        assert.equal(typeof msg, 'string', `${field} ${JSON.stringify(value)}`);
        assert.ok((msg as string).includes(field));
      }
    }
  });

  test('an empty event is refused, an empty id is not', () => {
    assert.equal(typeof checkFieldValue('event', ''), 'string');
    assert.equal(checkFieldValue('id', ''), null);
  });
});

describe('encodeComment', () => {
  test('formats', () => {
    assert.equal(encodeComment(''), ':\n\n');
    assert.equal(encodeComment('hi'), ': hi\n\n');
    assert.equal(encodeComment(' x'), ':  x\n\n');
    assert.equal(encodeComment('a: b'), ': a: b\n\n');
  });

  test('splits on LF, CR and CRLF, empty lines as bare colons', () => {
    assert.equal(encodeComment('a\nb'), ': a\n: b\n\n');
    assert.equal(encodeComment('a\rb'), ': a\n: b\n\n');
    assert.equal(encodeComment('a\r\nb'), ': a\n: b\n\n');
    assert.equal(encodeComment('a\r\n\r\nb'), ': a\n:\n: b\n\n');
    assert.equal(encodeComment('\n'), ':\n:\n\n');
  });
});

describe('encodeRetry', () => {
  test('formats', () => {
    assert.equal(encodeRetry(0), 'retry: 0\n\n');
    assert.equal(encodeRetry(3000), 'retry: 3000\n\n');
    assert.equal(encodeRetry(Number.MAX_SAFE_INTEGER), 'retry: 9007199254740991\n\n');
  });

  test('refuses anything but a non-negative safe integer', () => {
    for (const ms of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -0.5]) {
      assert.throws(() => encodeRetry(ms), RangeError, String(ms));
    }
  });
});

describe('encodeIdOnly', () => {
  test('formats', () => {
    assert.equal(encodeIdOnly('7'), 'id: 7\n\n');
    assert.equal(encodeIdOnly(''), 'id: \n\n');
  });

  test('refuses CR, LF, NUL', () => {
    for (const id of ['\r', '\n', '\0', '1\n\ndata: forged']) {
      throwsFieldError(() => encodeIdOnly(id), 'id');
    }
  });
});

test('index re-exports the public API', () => {
  assert.equal(api.encodeEvent, encodeEvent);
  assert.equal(api.encodeComment, encodeComment);
  assert.equal(api.encodeRetry, encodeRetry);
  assert.equal(api.encodeIdOnly, encodeIdOnly);
  assert.equal(api.checkFieldValue, checkFieldValue);
  assert.equal(api.SseFieldError, SseFieldError);
  assert.equal(typeof api.EventStreamParser, 'function');
});
