import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HubError } from '../../src/errors.js';
import { TopicRetention } from '../../src/topics/index.js';

const HOUR = 3_600_000;
const defaults = { historyMaxEvents: 1000, historyMaxAgeMs: HOUR };

describe('retention per topic', () => {
  test('the first matching rule wins; a topic no rule matches keeps the defaults', () => {
    const retention = new TopicRetention({
      ...defaults,
      retention: [
        { pattern: 'chat/vip/*', maxEvents: 5000 },
        { pattern: 'chat/**', maxEvents: 500, maxAgeMs: 24 * HOUR },
        { pattern: 'chat/lobby', maxEvents: 1 },
        { pattern: 'ai/*', maxAgeMs: 600_000 },
      ],
    });
    assert.deepEqual(retention.limitsOf('chat/vip/1'), { maxEvents: 5000, maxAgeMs: HOUR }, 'the age left out is the default');
    assert.deepEqual(retention.limitsOf('chat/lobby'), { maxEvents: 500, maxAgeMs: 24 * HOUR }, 'chat/** comes first');
    assert.deepEqual(retention.limitsOf('chat/a/b/c'), { maxEvents: 500, maxAgeMs: 24 * HOUR });
    assert.deepEqual(retention.limitsOf('ai/42'), { maxEvents: 1000, maxAgeMs: 600_000 }, 'the count left out is the default');
    assert.deepEqual(retention.limitsOf('ai/42/x'), { maxEvents: 1000, maxAgeMs: HOUR }, '* takes one segment');
    assert.deepEqual(retention.limitsOf('chat'), { maxEvents: 1000, maxAgeMs: HOUR });
    assert.equal(retention.limitsOf('chat/a'), retention.limitsOf('chat/b'), 'one object per rule: a retention class');
    assert.equal(retention.limitsOf('chat/a'), retention.limitsOf('chat/a'), 'the same answer the second time (from the cache)');
  });

  test('the hub\'s presence and control topics keep nothing, its webhook queue the defaults, and operator patterns do not reach $ topics', () => {
    const retention = new TopicRetention({ ...defaults, retention: [{ pattern: '**', maxEvents: 3 }, { pattern: '*/*', maxEvents: 4 }] });
    assert.equal(retention.limitsOf('$ssehub/presence/i1').maxEvents, 0);
    assert.equal(retention.limitsOf('$ssehub/control/i1').maxEvents, 0);
    assert.deepEqual(retention.limitsOf('$ssehub/webhooks/i1'), { maxEvents: 1000, maxAgeMs: HOUR });
    assert.equal(retention.limitsOf('anything/at/all').maxEvents, 3);
    const none = new TopicRetention(defaults);
    assert.equal(none.limitsOf('$ssehub/presence/i1').maxEvents, 0, 'without operator rules too');
    assert.equal(none.limitsOf('chat/1'), none.defaults);
  });

  test('classes, the largest limits and the shortest age that keeps events', () => {
    const retention = new TopicRetention({
      ...defaults,
      retention: [
        { pattern: 'a/*', maxEvents: 5000, maxAgeMs: 60_000 },
        { pattern: 'b/*', maxEvents: 10, maxAgeMs: 24 * HOUR },
        { pattern: 'c/*', maxEvents: 0, maxAgeMs: 1000 },
        { pattern: 'd/*', maxEvents: 10, maxAgeMs: 24 * HOUR },
      ],
    });
    assert.deepEqual(retention.largest, { maxEvents: 5000, maxAgeMs: 24 * HOUR });
    assert.equal(retention.shortestAgeMs, 60_000, 'c/* keeps no events: its age never evicts anything');
    assert.equal(retention.limitsOf('b/1'), retention.limitsOf('d/1'), 'rules with the same limits share a class');
    assert.equal(retention.classes[0], retention.defaults);
  });

  test('answers stay right past the cache\'s size', () => {
    const retention = new TopicRetention({ ...defaults, retention: [{ pattern: 'even/*', maxEvents: 2 }] });
    for (let i = 0; i < 25_000; i++) {
      assert.equal(retention.limitsOf(`${i % 2 === 0 ? 'even' : 'odd'}/${i}`).maxEvents, i % 2 === 0 ? 2 : 1000);
    }
  });

  const invalid: Array<[unknown, RegExp]> = [
    [{ pattern: 'chat/ x', maxEvents: 1 }, /retention rule for "chat\/ x": the pattern is not a topic or pattern/],
    [{ pattern: '$ssehub/presence/*', maxEvents: 5 }, /retention rule for "\$ssehub\/presence\/\*": the pattern is not a topic or pattern/],
    [{ pattern: 'chat/*', maxEvents: -1 }, /maxEvents must be a whole number of at least 0, not -1/],
    [{ pattern: 'chat/*', maxEvents: 1.5 }, /maxEvents must be a whole number/],
    [{ pattern: 'chat/*', maxAgeMs: '1h' }, /maxAgeMs must be a whole number of at least 0, not 1h/],
    [{ pattern: 'chat/*', maxAgeMs: 0 }, /the age must be above 0/],
    [{ maxEvents: 1 }, /needs a pattern/],
  ];
  for (const [rule, message] of invalid) {
    test(`refuses the rule ${JSON.stringify(rule)} with a clear invalid_config`, () => {
      assert.throws(
        () => new TopicRetention({ ...defaults, retention: [rule as never] }),
        (error: unknown) => error instanceof HubError && error.status === 400 && error.code === 'invalid_config' && message.test(error.message),
      );
    });
  }
});
