import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HubError } from '../../src/errors.js';
import {
  DEFAULT_TOPIC_LIMITS,
  isReservedTopic,
  parseTopic,
  type TopicOptions,
} from '../../src/topics/index.js';

/** Asserts that parseTopic rejects `raw` with a 400 invalid_topic whose message matches `problem`. */
function rejects(raw: unknown, problem: RegExp, options?: TopicOptions): void {
  assert.throws(
    () => parseTopic(raw as string, options),
    (err: unknown) => {
      assert.ok(err instanceof HubError, 'expected a HubError');
      assert.equal(err.status, 400);
      assert.equal(err.code, 'invalid_topic');
      assert.match(err.message, problem);
      if (typeof raw === 'string' && raw.length > 0 && raw.length <= 80) {
        assert.ok(err.message.includes(JSON.stringify(raw)), `message should name the topic: ${err.message}`);
      }
      return true;
    },
  );
}

describe('DEFAULT_TOPIC_LIMITS', () => {
  it('is 256 characters and 16 segments', () => {
    assert.deepEqual({ ...DEFAULT_TOPIC_LIMITS }, { maxLength: 256, maxSegments: 16 });
  });
});

describe('parseTopic: valid topics', () => {
  const valid = [
    'a',
    'orders',
    'orders/42',
    'orders/42/items',
    'A-Z_a.z~0:9@x+y=z,w',
    '-',
    '...',
    '~/~',
    'user@example.com/inbox',
    'k=v,k2=v2/+1',
    'urn:isbn:0451450523',
    'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p', // exactly 16 segments
    'x'.repeat(256), // exactly 256 characters
  ];
  for (const topic of valid) {
    it(`accepts ${JSON.stringify(topic.length > 40 ? `${topic.slice(0, 40)}…` : topic)}`, () => {
      assert.equal(parseTopic(topic), topic);
    });
  }

  it('accepts a topic of exactly 256 characters spread over segments', () => {
    const topic = `${'a'.repeat(127)}/${'b'.repeat(128)}`;
    assert.equal(topic.length, 256);
    assert.equal(parseTopic(topic), topic);
  });
});

describe('parseTopic: invalid topics', () => {
  it('rejects non-strings', () => {
    rejects(42, /expected a string, got number/);
    rejects(null, /expected a string, got null/);
    rejects(undefined, /expected a string, got undefined/);
    rejects(['a'], /expected a string, got an array/);
  });

  it('rejects the empty topic', () => {
    rejects('', /invalid topic "": it is empty/);
  });

  it('rejects empty segments: leading, trailing and double slashes', () => {
    rejects('/', /starts with "\/"/);
    rejects('/orders', /starts with "\/"/);
    rejects('orders/', /ends with "\/"/);
    rejects('orders//1', /empty segment \("\/\/"\) at index 6/);
    rejects('a///b', /empty segment/);
    rejects('//', /starts with "\/"/);
  });

  it('rejects characters outside the allowed set and names the character and its index', () => {
    rejects('orders 1', /character U\+0020 at index 6 is not allowed/);
    rejects('orders/é', /character "é" \(U\+00E9\) at index 7 is not allowed/);
    rejects('a#b', /character "#" \(U\+0023\) at index 1/);
    rejects('a?b', /"\?"/);
    rejects('a%20b', /"%"/);
    rejects('a\\b', /U\+005C/);
    rejects('a\nb', /U\+000A at index 1/);
    rejects('a\u0000b', /U\+0000/);
    rejects('a\u{1F600}b', /U\+1F600 at index 1|"😀" \(U\+1F600\) at index 1/);
    rejects('tab\there', /U\+0009/);
    for (const ch of ['!', '"', '&', "'", '(', ')', ';', '<', '>', '[', ']', '^', '`', '{', '|', '}']) {
      rejects(`a${ch}b`, /is not allowed; segments may contain only A-Z a-z 0-9 - _ \. ~ : @ \+ = ,/);
    }
  });

  it('rejects wildcards, which belong to selectors only', () => {
    rejects('orders/*', /wildcards .* only allowed in selectors/);
    rejects('orders/**', /wildcards .* only allowed in selectors/);
    rejects('ord*', /wildcards .* only allowed in selectors/);
  });

  it('rejects "$" anywhere but as the first character', () => {
    rejects('a$b', /"\$" is only allowed as the first character.*index 1/);
    rejects('orders/$1', /"\$" is only allowed as the first character.*index 7/);
    rejects('$$x', /"\$" is only allowed as the first character.*index 1/, { allowReserved: true });
    rejects('$a/$b', /"\$" is only allowed as the first character.*index 3/, { allowReserved: true });
  });

  it('rejects a bare "$" first segment', () => {
    rejects('$', /must be followed by a name/, { allowReserved: true });
    rejects('$/stats', /must be followed by a name/, { allowReserved: true });
  });

  it('enforces the default length limit of 256 characters', () => {
    const tooLong = 'x'.repeat(257);
    rejects(tooLong, /it is 257 characters long; the maximum length is 256/);
  });

  it('truncates very long topics in the message', () => {
    const tooLong = 'y'.repeat(300);
    assert.throws(
      () => parseTopic(tooLong),
      (err: unknown) => err instanceof HubError && err.message.includes(`"${'y'.repeat(80)}…"`) && err.message.length < 200,
    );
  });

  it('enforces the default limit of 16 segments', () => {
    rejects('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q', /it has 17 segments; the maximum is 16/);
  });

  it('applies custom limits', () => {
    const limits = { maxLength: 10, maxSegments: 3 };
    assert.equal(parseTopic('abc/def/gh', { limits }), 'abc/def/gh');
    rejects('abc/def/ghi', /11 characters long; the maximum length is 10/, { limits });
    rejects('a/b/c/d', /it has 4 segments; the maximum is 3/, { limits });
    // a limit larger than the default is honoured too
    const big = 'z'.repeat(300);
    assert.equal(parseTopic(big, { limits: { maxLength: 1000, maxSegments: 16 } }), big);
    const deep = Array.from({ length: 20 }, () => 's').join('/');
    assert.equal(parseTopic(deep, { limits: { maxLength: 256, maxSegments: 20 } }), deep);
  });
});

describe('parseTopic: reserved "$" topics', () => {
  it('refuses reserved topics by default', () => {
    rejects('$ssehub/stats', /reserved for the hub's system topics/);
    rejects('$ssehub', /reserved/);
    rejects('$x/y', /reserved/, { allowReserved: false });
  });

  it('accepts reserved topics with allowReserved', () => {
    assert.equal(parseTopic('$ssehub/stats', { allowReserved: true }), '$ssehub/stats');
    assert.equal(parseTopic('$ssehub', { allowReserved: true }), '$ssehub');
    assert.equal(parseTopic('$a-b/c', { allowReserved: true }), '$a-b/c');
  });

  it('still checks the syntax of reserved topics', () => {
    rejects('$ssehub//stats', /empty segment/, { allowReserved: true });
    rejects('$ssehub/*', /wildcards/, { allowReserved: true });
  });

  it('isReservedTopic looks at the first character only', () => {
    assert.equal(isReservedTopic('$ssehub/stats'), true);
    assert.equal(isReservedTopic('ssehub/$stats'), false);
    assert.equal(isReservedTopic('orders'), false);
    assert.equal(isReservedTopic(''), false);
  });
});

describe('dot segments', () => {
  for (const raw of ['.', '..', 'a/./b', 'a/../b', 'a/..', './a']) {
    it(`"${raw}" is refused: a URL path would resolve it elsewhere`, () => {
      assert.throws(() => parseTopic(raw), (error: HubError) => error.code === 'invalid_topic' && /relative path/.test(error.message));
    });
  }
  it('dots inside a segment are fine', () => {
    assert.equal(parseTopic('v1.2/a..b/.hidden'), 'v1.2/a..b/.hidden');
  });
});
